// The keystore: account configurations, every key version ever created, and
// client public keys, in one of two engines: an LMDB environment on this host
// (the default) or an etcd cluster shared by many hosts (docs/CLUSTER.md).
// The rules and the record formats are the same on both; only where the
// records live differs.
//
// Layout and guarantees (docs/KEYSTORE.md):
//   - Every update runs in ONE write transaction: read current state, apply the
//     rules (account_config.hpp), write, commit. A failure (validation, I/O,
//     MDB_MAP_FULL, crash) leaves the store exactly as before.
//   - Key text is stored base64-encoded and sealed under the MasterKey
//     (AES-256-GCM, AAD = account, version and field), so records cannot be
//     swapped between accounts or versions. Salts are stored in clear.
//   - No code path deletes a key version. A version's record changes once at
//     most after it is written: save_derived adds the derived key to it.
//
// Thread safety: a Store is safe to use from any number of threads (LMDB
// serialises writers; readers never block). Open a given directory at most
// once per process (an LMDB rule); other processes may open it too (e.g.
// `recvault-keystore backup` while the daemon runs).
//
// etcd: every update is one etcd transaction that compares the mod_revision of
// each record it read; a concurrent writer (another host) makes it fail, and
// the update is read again and re-applied (so two rotations give N+1 and N+2).
// Reads come from an in-memory mirror of the prefix (sealed records, as
// stored) that a watch keeps current; a change made elsewhere bumps
// generation() for its account. While etcd is unreachable reads keep
// answering from the mirror and updates fail with Errc::unavailable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recvault/keystore/account_config.hpp"
#include "recvault/keystore/master_key.hpp"
#include "recvault/keystore/public_key.hpp"
#include "recvault/util/result.hpp"

