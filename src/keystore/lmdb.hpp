// RAII over the LMDB C API (internal to the keystore).
//
// Env owns an MDB_env; ReadTxn / WriteTxn own an MDB_txn and abort it in their
// destructor unless committed. Both are move-only. commit() clears the handle
// before mdb_txn_commit, which frees the txn even when it fails. "Not found" is
// a value (std::nullopt), not an error.
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "recvault/util/result.hpp"

namespace recvault::keystore::lmdb {

// An error for an LMDB return code: Errc::io (with errno) for system errors,
// Errc::io with a clear text for MDB_MAP_FULL, Errc::internal otherwise.
Error error(int rc, std::string_view what);

inline std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }
inline MDB_val val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

class Env {
 public:
  Env() = default;
  explicit Env(MDB_env* e) noexcept : env_(e) {}
  ~Env() { reset(); }
  Env(Env&& o) noexcept : env_(std::exchange(o.env_, nullptr)) {}
  Env& operator=(Env&& o) noexcept {
    if (this != &o) {
      reset();
      env_ = std::exchange(o.env_, nullptr);
    }
    return *this;
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  MDB_env* get() const noexcept { return env_; }
  void reset() noexcept {
    if (env_ != nullptr) mdb_env_close(env_);
    env_ = nullptr;
  }

 private:
  MDB_env* env_ = nullptr;
};

// Common part of both transaction types.
class Txn {
 public:
  ~Txn() { abort(); }
  Txn(Txn&& o) noexcept : txn_(std::exchange(o.txn_, nullptr)) {}
  Txn& operator=(Txn&& o) noexcept {
    if (this != &o) {
      abort();
      txn_ = std::exchange(o.txn_, nullptr);
    }
    return *this;
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  MDB_txn* get() const noexcept { return txn_; }
  void abort() noexcept {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
  // nullopt when the key is absent. The view is valid until the txn ends.
  Result<std::optional<std::string_view>> get(MDB_dbi dbi, std::string_view key) const;
  // Calls fn(key, value) for every entry whose key starts with `prefix`, in
  // key order, until fn returns false.
  Status scan(MDB_dbi dbi, std::string_view prefix,
              const std::function<bool(std::string_view, std::string_view)>& fn) const;
  Result<MDB_dbi> open_dbi(const char* name, unsigned flags);
  // Also for read transactions: tables opened in a txn stay open only if it
  // commits.
  Status commit();

 protected:
  explicit Txn(MDB_txn* t) noexcept : txn_(t) {}
  MDB_txn* txn_ = nullptr;
};

class ReadTxn : public Txn {
 public:
  static Result<ReadTxn> begin(MDB_env* env);

 private:
  using Txn::Txn;
};

class WriteTxn : public Txn {
 public:
  static Result<WriteTxn> begin(MDB_env* env);
  Status put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0);
  // false when the key was absent.
  Result<bool> del(MDB_dbi dbi, std::string_view key);

 private:
  using Txn::Txn;
};

}  // namespace recvault::keystore::lmdb
