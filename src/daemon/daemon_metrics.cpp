#include "daemon_metrics.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstring>

#include "recvault/format/stats.hpp"
#include "recvault/util/version.hpp"

namespace recvault::daemon {

DaemonMetrics::DaemonMetrics()
    : fs_(registry_),
      keystore_ops_(registry_.histograms("recvault_keystore_operation_duration_seconds",
                                         "Keystore calls (data plane: get_config, get_version; control API: the "
                                         "rest) and their duration.",
                                         {"op"}, metrics::latency_buckets())),
      keystore_errors_(registry_.counters("recvault_keystore_errors", "Keystore calls that failed.", {"op"})),
      requests_(registry_.counters("recvault_control_requests", "Control API requests answered.",
                                   {"endpoint", "method", "code"})) {
  auto& fuse_ops = registry_.histograms("recvault_fuse_request_duration_seconds",
                                        "FUSE requests by operation and the time their handler took.", {"op"},
                                        metrics::latency_buckets());
  for (std::size_t i = 0; i < fuse::kOpCount; ++i) {
    const auto op = static_cast<fuse::Op>(i);
    if (op == fuse::Op::init) continue;  // not a request
    fuse_ops_[i] = &fuse_ops.with({fuse::op_name(op)});
  }
}

fuse::RequestObserver DaemonMetrics::fuse_observer() {
  return [this](fuse::Op op, std::chrono::nanoseconds took) {
    const auto i = static_cast<std::size_t>(op);
    if (i < fuse_ops_.size() && fuse_ops_[i] != nullptr) {
      fuse_ops_[i]->observe(std::chrono::duration<double>(took).count());
    }
  };
}

void DaemonMetrics::keystore_op(std::string_view op, std::chrono::steady_clock::duration took, bool ok) {
  keystore_ops_.with({op}).observe(std::chrono::duration<double>(took).count());
  if (!ok) keystore_errors_.with({op}).inc();
}

keystore::KeyCache::StoreTimer DaemonMetrics::store_timer() {
  return [this](std::string_view op, std::chrono::steady_clock::duration took, bool ok) { keystore_op(op, took, ok); };
}

control::RequestObserver DaemonMetrics::request_observer() {
  return [this](std::string_view endpoint, std::string_view method, int status) {
    requests_.with({endpoint, method, std::to_string(status)}).inc();
  };
}

void DaemonMetrics::watch(fuse::Filesystem& fs, const keystore::KeyCache& keys) {
  registry_.add_collector([&fs, &keys](metrics::Exposition& out) {
    using metrics::Type;
    const auto open = fs.open_per_account();
    out.family("recvault_recordings_open", "Recordings open now.", Type::gauge);
    for (const auto& [account, count] : open) {
      out.sample("recvault_recordings_open", {{"account", account}}, count.files);
    }
    out.family("recvault_openpgp_seals_in_progress",
               "Recordings being sealed to a client's OpenPGP key now (open for writing).", Type::gauge);
    for (const auto& [account, count] : open) {
      out.sample("recvault_openpgp_seals_in_progress", {{"account", account}}, count.sealing);
    }
    const auto chunks = format::codec_counts();
    out.family("recvault_chunks_encrypted", "Chunks encrypted (AES-256-GCM or -CBC records written).", Type::counter);
    out.sample("recvault_chunks_encrypted_total", {}, chunks.sealed);
    out.family("recvault_chunks_decrypted", "Chunks authenticated and decrypted.", Type::counter);
    out.sample("recvault_chunks_decrypted_total", {}, chunks.opened);
    out.family("recvault_key_cache_requests", "Key lookups by result: hit (cached) or miss (keystore read).",
               Type::counter);
    out.sample("recvault_key_cache_requests_total", {{"result", "hit"}}, keys.hits());
    out.sample("recvault_key_cache_requests_total", {{"result", "miss"}}, keys.misses());
    out.family("recvault_key_derivations", "Account keys derived (scrypt).", Type::counter);
    out.sample("recvault_key_derivations_total", {}, keys.derivations());
    out.family("recvault_keys_restored", "Account keys unsealed from the keystore's derived keys instead of derived.",
               Type::counter);
    out.sample("recvault_keys_restored_total", {}, keys.restored());
    out.family("recvault_build_info", "The running recvaultd's version.", Type::gauge);
    out.sample("recvault_build_info", {{"version", version()}}, std::uint64_t{1});
    metrics::collect_process(out);
  });
}

void DaemonMetrics::watch(Reencryptor& jobs) {
  registry_.add_collector([&jobs](metrics::Exposition& out) {
    using metrics::Type;
    const auto latest = jobs.latest_jobs();
    struct Gauge {
      const char* name;
      const char* help;
      std::uint64_t JobProgress::*field;
    };
    static constexpr Gauge kGauges[] = {
        {"recvault_reencrypt_job_files_done", "Recordings the account's latest re-encryption job has rewritten.",
         &JobProgress::files_done},
        {"recvault_reencrypt_job_files_planned", "Recordings the account's latest re-encryption job found to rewrite.",
         &JobProgress::files_total},
        {"recvault_reencrypt_job_bytes_done",
         "Backing-file bytes the account's latest re-encryption job has rewritten.", &JobProgress::bytes_done},
        {"recvault_reencrypt_job_bytes_planned",
         "Backing-file bytes the account's latest re-encryption job found to rewrite.", &JobProgress::bytes_total},
        {"recvault_reencrypt_job_errors", "Recordings the account's latest re-encryption job failed to rewrite.",
         &JobProgress::errors},
    };
    out.family("recvault_reencrypt_job_running", "1 while the account's re-encryption job runs, 0 once it ended.",
               Type::gauge);
    for (const auto& job : latest) {
      out.sample("recvault_reencrypt_job_running", {{"account", job.account}},
                 std::uint64_t{job.state == "running" ? 1u : 0u});
    }
    for (const auto& gauge : kGauges) {
      out.family(gauge.name, gauge.help, Type::gauge);
      for (const auto& job : latest) out.sample(gauge.name, {{"account", job.account}}, job.*gauge.field);
    }
    out.family("recvault_reencrypt_job_skipped",
               "Recordings the account's latest re-encryption job left as they were, by reason.", Type::gauge);
    for (const auto& job : latest) {
      out.sample("recvault_reencrypt_job_skipped", {{"account", job.account}, {"reason", "open"}}, job.skipped_open);
      out.sample("recvault_reencrypt_job_skipped", {{"account", job.account}, {"reason", "openpgp"}},
                 job.skipped_openpgp);
      out.sample("recvault_reencrypt_job_skipped", {{"account", job.account}, {"reason", "unterminated"}},
                 job.skipped_unterminated);
    }
  });
}

std::string DaemonMetrics::render(const control::Principal* caller) const {
  if (caller == nullptr || caller->all_accounts) return registry_.render();
  return registry_.render([caller](std::string_view account) { return caller->may_access(account); });
}

template <class Fn>
auto TimedBackend::timed(std::string_view op, Fn&& fn) {
  const auto started = std::chrono::steady_clock::now();
  auto r = fn();
  metrics_.keystore_op(op, std::chrono::steady_clock::now() - started, r.ok());
  return r;
}

Result<nlohmann::json> TimedBackend::get_config(std::string_view account) {
  return timed("get_config", [&] { return inner_.get_config(account); });
}
Result<nlohmann::json> TimedBackend::update_config(std::string_view account, const nlohmann::json& request) {
  return timed("update_config", [&] { return inner_.update_config(account, request); });
}
Result<std::string> TimedBackend::add_public_key(std::string_view account, std::string_view armored,
                                                 std::string_view fingerprint) {
  return timed("add_public_key", [&] { return inner_.add_public_key(account, armored, fingerprint); });
}
Result<std::vector<std::string>> TimedBackend::list_public_keys(std::string_view account) {
  return timed("list_public_keys", [&] { return inner_.list_public_keys(account); });
}
Result<control::PublicKeyRecord> TimedBackend::get_public_key(std::string_view account, std::string_view id) {
  return timed("get_public_key", [&] { return inner_.get_public_key(account, id); });
}
Status TimedBackend::delete_public_key(std::string_view account, std::string_view id) {
  return timed("delete_public_key", [&] { return inner_.delete_public_key(account, id); });
}

// --- the TCP endpoint -------------------------------------------------------

struct MetricsListener::Impl {
  MHD_Daemon* daemon = nullptr;
  const DaemonMetrics* metrics = nullptr;
  std::uint16_t port = 0;
};

namespace {

MHD_Result answer(MHD_Connection* c, unsigned status, const std::string& body, const char* type) {
  MHD_Response* r = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  if (status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, "Allow", "GET");
  MHD_Result rc = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return rc;
}

MHD_Result on_request(void* cls, MHD_Connection* c, const char* url, const char* method, const char*, const char*,
                      std::size_t* upload_size, void** state) {
  auto* impl = static_cast<MetricsListener::Impl*>(cls);
  if (*state == nullptr) {  // headers only so far; a body (if any) is not read
    *state = impl;
    if (std::strcmp(method, "GET") == 0 || std::strcmp(method, "HEAD") == 0) return MHD_YES;
  }
  if (*upload_size != 0) {
    *upload_size = 0;  // discard
    return MHD_YES;
  }
  if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0)
    return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, "GET only\n", "text/plain");
  if (std::strcmp(url, "/metrics") == 0)
    return answer(c, MHD_HTTP_OK, impl->metrics->render(nullptr), std::string(metrics::kContentType).c_str());
  if (std::strcmp(url, "/") == 0) return answer(c, MHD_HTTP_OK, "recvaultd: metrics at /metrics\n", "text/plain");
  return answer(c, MHD_HTTP_NOT_FOUND, "not found: metrics are at /metrics\n", "text/plain");
}

}  // namespace