namespace recvault::keystore {

inline constexpr std::uint32_t kSchemaVersion = 1;

struct StoreOptions {
  std::size_t map_size = std::size_t{1} << 30;  // 1 GiB; the file grows sparsely
  bool read_only = false;
  Clock clock = system_now;
};

// Where an etcd-backed store lives and how to reach it.
struct EtcdOptions {
  std::vector<std::string> endpoints;  // "http://host:2379" or "https://host:2379"
  std::string prefix = "/recvault/";   // every record's key starts with it
  std::filesystem::path ca_file;       // TLS: CA bundle that signed the members' certificates
  std::filesystem::path cert_file;     // TLS client certificate (etcd --client-cert-auth)
  std::filesystem::path key_file;      // and its private key
  std::chrono::milliseconds dial_timeout{2000};
  std::chrono::milliseconds request_timeout{5000};
  bool watch = true;  // false for one-shot tools: no watch thread, the mirror is read once
};

// What GET /v1/status shows of the keystore.
struct StoreInfo {
  std::string engine;                  // "lmdb" or "etcd"
  std::filesystem::path path;          // lmdb
  std::vector<std::string> endpoints;  // etcd
  std::string prefix;                  // etcd
  bool healthy = true;                 // etcd: the watch is connected and current
};

// What check() found. ok() when problems is empty.
struct CheckReport {
  std::size_t accounts = 0;
  std::size_t key_versions = 0;
  std::size_t public_keys = 0;
  std::vector<std::string> problems;  // human-readable, no key material
  bool ok() const noexcept { return problems.empty(); }
};

class Store {
 public:
  // Opens (creating if absent, unless read_only) the environment in directory
  // `dir` (data.mdb, lock.mdb). Errors, never a crash, for: a corrupt or
  // foreign data.mdb, a schema version this build does not know, a master key
  // that does not match the one the store was created with.
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& dir, MasterKey master,
                                             StoreOptions options = {});
  // Opens the store under `etcd.prefix`, creating its meta records if absent.
  // Errc::unavailable when no endpoint answers within the timeouts;
  // Errc::wrong_key when the store was created with another master key.
  static Result<std::unique_ptr<Store>> open_etcd(const EtcdOptions& etcd, MasterKey master, StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // nullopt: the account was never configured (the API answers "config": {}).
  Result<std::optional<AccountConfig>> get_config(std::string_view account) const;

  // Reads the current config, applies `request`, writes, commits: one write
  // transaction. Returns the new config. Validation errors are
  // Errc::invalid_argument with a reason for a 400; storage failures are
  // Errc::io / Errc::internal (the API says "Failed to update encryption
  // configuration"). A public_key_id must name a key owned by this account.
  Result<AccountConfig> update_config(std::string_view account, const UpdateRequest& request);

  // One version (current or historical). Errc::key_unavailable if absent.
  Result<KeyVersion> get_version(std::string_view account, std::uint32_t version) const;

  // Keeps `derived`, the version key derived from the version's key and salt
  // with `kdf`, sealed in the version's record (records.hpp), so that no later
  // start, on this host or (etcd) any other, runs scrypt for it again. The
  // key, salt and activation time stay as they are; nothing is written when
  // the record already holds a derived key with these parameters.
  // Errc::key_unavailable when the version does not exist.
  Status save_derived(std::string_view account, std::uint32_t version, const crypto::SecretBytes& derived,
                      crypto::ScryptParams kdf);

  // Accounts with a config, sorted.
  Result<std::vector<std::string>> list_accounts() const;

  // Bumped after every committed change of the account's config, in this
  // process or (etcd) on another host; caches compare it to know they are stale.
  std::uint64_t generation(std::string_view account) const;

  // --- public keys -------------------------------------------------------
  // Generates the UUID. Errc::invalid_argument for an empty/oversized key.
  Result<PublicKeyRecord> add_public_key(std::string_view account, std::string_view armored,
                                         std::string_view fingerprint);
  // Errc::not_found when absent.
  Result<PublicKeyRecord> get_public_key(std::string_view public_key_id) const;
  Result<std::vector<PublicKeyRecord>> list_public_keys(std::string_view account) const;
  // Accounts whose config has public_key_id == this id.
  Result<std::vector<std::string>> accounts_using(std::string_view public_key_id) const;
  // Errc::not_found when absent; Errc::conflict (naming the accounts) when an
  // account still seals to it, unless `force`.
  Status delete_public_key(std::string_view public_key_id, bool force = false);

  // --- operations --------------------------------------------------------
  // A consistent, compacted copy of the live store (mdb_env_copyfd2 with
  // MDB_CP_COMPACT) written to the new file `dest` (refused if it exists),
  // fsynced, then renamed into place. Writers keep running meanwhile.
  // etcd: the records (sealed, as stored) are copied into an LMDB store first,
  // so the backup file is the same format and restores the same way.
  Status backup(const std::filesystem::path& dest) const;

  // Copies every record, sealed as stored, into `dest` (another engine or
  // prefix, same master key) in one update per account, then reads every key
  // version back from `dest` and compares it with this store's. Refused
  // (Errc::conflict) when `dest` already has an account or a public key.
  // Returns the number of key versions verified.
  Result<std::size_t> copy_into(Store& dest) const;

  StoreInfo info() const;
  bool read_only() const noexcept;

  // Verifies every record: schema, each account's versions 1..key_version all
  // present and decryptable, salts present, public keys well-formed.
  Result<CheckReport> check() const;

  // The LMDB directory; empty for etcd.
  const std::filesystem::path& path() const noexcept;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Restores a backup file made by Store::backup into directory `dest_dir`.
// Verifies that the backup opens with `master` first. Refuses (Errc::conflict)
// if dest_dir already holds a store, unless `force`; even with `force`, refuses
// if that store is open by any process. The replacement is atomic (rename).
Status restore_backup(const std::filesystem::path& backup_file, const std::filesystem::path& dest_dir,
                      const MasterKey& master, bool force = false);

}  // namespace recvault::keystore
