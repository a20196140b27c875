#include "shutdown.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>

#include "recvault/util/log.hpp"

namespace recvault::daemon {
namespace {

using Clock = std::chrono::steady_clock;

// A signal handler reaches the StopSignals instance only through globals:
// these two, set while it exists.
std::atomic<int> g_events_fd{-1};
std::atomic<int> g_last_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "read and written by a signal handler");

void on_stop_signal(int sig) {
  const int saved = errno;
  g_last_signal.store(sig, std::memory_order_relaxed);
  const int fd = g_events_fd.load(std::memory_order_relaxed);
  if (fd >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
  }
  errno = saved;
}

void on_sigpipe(int) {}

std::string signal_name(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev != nullptr ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string millis(Clock::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

// Waits until one of `fds` is readable; returns its index, or -1 once
// `deadline` has passed.
int wait_readable(std::initializer_list<int> fds, std::optional<Clock::time_point> deadline) {
  std::vector<pollfd> polled;
  for (int fd : fds) polled.push_back(pollfd{fd, POLLIN, 0});
  for (;;) {
    int timeout = -1;
    if (deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
      if (left.count() <= 0) return -1;
      timeout = static_cast<int>(left.count());
    }
    const int n = ::poll(polled.data(), polled.size(), timeout);
    if (n < 0 && errno != EINTR) return -1;
    for (std::size_t i = 0; n > 0 && i < polled.size(); ++i) {
      if (polled[i].revents != 0) return static_cast<int>(i);
    }
  }
}

}  // namespace

StopSignals::StopSignals() : events_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  int expected = -1;
  if (!events_.valid() || !g_events_fd.compare_exchange_strong(expected, events_.get())) return;
  struct sigaction stop {};
  stop.sa_handler = on_stop_signal;
  ::sigemptyset(&stop.sa_mask);
  stop.sa_flags = 0;  // no SA_RESTART: see the class comment
  for (std::size_t i = 0; i < std::size(kSignals); ++i) ::sigaction(kSignals[i], &stop, &previous_[i]);
  if (::sigaction(SIGPIPE, nullptr, &previous_pipe_) == 0 && !(previous_pipe_.sa_flags & SA_SIGINFO) &&
      previous_pipe_.sa_handler == SIG_DFL) {
    struct sigaction quiet {};
    quiet.sa_handler = on_sigpipe;
    ::sigemptyset(&quiet.sa_mask);
    own_pipe_ = ::sigaction(SIGPIPE, &quiet, nullptr) == 0;
  }
  // A parent may have started us with them blocked; this thread (the FUSE
  // loop's) must take them.
  sigset_t set;
  ::sigemptyset(&set);
  for (int sig : kSignals) ::sigaddset(&set, sig);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  installed_ = true;
}

StopSignals::~StopSignals() {
  if (!installed_) return;
  // SIG_IGN first discards a signal still pending (GracefulStop's wake-up of
  // the loop thread), which must not meet a restored SIG_DFL.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  ::sigemptyset(&ignore.sa_mask);
  for (std::size_t i = 0; i < std::size(kSignals); ++i) {
    ::sigaction(kSignals[i], &ignore, nullptr);
    ::sigaction(kSignals[i], &previous_[i], nullptr);
  }
  if (own_pipe_) ::sigaction(SIGPIPE, &previous_pipe_, nullptr);
  g_events_fd.store(-1);
}

int StopSignals::take() noexcept {
  std::uint64_t count = 0;
  if (::read(events_.get(), &count, sizeof count) != static_cast<ssize_t>(sizeof count)) return 0;
  return g_last_signal.load(std::memory_order_relaxed);
}

GracefulStop::GracefulStop(fuse_session* se, StopSignals& signals, StopPlan plan)
    : se_(se),
      signals_(signals),
      plan_(std::move(plan)),
      loop_thread_(::pthread_self()),
      loop_done_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (loop_done_.valid()) thread_ = std::thread([this] { run(); });
}

GracefulStop::~GracefulStop() { loop_returned(); }

void GracefulStop::loop_returned() {
  {
    std::lock_guard lock(mutex_);
    returned_ = true;
  }
  returned_cv_.notify_all();
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(loop_done_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void GracefulStop::run() {
  // Otherwise the loop ended by itself (unmounted from outside, or an error).
  if (wait_readable({signals_.fd(), loop_done_.get()}, std::nullopt) != 0) return;
  const int sig = signals_.take();
  sd_notify(0, "STOPPING=1");
  hand_over_kernel_cache(sig);
  stop_loop();
}

void GracefulStop::hand_over_kernel_cache(int sig) {
  const std::vector<std::string> files = plan_.open_files ? plan_.open_files() : std::vector<std::string>{};
  log::info("stopping on " + signal_name(sig) + ": handing the kernel's cached writes to the daemon (" +
            std::to_string(files.size()) + " open recording(s))");
  const auto started = Clock::now();
  hand_over_ = MountSync::once(plan_.mount_point, files);
  if (!hand_over_) return;
  const auto deadline = started + plan_.flush_deadline;
  for (;;) {
    switch (wait_readable({hand_over_->exit_fd(), signals_.fd(), loop_done_.get()}, deadline)) {
      case 0: {
        const auto status = hand_over_->try_reap();
        if (!status) continue;
        if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) {
          log::info("the kernel handed over its cached writes in " + millis(Clock::now() - started));
        } else {
          log::warn("handing over the kernel's cached writes failed (status " + std::to_string(*status) + ")");
        }
        return;
      }
      case 1:
        signals_.take();
        log::warn("second stop signal: stopping without waiting for the kernel's cached writes");
        return;
      case 2:
        return;  // the loop ended meanwhile
      default:
        log::warn("the kernel did not hand over its cached writes within " + millis(plan_.flush_deadline) +
                  "; stopping anyway");
        return;
    }
  }
}

void GracefulStop::stop_loop() {
  fuse_session_exit(se_);
  // The loop thread sleeps in sem_wait() until a worker ends; a signal
  // (handled without SA_RESTART) makes it look at the exit flag. Repeated, in
  // case it arrives just before the thread goes back to sleep.
  std::unique_lock lock(mutex_);
  while (!returned_) {
    ::pthread_kill(loop_thread_, SIGTERM);
    returned_cv_.wait_for(lock, std::chrono::milliseconds(50));
  }
}

}  // namespace recvault::daemon