MetricsListener::MetricsListener() : impl_(std::make_unique<Impl>()) {}
MetricsListener::~MetricsListener() { stop(); }

Status MetricsListener::start(const ListenAddress& address, const DaemonMetrics& metrics) {
  impl_->metrics = &metrics;
  sockaddr_storage storage{};
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
  if (address.ipv6) {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&storage);
    sa->sin6_family = AF_INET6;
    sa->sin6_port = htons(address.port);
    ::inet_pton(AF_INET6, address.host.c_str(), &sa->sin6_addr);
    flags |= MHD_USE_IPv6;
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&storage);
    sa->sin_family = AF_INET;
    sa->sin_port = htons(address.port);
    ::inet_pton(AF_INET, address.host.c_str(), &sa->sin_addr);
  }
  impl_->daemon =
      MHD_start_daemon(flags, address.port, nullptr, nullptr, &on_request, impl_.get(), MHD_OPTION_SOCK_ADDR,
                       reinterpret_cast<sockaddr*>(&storage), MHD_OPTION_CONNECTION_LIMIT, 16u,
                       MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
  if (impl_->daemon == nullptr) {
    return make_error(Errc::io, "cannot listen on " + address.host + ":" + std::to_string(address.port) +
                                    " (address in use, not an address of this host, or TCP refused by the unit's "
                                    "RestrictAddressFamilies=: docs/OPERATIONS.md \"Metrics\")");
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(impl_->daemon, MHD_DAEMON_INFO_BIND_PORT);
  impl_->port = info != nullptr ? info->port : address.port;
  return {};
}

void MetricsListener::stop() noexcept {
  if (impl_ && impl_->daemon != nullptr) {
    MHD_stop_daemon(impl_->daemon);
    impl_->daemon = nullptr;
  }
}

std::uint16_t MetricsListener::port() const noexcept { return impl_->port; }

}  // namespace recvault::daemon
