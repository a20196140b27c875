#include "etcd_client.hpp"

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "recvault/util/encoding.hpp"

namespace recvault::keystore::etcd {

namespace {

using json = nlohmann::json;

constexpr std::chrono::seconds kProbeInterval{2};

std::string b64(std::string_view s) {
  return base64_encode({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
}

std::optional<std::string> unb64(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return std::string();  // the gateway omits empty fields
  if (!it->is_string()) return std::nullopt;
  auto raw = base64_decode(it->get<std::string>());
  if (!raw) return std::nullopt;
  return std::string(raw->begin(), raw->end());
}

// The gateway writes int64 as a JSON string and omits zero values.
std::int64_t int64_of(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

Result<KeyValue> kv_of(const json& j) {
  KeyValue kv;
  auto key = unb64(j, "key");
  auto value = unb64(j, "value");
  if (!key || !value) return make_error(Errc::internal, "etcd answered a malformed key-value");
  kv.key = std::move(*key);
  kv.value = std::move(*value);
  kv.mod_revision = int64_of(j, "mod_revision");
  return kv;
}

Result<std::vector<KeyValue>> kvs_of(const json& j) {
  std::vector<KeyValue> out;
  auto it = j.find("kvs");
  if (it == j.end()) return out;
  if (!it->is_array()) return make_error(Errc::internal, "etcd answered a malformed range");
  for (const auto& e : *it) {
    auto kv = kv_of(e);
    RV_TRY(kv);
    out.push_back(std::move(kv).value());
  }
  return out;
}

// etcd's error object ({"error": ..., "code": N, "message": ...}) as an Error.
std::optional<Error> etcd_error(const json& j) {
  if (!j.contains("error") && !j.contains("code")) return std::nullopt;
  std::string message = j.value("message", j.value("error", std::string("unknown error")));
  const int code = j.value("code", 0);
  // gRPC Unavailable (14) / DeadlineExceeded (4): no quorum, leader lost.
  const Errc errc = (code == 14 || code == 4) ? Errc::unavailable : Errc::internal;
  return make_error(errc, "etcd: " + message);
}

size_t append_body(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  out->append(data, size * n);
  return size * n;
}

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
struct MultiDeleter {
  void operator()(CURLM* m) const noexcept { curl_multi_cleanup(m); }
};

// A connection failure: nothing was sent, another endpoint may be tried.
bool not_sent(CURLcode rc) {
  return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_SSL_CONNECT_ERROR;
}

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(end.back());
    if (c < 0xFF) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

Client::Client(EtcdOptions options) : options_(std::move(options)) {}
Client::~Client() = default;

namespace {

void configure(CURL* c, const EtcdOptions& o, const std::string& url, long timeout_ms);

// POSTs the JSON `body` to `url` on `curl` (left open for curl_easy_getinfo),
// the answer into `response`.
CURLcode post_json(CURL* curl, const EtcdOptions& o, const std::string& url, const std::string& body,
                   std::string& response) {
  std::unique_ptr<curl_slist, SlistDeleter> headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  configure(curl, o, url, static_cast<long>(o.request_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response);
  return curl_easy_perform(curl);
}

void configure(CURL* c, const EtcdOptions& o, const std::string& url, long timeout_ms) {
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.dial_timeout.count()));
  if (timeout_ms > 0) curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, o.cert_file.c_str());
  if (!o.key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, o.key_file.c_str());
}

}  // namespace

Result<std::string> Client::post(const std::string& path, const std::string& body) {
  if (options_.endpoints.empty()) return make_error(Errc::invalid_argument, "no etcd endpoints configured");
  std::size_t first;
  {
    std::lock_guard lock(mutex_);
    first = preferred_;
  }
  std::string last_error;
  const std::size_t n = options_.endpoints.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t index = (first + i) % n;
    const std::string& endpoint = options_.endpoints[index];
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) return make_error(Errc::internal, "cannot create a libcurl handle");
    std::string response;
    const CURLcode rc = post_json(curl.get(), options_, endpoint + path, body, response);
    if (rc == CURLE_OK) {
      std::lock_guard lock(mutex_);
      preferred_ = index;
      return response;
    }
    last_error = endpoint + ": " + curl_easy_strerror(rc);
    curl_off_t connected = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_CONNECT_TIME_T, &connected);
    // A timeout after connecting may have reached etcd: never resend it here
    // (the caller decides), but the next request goes to the next member:
    // this one may hang (stopped, cut off from the majority).
    if (!not_sent(rc) && !(rc == CURLE_OPERATION_TIMEDOUT && connected == 0)) {
      std::lock_guard lock(mutex_);
      if (preferred_ == index) preferred_ = (index + 1) % n;
      break;
    }
  }
  return make_error(Errc::unavailable, "etcd is unreachable (" + last_error + ")");
}

