// The parts of a re-encryption job shared by reencrypt.cpp (the jobs, their
// state and audit) and reencrypt_walk.cpp (the walk that rewrites).
#pragma once

#include <chrono>
#include <string>
#include <thread>

#include "recvault/daemon/reencrypt.hpp"
#include "recvault/util/mutex.hpp"

namespace recvault::daemon {

struct Reencryptor::Job {
  using Clock = std::chrono::steady_clock;
  Mutex m;  // a leaf: held only to read or change `progress` and `stop`
  CondVar wake;
  JobProgress progress RV_GUARDED_BY(m);
  bool stop RV_GUARDED_BY(m) = false;       // shutdown or cancel
  bool cancelled RV_GUARDED_BY(m) = false;  // by the API (not a shutdown)
  std::string cancelled_by RV_GUARDED_BY(m);
  std::thread thread;  // started under the Reencryptor's mutex_, joined by stop()

  bool stopping() RV_EXCLUDES(m) {
    MutexLock lock(m);
    return stop;
  }
  // Sleeps until `until` or a stop; false when stopped.
  bool sleep_until(Clock::time_point until) RV_EXCLUDES(m) {
    MutexLock lock(m);
    const auto left = until - Clock::now();
    if (left <= Clock::duration::zero()) return !stop;
    return !wake.wait_for(m, left, [this]() RV_REQUIRES(m) { return stop; });
  }
};

}  // namespace recvault::daemon
