// recvault-fsck: offline integrity check of backing files, and sealing of
// recordings left unterminated by a crash (kill -9, power loss).
//
// Works on the backing directory only (never through a mount) and needs the
// keystore to authenticate encrypted files. It must not run --seal while a
// recvaultd serves the same backing dir: the daemon keeps the tails of open
// files in memory and would overwrite what fsck wrote (see in_use()). On
// shared storage ([storage] shared = true) the daemons' writers lock their
// recordings and fsck honours the locks: a file whose lock is held is
// reported as `writing` and neither checked nor sealed; --seal holds the lock
// itself while it seals.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "recvault/format/keys.hpp"
#include "recvault/format/names.hpp"
#include "recvault/util/result.hpp"

namespace recvault::fsck {

enum class Status {
  sealed,        // closed cleanly, every chunk authenticates
  plain,         // stored unencrypted (encryption was disabled), or empty
  openpgp,       // sealed to a client's OpenPGP key: only its private key can check it
  unterminated,  // writer died: readable up to its last complete chunk
  torn_tail,     // unterminated, and the last record was half-written (dropped on seal)
  writing,       // a live writer holds its lock (shared storage: another host's recvaultd): not touched
  tampered,      // header, chunk or xattrs fail authentication / disagree
  truncated,     // a sealed file lost chunks at its end
  wrong_key,     // the keystore's key for that version does not open it
  no_key,        // the keystore has no key for the file's version / salt
  unsupported,   // a format version or algorithm this build does not know
  error,         // could not be read at all
};
const char* status_name(Status s) noexcept;
// Whether a status means data is damaged or cannot be authenticated.
bool is_damage(Status s) noexcept;

struct FileReport {
  std::filesystem::path path;  // relative to the scanned directory
  std::string account;
  Status status = Status::error;
  std::uint64_t plaintext_size = 0;
  std::uint64_t chunks = 0;
  std::uint64_t holes = 0;  // runs of hole chunks (format version 2), each authenticated by its marker
  bool sealed_now = false;  // --seal sealed it in this run
  std::string detail;       // the reason, for damaged files (no key material)
  // The path as the mount shows it: `path` with encrypted names decrypted
  // (docs/FORMAT.md §12); equal to `path` when no name is encrypted.
  std::filesystem::path shown_path;
};

// Resolves keys for files of `account`.
using ResolverFor = std::function<format::KeyResolver(const std::string& account)>;
// The name key of `account`'s key `version`, for encrypted names.
using NameKeyFor =
    std::function<Result<std::shared_ptr<const format::NameKey>>(const std::string& account, std::uint32_t version)>;

struct Options {
  bool seal = false;  // seal unterminated and torn files
  // Decrypts encrypted names; unset: they are reported as they are stored.
  NameKeyFor name_key;
};

// Checks (and with options.seal, seals) one backing file.
FileReport check_file(const std::filesystem::path& file, const std::string& account, const format::KeyResolver& resolve,
                      const Options& options);

// Walks `dir`: when `account` is empty, `dir` is a whole backing dir whose
// subdirectories are accounts; otherwise `dir` is that account's directory.
// Symlinks are not followed. Files are reported in path order.
Result<std::vector<FileReport>> check_tree(const std::filesystem::path& dir, const std::string& account,
                                           const ResolverFor& resolver_for, const Options& options);

// Processes (other than this one) holding an fd inside `dir`, or a recvaultd
// holding `dir` or one of its ancestors (its backing root). Empty when free.
std::vector<pid_t> in_use(const std::filesystem::path& dir);

}  // namespace recvault::fsck