Result<RangeResult> Client::range(const std::string& key, const std::string& range_end, std::int64_t revision) {
  json req = {{"key", b64(key)}};
  if (!range_end.empty()) req["range_end"] = b64(range_end);
  if (revision > 0) req["revision"] = std::to_string(revision);
  auto body = post("/v3/kv/range", req.dump());
  RV_TRY(body);
  json j = json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(Errc::internal, "etcd answered a range with non-JSON");
  if (auto e = etcd_error(j)) return *e;
  RangeResult out;
  out.revision = j.contains("header") ? int64_of(j["header"], "revision") : 0;
  auto kvs = kvs_of(j);
  RV_TRY(kvs);
  out.kvs = std::move(kvs).value();
  return out;
}

Result<TxnResult> Client::txn(const std::vector<Compare>& compares, const std::vector<Op>& ops,
                              const std::vector<Range>& refresh) {
  json cmp = json::array(), success = json::array(), failure = json::array();
  for (const auto& c : compares) {
    json one = {{"key", b64(c.key)},
                {"target", "MOD"},
                {"result", c.result == Compare::Result::equal ? "EQUAL" : "LESS"},
                {"mod_revision", std::to_string(c.mod_revision)}};
    if (!c.range_end.empty()) one["range_end"] = b64(c.range_end);
    cmp.push_back(std::move(one));
  }
  for (const auto& r : refresh) {
    json range = {{"key", b64(r.key)}};
    if (!r.range_end.empty()) range["range_end"] = b64(r.range_end);
    failure.push_back({{"request_range", std::move(range)}});
  }
  for (const auto& op : ops) {
    if (op.kind == Op::Kind::put)
      success.push_back({{"request_put", {{"key", b64(op.key)}, {"value", b64(op.value)}}}});
    else
      success.push_back({{"request_delete_range", {{"key", b64(op.key)}}}});
  }
  json req = {{"compare", cmp}, {"success", success}, {"failure", failure}};
  auto body = post("/v3/kv/txn", req.dump());
  RV_TRY(body);
  json j = json::parse(*body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(Errc::internal, "etcd answered a txn with non-JSON");
  if (auto e = etcd_error(j)) return *e;
  TxnResult out;
  out.succeeded = j.value("succeeded", false);
  out.revision = j.contains("header") ? int64_of(j["header"], "revision") : 0;
  if (!out.succeeded) {
    auto it = j.find("responses");
    if (it != j.end() && it->is_array()) {
      for (const auto& r : *it) {
        auto rr = r.find("response_range");
        if (rr == r.end()) return make_error(Errc::internal, "etcd answered a malformed txn");
        auto kvs = kvs_of(*rr);
        RV_TRY(kvs);
        out.current.push_back(std::move(kvs).value());
      }
    }
  }
  return out;
}

namespace {

struct WatchState {
  std::string buffer;
  bool created = false;
  std::optional<Error> failed;
  const std::function<void()>* on_created = nullptr;
  const std::function<void(std::int64_t, std::vector<WatchEvent>&)>* on_events = nullptr;
};

// One JSON object of the stream: {"result": {...}} or an error.
bool handle_message(WatchState& st, std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    st.failed = make_error(Errc::internal, "etcd watch stream sent non-JSON");
    return false;
  }
  if (j.contains("error")) {
    const json& e = j["error"];
    st.failed = make_error(Errc::unavailable,
                           "etcd watch: " + (e.is_object() ? e.value("message", std::string("error")) : e.dump()));
    return false;
  }
  const json& r = j.contains("result") ? j["result"] : j;
  if (int64_of(r, "compact_revision") > 0) {
    st.failed = make_error(Errc::not_found, "etcd watch: the revision was compacted");
    return false;
  }
  if (r.value("canceled", false)) {
    st.failed = make_error(Errc::unavailable, "etcd watch was canceled: " + r.value("cancel_reason", std::string()));
    return false;
  }
  if (r.value("created", false)) {
    if (!st.created) (*st.on_created)();
    st.created = true;
    return true;
  }
  auto events = r.find("events");
  {  // events, or none: a progress notification
    std::vector<WatchEvent> out;
    const json none = json::array();
    for (const auto& e : (events != r.end() && events->is_array()) ? *events : none) {
      WatchEvent ev;
      ev.deleted = e.value("type", std::string("PUT")) == "DELETE";
      if (!e.contains("kv")) continue;
      auto kv = kv_of(e["kv"]);
      if (!kv) {
        st.failed = std::move(kv).error();
        return false;
      }
      ev.kv = std::move(kv).value();
      out.push_back(std::move(ev));
    }
    const std::int64_t revision = r.contains("header") ? int64_of(r["header"], "revision") : 0;
    (*st.on_events)(revision, out);
  }
  return true;
}

size_t watch_body(char* data, size_t size, size_t n, void* user) {
  auto& st = *static_cast<WatchState*>(user);
  st.buffer.append(data, size * n);
  // The gateway writes one JSON object per line.
  std::size_t start = 0;
  for (;;) {
    auto nl = st.buffer.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(st.buffer.data() + start, nl - start);
    start = nl + 1;
    if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
    if (!handle_message(st, line)) return 0;  // aborts the transfer
  }
  st.buffer.erase(0, start);
  if (st.buffer.size() > (std::size_t{64} << 20)) {
    st.failed = make_error(Errc::internal, "etcd watch message too large");
    return 0;
  }
  return size * n;
}

}  // namespace

