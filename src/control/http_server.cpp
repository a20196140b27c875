// libmicrohttpd plumbing: connections, limits, peer credentials, the request
// deadline watchdog. The HTTP semantics live in Api (router.cpp).
#include "recvault/control/server.hpp"

#include <sys/socket.h>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_set>

#include <microhttpd.h>

#include "recvault/control/secure_json.hpp"
#include "recvault/util/log.hpp"
#include "unix_socket.hpp"

namespace recvault::control {
namespace {

using Clock = std::chrono::steady_clock;

// One per TCP-like connection (MHD "socket context").
struct Connection {
  int fd = -1;
  PeerInfo peer;
  Clock::time_point deadline;
  bool busy = false;  // a handler is running: the watchdog leaves it alone
  bool shut = false;
};

// One per HTTP request (MHD "con_cls").
struct PendingRequest {
  Request request;
  bool too_large = false;
};

PeerInfo peer_of(int fd) {
  PeerInfo p;
  ucred cred{};
  socklen_t len = sizeof cred;
  if (fd >= 0 && ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
    p.known = true;
    p.pid = cred.pid;
    p.uid = cred.uid;
    p.gid = cred.gid;
  }
  return p;
}

MHD_Result collect_header(void* cls, MHD_ValueKind, const char* key, const char* value) noexcept {
  try {
    static_cast<Request*>(cls)->headers.emplace_back(key != nullptr ? key : "", value != nullptr ? value : "");
    return MHD_YES;
  } catch (...) {
    return MHD_NO;
  }
}

// The copy of a sensitive body that libmicrohttpd sends from: wiped when
// libmicrohttpd frees it (MHD_RESPMEM_MUST_COPY would free its copy as is).
struct WipedBuffer {
  explicit WipedBuffer(std::string_view text) : size(text.size()), data(static_cast<char*>(std::malloc(size + 1))) {
    if (data == nullptr) throw std::bad_alloc();
    std::memcpy(data, text.data(), size);
  }
  std::size_t size;
  char* data;
};

void free_wiped(void* cls) {
  auto* b = static_cast<WipedBuffer*>(cls);
  crypto::secure_wipe(b->data, b->size);
  std::free(b->data);
  delete b;
}

MHD_Response* make_response(const Response& r) {
  if (!r.sensitive)
    return MHD_create_response_from_buffer(r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  auto buffer = std::make_unique<WipedBuffer>(r.body);
  MHD_Response* resp =
      MHD_create_response_from_buffer_with_free_callback_cls(buffer->size, buffer->data, &free_wiped, buffer.get());
  if (resp != nullptr) (void)buffer.release();  // freed by free_wiped
  return resp;
}

MHD_Result send(MHD_Connection* c, const Response& r) {
  MHD_Response* resp = make_response(r);
  if (resp == nullptr) return MHD_NO;
  if (!r.body.empty() || r.status != 204) MHD_add_response_header(resp, "Content-Type", r.content_type.c_str());
  for (const auto& [k, v] : r.headers) MHD_add_response_header(resp, k.c_str(), v.c_str());
  MHD_Result rc = MHD_queue_response(c, static_cast<unsigned>(r.status), resp);
  MHD_destroy_response(resp);
  return rc;
}

// libmicrohttpd's own messages can quote what a client sent: they go
// through the escaping logger like every other line.
void log_mhd(void*, const char* fmt, va_list ap) {
  char buf[512];
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (n < 0) return;
  std::string_view text(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  log::warn(std::string("control: ") + std::string(text));
}

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, Backend& b) : opts(std::move(o)), backend(b) {}

  ServerOptions opts;
  Backend& backend;
  JwtVerifier verifier;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<Api> api;
  detail::ListeningSocket socket;
  MHD_Daemon* daemon = nullptr;

  std::mutex mu;  // guards conns and every Connection's deadline/busy/shut
  std::condition_variable cv;
  bool stopping = false;
  std::unordered_set<Connection*> conns;
  std::thread watchdog;

  void watch() {
    std::unique_lock lock(mu);
    while (!stopping) {
      cv.wait_for(lock, std::chrono::milliseconds(100));
      auto now = Clock::now();
      for (Connection* c : conns) {
        if (c->busy || c->shut || now < c->deadline) continue;
        // shutdown (not close): MHD still owns the fd and closes it itself. The
        // fd cannot have been reused: MHD notifies CLOSED (which erases it from
        // conns under mu) before it closes the socket.
        ::shutdown(c->fd, SHUT_RDWR);
        c->shut = true;
      }
    }
  }

  void on_connection(MHD_Connection* c, void** socket_context, MHD_ConnectionNotificationCode code) noexcept {
    try {
      if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        auto conn = std::make_unique<Connection>();
        const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn->fd = info != nullptr ? info->connect_fd : -1;
        conn->peer = peer_of(conn->fd);
        std::lock_guard lock(mu);
        conn->deadline = Clock::now() + opts.request_deadline;
        conns.insert(conn.get());
        *socket_context = conn.release();
      } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        auto* conn = static_cast<Connection*>(*socket_context);
        if (conn == nullptr) return;
        {
          std::lock_guard lock(mu);
          conns.erase(conn);
        }
        delete conn;
        *socket_context = nullptr;
      }
    } catch (...) {
    }
  }

