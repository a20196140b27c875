// The name layer: which backing name stands for a plaintext name in a
// directory, and back (docs/FORMAT.md §12 has the scheme, docs/ARCHITECTURE.md
// "Names" the rules).
//
// An account with name_encryption (and encryption enabled) gets encrypted
// backing names for every new entry; every account reads all forms, so that
// mixed directories (names from before the setting, or from older key
// versions) keep working:
//
//   lookup of N in D: the current version's encryption of N (when the
//   account encrypts and D has a directory IV), then N as it is (unless N is
//   reserved), then N under every other key version of the account, newest
//   first (only when D has a directory IV).
//
// A name keeps the backing form it was created with until it is renamed to a
// name that does not exist yet, which writes it in the account's current
// form (encrypted under the current version, or plain when the account no
// longer encrypts).
//
// Thread safety: all members may be called concurrently. Lock order: Inode::m
// and NameLayer::mutex_ are never held together.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "recvault/format/names.hpp"
#include "recvault/fuse/inode.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/util/mutex.hpp"

namespace recvault::fuse {

class NameLayer {
 public:
  explicit NameLayer(keystore::KeyCache& keys) : keys_(keys) {}
  NameLayer(const NameLayer&) = delete;
  NameLayer& operator=(const NameLayer&) = delete;

  // Runs `op` on each backing name `name` may have in directory `dir` (an
  // account directory or below), in the order above, until `op` returns
  // something other than ENOENT; returns that (ENOENT when none exists).
  // Costs one `op` per form tried: one for a name found in its first form.
  int with_existing(Inode& dir, std::string_view name, const std::function<int(const std::string& backing)>& op);
  // The backing name of an existing entry (0), or an errno (ENOENT).
  int find(Inode& dir, std::string_view name, std::string& backing);
  // The backing name a new entry `name` takes in `dir`: 0, or EEXIST when
  // `name` exists in any form, ENAMETOOLONG past format::kMaxEncryptedName
  // when encrypting, EINVAL for a reserved name stored plain (the directory
  // IV file, or a name of the encrypted form). Creates the directory's IV
  // file when the first encrypted name goes into it.
  int new_name(Inode& dir, std::string_view name, std::string& backing);

  // What the mount shows for backing entry `backing` of a directory of
  // `account` whose IV file holds `iv` (read lazily through `load_iv`);
  // nullopt hides it: the IV file, or an encrypted name that does not
  // authenticate (logged, naming `where`).
  std::optional<std::string> shown_name(const std::string& account, std::optional<format::DirIv>& iv,
                                        const std::function<Result<std::optional<format::DirIv>>()>& load_iv,
                                        std::string_view backing, const std::string& where);

  // A symlink target as stored for an account (encrypted when it encrypts
  // names); EINVAL for a plaintext target of the encrypted form,
  // ENAMETOOLONG past format::kMaxEncryptedTarget. 0 or an errno.
  int stored_target(const std::string& account, std::string_view target, std::string& out);
  // The target the mount shows for a stored one; Errc::tampered (EIO) when an
  // encrypted target does not authenticate.
  Result<std::string> shown_target(const std::string& account, std::string_view stored);

  // The directory IV of `dir`: cached in the Inode once read; nullopt when
  // the directory has none (not cached: another host may create one).
  Result<std::optional<format::DirIv>> dir_iv(Inode& dir);
  // Removes the empty directory `backing` of `parent_fd`: a directory that
  // holds only its IV file counts as empty (the file goes first, and comes
  // back if the directory cannot go). 0 or an errno (ENOTEMPTY, ...).
  static int remove_directory(int parent_fd, const std::string& backing);
  // Runs `op` (an rmdir of, or a rename over, directory `backing` of
  // `parent_fd`); when it fails with ENOTEMPTY and the directory holds only
  // its IV file, removes that file and runs `op` again (restoring the file
  // if `op` still fails). Returns `op`'s errno.
  static int without_dir_iv(int parent_fd, const std::string& backing, const std::function<int()>& op);

 private:
  // What the account encrypts with, and the salts of its versions.
  struct AccountKeys {
    bool encrypt = false;
    std::uint32_t current = 0;
    std::map<std::uint32_t, std::string> salts;
  };
  AccountKeys account_keys(const std::string& account);
  Result<std::shared_ptr<const format::NameKey>> name_key(const std::string& account, std::uint32_t version,
                                                          const std::string& salt);
  // The IV of `dir`, created (durably, once for every host) if it has none.
  Result<format::DirIv> ensure_dir_iv(Inode& dir);
  // Every encrypted form of `name` in a directory with `iv`, current first.
  std::vector<std::string> encrypted_forms(const std::string& account, const AccountKeys& keys, const format::DirIv& iv,
                                           std::string_view name, bool current_only, bool skip_current);

  keystore::KeyCache& keys_;
  Mutex mutex_;
  std::map<std::pair<std::string, std::uint32_t>, std::shared_ptr<const format::NameKey>> name_keys_
      RV_GUARDED_BY(mutex_);
};

}  // namespace recvault::fuse