Status Client::probe(const std::string& endpoint, const std::string& key, const std::string& range_end) {
  const json req = {{"key", b64(key)}, {"range_end", b64(range_end)}, {"count_only", true}};
  const std::string body = req.dump();
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return make_error(Errc::internal, "cannot create a libcurl handle");
  std::string response;
  const CURLcode rc = post_json(curl.get(), options_, endpoint + "/v3/kv/range", body, response);
  if (rc != CURLE_OK)
    return make_error(Errc::unavailable, "etcd member " + endpoint + " does not answer: " + curl_easy_strerror(rc));
  json j = json::parse(response, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error(Errc::unavailable, "etcd member " + endpoint + " answered non-JSON");
  if (auto e = etcd_error(j)) return *e;
  return {};
}

void Client::interrupt_watch() {
  interrupted_ = true;
  std::lock_guard lock(watch_mutex_);
  if (watch_multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(watch_multi_));
}

void Client::reset_interrupt() { interrupted_ = false; }

Status Client::watch(const std::string& key, const std::string& range_end, std::int64_t start_revision,
                     const std::function<void()>& on_created,
                     const std::function<void(std::int64_t, std::vector<WatchEvent>&)>& on_events) {
  if (options_.endpoints.empty()) return make_error(Errc::invalid_argument, "no etcd endpoints configured");
  std::size_t index;
  {
    std::lock_guard lock(mutex_);
    index = preferred_;
  }
  const std::string& endpoint = options_.endpoints[index % options_.endpoints.size()];
  json req = {{"create_request",
               {{"key", b64(key)},
                {"range_end", b64(range_end)},
                {"start_revision", std::to_string(start_revision)},
                {"progress_notify", true}}}};
  const std::string body = req.dump();

  WatchState st;
  st.on_created = &on_created;
  st.on_events = &on_events;
  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  std::unique_ptr<CURLM, MultiDeleter> multi(curl_multi_init());
  if (!curl || !multi) return make_error(Errc::internal, "cannot create a libcurl handle");
  std::unique_ptr<curl_slist, SlistDeleter> headers(curl_slist_append(nullptr, "Content-Type: application/json"));
  configure(curl.get(), options_, endpoint + "/v3/watch", 0);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, watch_body);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(curl.get(), CURLOPT_TCP_KEEPIDLE, 5L);
  curl_easy_setopt(curl.get(), CURLOPT_TCP_KEEPINTVL, 2L);
  curl_multi_add_handle(multi.get(), curl.get());
  {
    std::lock_guard lock(watch_mutex_);
    watch_multi_ = multi.get();
  }
  Status result;
  CURLcode done = CURLE_OK;
  bool finished = false;
  auto last_probe = std::chrono::steady_clock::now();
  while (!interrupted_ && !finished) {
    int running = 0;
    if (curl_multi_perform(multi.get(), &running) != CURLM_OK) {
      result = make_error(Errc::internal, "libcurl multi failed");
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        done = msg->data.result;
        finished = true;
      }
    }
    if (finished || running == 0) break;
    curl_multi_poll(multi.get(), nullptr, 0, 1000, nullptr);
    // A member that hangs (stopped, cut off from the majority) keeps the
    // stream open and silent, before it confirms the watch as after: ask it
    // a linearizable question every few seconds; no answer ends the watch,
    // and the caller moves on.
    if (std::chrono::steady_clock::now() - last_probe > kProbeInterval) {
      last_probe = std::chrono::steady_clock::now();
      if (auto alive = probe(endpoint, key, range_end); !alive) {
        result = std::move(alive);
        break;
      }
    }
  }
  {
    std::lock_guard lock(watch_mutex_);
    watch_multi_ = nullptr;
  }
  curl_multi_remove_handle(multi.get(), curl.get());
  if (!result) {
    std::lock_guard lock(mutex_);
    if (preferred_ == index) preferred_ = (index + 1) % options_.endpoints.size();
    return result;
  }
  if (interrupted_) return {};
  if (st.failed) return *st.failed;
  if (done != CURLE_OK) {
    // Try the next endpoint on the next watch.
    std::lock_guard lock(mutex_);
    if (preferred_ == index) preferred_ = (index + 1) % options_.endpoints.size();
    return make_error(Errc::unavailable, "etcd watch on " + endpoint + " broke: " + curl_easy_strerror(done));
  }
  std::lock_guard lock(mutex_);
  if (preferred_ == index) preferred_ = (index + 1) % options_.endpoints.size();
  return make_error(Errc::unavailable, "etcd watch on " + endpoint + " ended");
}

}  // namespace recvault::keystore::etcd
