// A small etcd v3 client over the JSON gateway (/v3/kv/range, /v3/kv/txn,
// /v3/watch) with libcurl (internal to the keystore).
//
// Keys and values are raw bytes here; the gateway's base64 and int64-as-string
// encodings stay inside etcd_client.cpp. Endpoints are tried in turn: a request
// moves on to the next endpoint at once only when the connection could not be
// made (the request was certainly not sent), so this layer never sends a
// transaction twice; after any other failure the next request starts with
// the next endpoint.
//
// Errors: Errc::unavailable when no endpoint answers or a request times out
// (the message names the endpoints, never a value); Errc::internal for an
// answer etcd refused (the message is etcd's).
//
// Thread safety: range() and txn() may be called from any thread; watch() runs
// on one thread at a time and is interrupted by interrupt_watch().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "recvault/keystore/store.hpp"
#include "recvault/util/result.hpp"

namespace recvault::keystore::etcd {

struct KeyValue {
  std::string key;
  std::string value;
  std::int64_t mod_revision = 0;
};

struct RangeResult {
  std::int64_t revision = 0;  // the store's revision the answer was read at
  std::vector<KeyValue> kvs;
};

// A condition of a transaction on every key in [key, range_end) (just `key`
// when range_end is empty): its mod_revision EQUAL / LESS than `mod_revision`.
// An absent key counts as mod_revision 0.
struct Compare {
  enum class Result { equal, less };
  std::string key;
  std::string range_end;
  Result result = Result::equal;
  std::int64_t mod_revision = 0;
};

struct Op {
  enum class Kind { put, del };
  Kind kind = Kind::put;
  std::string key;
  std::string value;
};

// A key (range_end empty) or the range [key, range_end).
struct Range {
  std::string key;
  std::string range_end;
};

struct TxnResult {
  bool succeeded = false;
  std::int64_t revision = 0;
  // When !succeeded: the contents of each of the txn's `refresh` ranges, in
  // order, read in the same transaction (one consistent revision).
  std::vector<std::vector<KeyValue>> current;
};

struct WatchEvent {
  bool deleted = false;
  KeyValue kv;  // for a delete: key and the deletion's revision
};

// The end of the range of every key that starts with `prefix`.
std::string prefix_end(std::string_view prefix);

class Client {
 public:
  explicit Client(EtcdOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<RangeResult> range(const std::string& key, const std::string& range_end, std::int64_t revision = 0);
  // Runs `ops` if every compare holds; otherwise reads `refresh` instead.
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<Op>& ops,
                        const std::vector<Range>& refresh);

  // Streams changes of [key, range_end) from `start_revision` until the stream
  // breaks, the member stops answering a linearizable read (asked every 2 s,
  // from the request on: a hung member keeps a stream open and silent, and
  // may never confirm it), etcd cancels it (Errc::not_found when `start_revision` was
  // compacted away) or interrupt_watch() is called (returns ok). `on_created`
  // runs once the watch is established; `on_events` for each batch with the
  // batch's revision.
  Status watch(const std::string& key, const std::string& range_end, std::int64_t start_revision,
               const std::function<void()>& on_created,
               const std::function<void(std::int64_t, std::vector<WatchEvent>&)>& on_events);
  void interrupt_watch();
  void reset_interrupt();

  const EtcdOptions& options() const noexcept { return options_; }

 private:
  Result<std::string> post(const std::string& path, const std::string& body);
  // A linearizable count of [key, range_end) on `endpoint`: does it serve?
  Status probe(const std::string& endpoint, const std::string& key, const std::string& range_end);

  EtcdOptions options_;
  std::mutex mutex_;           // guards preferred_
  std::size_t preferred_ = 0;  // the endpoint that answered last
  std::atomic<bool> interrupted_{false};
  std::mutex watch_mutex_;       // guards watch_multi_
  void* watch_multi_ = nullptr;  // CURLM* of the running watch, for curl_multi_wakeup
};

}  // namespace recvault::keystore::etcd