  // 413 is decided here, before the router: audit it here too.
  MHD_Result too_large(MHD_Connection* c, const Request& request) {
    AuditRecord record;
    record.peer = request.peer;
    if (auto account = request.header("X-Account-ID")) record.account = std::string(account->substr(0, 128));
    record.action = "request_too_large";
    record.resource = request.path.substr(0, 128);
    record.status = 413;
    (void)audit->append(record);
    return send(c, Response::error(413, "Request body too large"));
  }

  Connection* connection_of(MHD_Connection* c) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info != nullptr ? static_cast<Connection*>(info->socket_context) : nullptr;
  }

  MHD_Result on_request(MHD_Connection* c, const char* url, const char* method, const char* upload_data,
                        std::size_t* upload_data_size, void** con_cls) noexcept {
    try {
      auto* pending = static_cast<PendingRequest*>(*con_cls);
      if (pending == nullptr) {
        auto fresh = std::make_unique<PendingRequest>();
        fresh->request.method = method != nullptr ? method : "";
        fresh->request.path = url != nullptr ? url : "";
        MHD_get_connection_values(c, MHD_HEADER_KIND, &collect_header, &fresh->request);
        if (Connection* conn = connection_of(c)) fresh->request.peer = conn->peer;
        *con_cls = fresh.release();
        pending = static_cast<PendingRequest*>(*con_cls);
        if (auto len = pending->request.header("Content-Length")) {
          // Refuse early: no need to read a body we will not accept.
          if (len->size() > 19 || std::strtoull(std::string(*len).c_str(), nullptr, 10) > opts.max_body_bytes)
            return too_large(c, pending->request);
        }
        return MHD_YES;
      }
      if (*upload_data_size > 0) {
        std::string& body = pending->request.body;
        // One allocation for the whole body: growing by appends would leave
        // freed partial copies of a key on the heap.
        if (body.capacity() < opts.max_body_bytes) body.reserve(opts.max_body_bytes);
        if (!pending->too_large && body.size() + *upload_data_size <= opts.max_body_bytes)
          body.append(upload_data, *upload_data_size);
        else
          pending->too_large = true;
        // The bytes sit in libmicrohttpd's connection buffer, which it frees
        // without wiping; we consumed them all (size = 0 below), so nothing
        // reads them again: wipe them there too.
        crypto::secure_wipe(const_cast<char*>(upload_data), *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
      }
      if (pending->too_large) return too_large(c, pending->request);
      Connection* conn = connection_of(c);
      if (conn != nullptr) {
        std::lock_guard lock(mu);
        conn->busy = true;
      }
      Response r = api->handle(pending->request);
      if (conn != nullptr) {
        std::lock_guard lock(mu);
        conn->busy = false;
        conn->deadline = Clock::now() + opts.request_deadline;  // for the next request
      }
      MHD_Result sent = send(c, r);
      if (r.sensitive) wipe_string(r.body);
      return sent;
    } catch (...) {
      try {
        return send(c, Response::error(500, "Internal server error"));
      } catch (...) {
        return MHD_NO;
      }
    }
  }

  static MHD_Result access_handler(void* cls, MHD_Connection* c, const char* url, const char* method, const char*,
                                   const char* upload_data, std::size_t* upload_data_size, void** con_cls) {
    return static_cast<Impl*>(cls)->on_request(c, url, method, upload_data, upload_data_size, con_cls);
  }

  static void notify_connection(void* cls, MHD_Connection* c, void** socket_context,
                                MHD_ConnectionNotificationCode code) {
    static_cast<Impl*>(cls)->on_connection(c, socket_context, code);
  }

  static void on_completed(void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) noexcept {
    auto* pending = static_cast<PendingRequest*>(*con_cls);
    if (pending != nullptr) wipe_string(pending->request.body);  // a PUT body may carry a key
    delete pending;
    *con_cls = nullptr;
  }
};

