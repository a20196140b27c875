// The error boundary of the FUSE data plane (docs/ARCHITECTURE.md "Error
// boundary").
//
// libfuse calls our handlers from C frames: an exception that escaped one
// would unwind through them and end the daemon with every open recording.
// So every handler registered with libfuse is `Guarded<Op::x, &ops::x>::call`,
// which runs the handler and turns any escaping exception into one log line
// and, if the handler had not answered yet, an errno reply: ENOMEM for
// std::bad_alloc, EIO for anything else.
//
// Whether a request was answered is known because handlers answer only
// through the `reply::` functions below (never fuse_reply_* directly): each
// marks the request of the current thread answered. A handler always answers
// on the thread that called it (no request is handed to another thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <new>

#include "recvault/fuse/filesystem.hpp"
#include "recvault/fuse/operation.hpp"

namespace recvault::fuse {

namespace reply {

namespace detail {
// Set when the request running on this thread has been answered.
inline thread_local bool t_answered = false;
}  // namespace detail

inline void err(fuse_req_t req, int e) {
  detail::t_answered = true;
  fuse_reply_err(req, e);
}
inline void none(fuse_req_t req) {
  detail::t_answered = true;
  fuse_reply_none(req);
}
inline int entry(fuse_req_t req, const fuse_entry_param* e) {
  detail::t_answered = true;
  return fuse_reply_entry(req, e);
}
inline int create(fuse_req_t req, const fuse_entry_param* e, const fuse_file_info* fi) {
  detail::t_answered = true;
  return fuse_reply_create(req, e, fi);
}
inline void attr(fuse_req_t req, const struct stat* st, double timeout) {
  detail::t_answered = true;
  fuse_reply_attr(req, st, timeout);
}
inline void readlink(fuse_req_t req, const char* target) {
  detail::t_answered = true;
  fuse_reply_readlink(req, target);
}
inline int open(fuse_req_t req, const fuse_file_info* fi) {
  detail::t_answered = true;
  return fuse_reply_open(req, fi);
}
inline void write(fuse_req_t req, std::size_t count) {
  detail::t_answered = true;
  fuse_reply_write(req, count);
}
inline int buf(fuse_req_t req, const char* data, std::size_t size) {
  detail::t_answered = true;
  return fuse_reply_buf(req, data, size);
}
inline void statfs(fuse_req_t req, const struct statvfs* st) {
  detail::t_answered = true;
  fuse_reply_statfs(req, st);
}
inline void xattr(fuse_req_t req, std::size_t count) {
  detail::t_answered = true;
  fuse_reply_xattr(req, count);
}

}  // namespace reply

namespace detail {

// The log line for an exception that reached the boundary; the errno to
// answer with.
int escaped(Op op, std::exception_ptr e, bool answered) noexcept;
// What the daemon asked to hear of each request (FsOptions::on_request).
void observe(Filesystem& fs, Op op, std::chrono::steady_clock::duration took) noexcept;

}  // namespace detail

// INIT has no request to answer: an exception there is logged and the
// connection keeps libfuse's defaults for what was not set.
void guarded_init(void* userdata, fuse_conn_info* conn) noexcept;

template <Op id, auto Handler>
struct Guarded;

template <Op id, class... Args, void (*Handler)(fuse_req_t, Args...)>
struct Guarded<id, Handler> {
  static void call(fuse_req_t req, Args... args) noexcept {
    Filesystem& fs = fs_of(req);  // the request is gone once answered
    const auto start = std::chrono::steady_clock::now();
    reply::detail::t_answered = false;
    try {
      Handler(req, args...);
    } catch (...) {
      const bool answered = reply::detail::t_answered;
      const int e = detail::escaped(id, std::current_exception(), answered);
      if (!answered) reply::err(req, e);
    }
    detail::observe(fs, id, std::chrono::steady_clock::now() - start);
  }
};

}  // namespace recvault::fuse
