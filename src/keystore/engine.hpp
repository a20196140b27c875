// Where the keystore's records live (internal). The Store implements the
// rules once, on these tables; an Engine only stores records:
//   - LmdbEngine: one LMDB environment (one write transaction at a time).
//   - EtcdEngine: a prefix in an etcd cluster, read through an in-memory
//     mirror that a watch keeps current; writes are etcd transactions that
//     compare what was read (optimistic: commit() answers false on a race).
//
// Keys are the LMDB keys of records.hpp in every engine (an engine may store
// them differently: etcd spells version keys "<account>/<version>").
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "recvault/keystore/store.hpp"
#include "recvault/util/result.hpp"

namespace recvault::keystore::engine {

enum class Table { meta, accounts, versions, public_keys };
inline constexpr Table kTables[] = {Table::meta, Table::accounts, Table::versions, Table::public_keys};

using ScanFn = std::function<bool(std::string_view key, std::string_view value)>;

// A consistent view of every table. Short-lived: it may hold a lock.
class Reader {
 public:
  virtual ~Reader() = default;
  virtual Result<std::optional<std::string>> get(Table table, std::string_view key) const = 0;
  // fn(key, value) for every record whose key starts with `prefix`, in key
  // order, until fn returns false.
  virtual Status scan(Table table, std::string_view prefix, const ScanFn& fn) const = 0;
};

// Reads, then writes that take effect together at commit() or not at all.
class Writer : public Reader {
 public:
  // no_overwrite: the record must not exist (a key version is never replaced).
  virtual Status put(Table table, std::string_view key, std::string_view value, bool no_overwrite = false) = 0;
  // false when the record was absent.
  virtual Result<bool> del(Table table, std::string_view key) = 0;
  // true: committed. false: another writer changed a record this one read;
  // nothing was written and the caller starts over with a new Writer.
  virtual Result<bool> commit() = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual Result<std::unique_ptr<Reader>> read() const = 0;
  virtual Result<std::unique_ptr<Writer>> write() = 0;
  virtual bool read_only() const noexcept = 0;
  virtual StoreInfo info() const = 0;
  // A compacted copy of the store as one LMDB file (Store::backup). Engines
  // other than LMDB answer Errc::unsupported (the Store copies them into a
  // temporary LMDB store first).
  virtual Status backup(const std::filesystem::path& dest) const = 0;
  // Starts reporting accounts whose records changed: once per committed
  // change, whether this process or (etcd) another host made it, before the
  // Writer's commit() returns for changes of its own. Called once, after the
  // store is open.
  virtual void start_watch(std::function<void(std::string_view account)> changed) = 0;
};

// Opens or creates the LMDB environment in `dir`.
Result<std::unique_ptr<Engine>> open_lmdb(const std::filesystem::path& dir, const StoreOptions& options);
// Connects and reads the whole prefix into the mirror.
Result<std::unique_ptr<Engine>> open_etcd(const EtcdOptions& options, bool read_only);

}  // namespace recvault::keystore::engine
