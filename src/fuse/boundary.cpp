#include "boundary.hpp"

#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "ops.hpp"
#include "recvault/util/log.hpp"

namespace recvault::fuse {

const char* op_name(Op op) noexcept {
  static constexpr const char* kNames[kOpCount] = {
      "init",    "lookup",     "forget",    "forget_multi", "getattr",  "setattr",   "readlink",    "statfs",
      "mkdir",   "mknod",      "symlink",   "link",         "unlink",   "rmdir",     "rename",      "opendir",
      "readdir", "releasedir", "fsyncdir",  "create",       "open",     "read",      "write",       "flush",
      "fsync",   "release",    "fallocate", "setxattr",     "getxattr", "listxattr", "removexattr",
  };
  const auto i = static_cast<std::size_t>(op);
  return i < kOpCount ? kNames[i] : "unknown";
}

namespace detail {

int escaped(Op op, std::exception_ptr e, bool answered) noexcept {
  int err = EIO;
  std::string what;
  try {
    std::rethrow_exception(e);
  } catch (const std::bad_alloc&) {
    err = ENOMEM;
    what = "out of memory";
  } catch (const std::exception& ex) {
    what = ex.what();
  } catch (...) {
    what = "an exception of unknown type";
  }
  try {
    log::error(std::string("FUSE ") + op_name(op) + ": " + what + " escaped the handler; " +
               (answered ? "it had answered already" : "answered " + std::string(std::strerror(err))) +
               "; the daemon goes on");
  } catch (...) {
    // No memory even for the log line: the reply below is all we can do.
  }
  return err;
}

void observe(Filesystem& fs, Op op, std::chrono::steady_clock::duration took) noexcept {
  const auto& observer = fs.options().on_request;
  if (!observer) return;
  try {
    observer(op, std::chrono::duration_cast<std::chrono::nanoseconds>(took));
  } catch (...) {
    // An observer that throws loses its sample, never the request.
  }
}

}  // namespace detail

void guarded_init(void* userdata, fuse_conn_info* conn) noexcept {
  try {
    ops::init(userdata, conn);
  } catch (...) {
    detail::escaped(Op::init, std::current_exception(), true);
  }
}

namespace ops {

bool fault_injection_enabled() noexcept {
  static const bool on = [] {
    const char* v = std::getenv("RECVAULT_FAULT_INJECTION");
    const bool enabled = v != nullptr && std::strcmp(v, "1") == 0;
    if (enabled) log::warn("RECVAULT_FAULT_INJECTION=1: lookups of rv-fault-* names throw (tests only)");
    return enabled;
  }();
  return on;
}

void inject_fault(const char* name, FaultPoint point) {
  if (!fault_injection_enabled() || std::strncmp(name, "rv-fault-", 9) != 0) return;
  const bool after = std::strcmp(name, "rv-fault-after-reply") == 0;
  if (after != (point == FaultPoint::after_reply)) return;
  if (std::strcmp(name, "rv-fault-bad-alloc") == 0) throw std::bad_alloc();
  throw std::runtime_error(std::string("injected fault (") + name + ")");
}

}  // namespace ops
}  // namespace recvault::fuse
