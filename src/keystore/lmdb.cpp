#include "lmdb.hpp"

#include <string>

namespace recvault::keystore::lmdb {

Error error(int rc, std::string_view what) {
  std::string w(what);
  if (rc == MDB_MAP_FULL)
    return make_error(Errc::io, w + ": the keystore is full (LMDB map size reached); "
                                    "nothing was changed, raise the map size");
  if (rc > 0) return sys_error(w, rc);  // LMDB returns errno values as is
  return make_error(Errc::internal, w + ": " + mdb_strerror(rc));
}

Result<std::optional<std::string_view>> Txn::get(MDB_dbi dbi, std::string_view key) const {
  MDB_val k = val(key), v{};
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>{};
  if (rc != 0) return error(rc, "keystore read failed");
  return std::optional<std::string_view>{view(v)};
}

Status Txn::scan(MDB_dbi dbi, std::string_view prefix,
                 const std::function<bool(std::string_view, std::string_view)>& fn) const {
  MDB_cursor* raw = nullptr;
  int rc = mdb_cursor_open(txn_, dbi, &raw);
  if (rc != 0) return error(rc, "keystore cursor failed");
  std::unique_ptr<MDB_cursor, decltype(&mdb_cursor_close)> cursor(raw, &mdb_cursor_close);
  MDB_val k = val(prefix), v{};
  rc = mdb_cursor_get(raw, &k, &v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
  while (rc == 0) {
    std::string_view key = view(k);
    if (!key.starts_with(prefix)) break;
    if (!fn(key, view(v))) break;
    rc = mdb_cursor_get(raw, &k, &v, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return error(rc, "keystore scan failed");
  return {};
}

Result<ReadTxn> ReadTxn::begin(MDB_env* env) {
  MDB_txn* t = nullptr;
  int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &t);
  if (rc != 0) return error(rc, "cannot begin keystore read transaction");
  return ReadTxn(t);
}

Result<WriteTxn> WriteTxn::begin(MDB_env* env) {
  MDB_txn* t = nullptr;
  int rc = mdb_txn_begin(env, nullptr, 0, &t);
  if (rc != 0) return error(rc, "cannot begin keystore write transaction");
  return WriteTxn(t);
}

Status WriteTxn::put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = val(key), v = val(value);
  int rc = mdb_put(txn_, dbi, &k, &v, flags);
  if (rc != 0) return error(rc, "keystore write failed");
  return {};
}

Result<bool> WriteTxn::del(MDB_dbi dbi, std::string_view key) {
  MDB_val k = val(key);
  int rc = mdb_del(txn_, dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return error(rc, "keystore delete failed");
  return true;
}

Result<MDB_dbi> Txn::open_dbi(const char* name, unsigned flags) {
  MDB_dbi dbi = 0;
  int rc = mdb_dbi_open(txn_, name, flags, &dbi);
  if (rc != 0) return error(rc, std::string("cannot open keystore table ") + name);
  return dbi;
}

Status Txn::commit() {
  MDB_txn* t = std::exchange(txn_, nullptr);  // freed by mdb_txn_commit even on failure
  int rc = mdb_txn_commit(t);
  if (rc != 0) return error(rc, "keystore commit failed");
  return {};
}

}  // namespace recvault::keystore::lmdb