Server::Server(ServerOptions options, Backend& backend) : impl_(std::make_unique<Impl>(std::move(options), backend)) {}

Server::~Server() { stop(); }

bool Server::running() const noexcept { return impl_->daemon != nullptr; }

const Api* Server::api() const noexcept { return impl_->api.get(); }

Status Server::start() {
  Impl& s = *impl_;
  if (s.daemon != nullptr) return make_error(Errc::conflict, "control server already running");
  RV_ASSIGN(auto verifier, JwtVerifier::from_config(s.opts.auth));
  s.verifier = std::move(verifier);
  if (s.opts.audit_log_path.empty()) {
    s.audit = AuditLog::disabled();
  } else {
    RV_ASSIGN(auto audit, AuditLog::open(s.opts.audit_log_path, s.opts.audit_log_mode));
    s.audit = std::move(audit);
  }
  s.api = std::make_unique<Api>(ApiContext{s.backend, s.verifier, *s.audit, s.opts.status, s.opts.validate_key,
                                           s.opts.metrics, s.opts.observe, s.opts.lifecycle});

  auto sock = detail::listen_unix(s.opts.socket_path, s.opts.socket_mode, s.opts.socket_group,
                                  static_cast<int>(s.opts.max_connections));
  if (!sock) return std::move(sock).error();
  s.socket = std::move(*sock);

  {
    std::lock_guard lock(s.mu);
    s.stopping = false;
  }
  s.watchdog = std::thread([&s] { s.watch(); });

  const unsigned flags =
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  auto idle = static_cast<unsigned>(s.opts.idle_timeout.count());
  s.daemon = MHD_start_daemon(flags, 0, nullptr, nullptr, &Impl::access_handler, &s, MHD_OPTION_EXTERNAL_LOGGER,
                              &log_mhd, &s,  // first, so every message goes through it
                              MHD_OPTION_LISTEN_SOCKET, static_cast<MHD_socket>(s.socket.fd.get()),
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<std::size_t>(s.opts.connection_memory),
                              MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(s.opts.max_connections),
                              MHD_OPTION_CONNECTION_TIMEOUT, idle, MHD_OPTION_NOTIFY_COMPLETED, &Impl::on_completed, &s,
                              MHD_OPTION_NOTIFY_CONNECTION, &Impl::notify_connection, &s, MHD_OPTION_END);
  if (s.daemon == nullptr) {
    stop();
    return make_error(Errc::internal, "libmicrohttpd failed to start on " + s.opts.socket_path);
  }
  return {};
}

void Server::stop() noexcept {
  Impl& s = *impl_;
  if (s.daemon != nullptr) {
    MHD_stop_daemon(s.daemon);  // closes the listening fd it was given
    s.daemon = nullptr;
    (void)s.socket.fd.release();
  }
  if (s.watchdog.joinable()) {
    {
      std::lock_guard lock(s.mu);
      s.stopping = true;
    }
    s.cv.notify_all();
    s.watchdog.join();
  }
  if (s.socket.inode != 0) {
    detail::unlink_if_ours(s.opts.socket_path, s.socket);
    s.socket = detail::ListeningSocket{};
  }
}

}  // namespace recvault::control
