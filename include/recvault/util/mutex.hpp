// Mutexes that Clang's thread-safety analysis can check (-Wthread-safety,
// on in the clang build CI runs): a member says which mutex guards it
// (RV_GUARDED_BY), a function which mutex it needs held (RV_REQUIRES), a
// mutex which ones are taken before it (RV_ACQUIRED_AFTER). With other
// compilers the annotations are empty and these are plain std mutexes.
//
// The data plane's lock order is listed once, in docs/ARCHITECTURE.md
// "Locks", and declared with these annotations next to each mutex.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define RV_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define RV_THREAD_ANNOTATION_(x)
#endif

#define RV_CAPABILITY(x) RV_THREAD_ANNOTATION_(capability(x))
#define RV_SCOPED_CAPABILITY RV_THREAD_ANNOTATION_(scoped_lockable)
#define RV_GUARDED_BY(x) RV_THREAD_ANNOTATION_(guarded_by(x))
#define RV_PT_GUARDED_BY(x) RV_THREAD_ANNOTATION_(pt_guarded_by(x))
#define RV_ACQUIRED_BEFORE(...) RV_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))
#define RV_ACQUIRED_AFTER(...) RV_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))
#define RV_REQUIRES(...) RV_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#define RV_REQUIRES_SHARED(...) RV_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))
#define RV_ACQUIRE(...) RV_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#define RV_ACQUIRE_SHARED(...) RV_THREAD_ANNOTATION_(acquire_shared_capability(__VA_ARGS__))
#define RV_RELEASE(...) RV_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#define RV_RELEASE_SHARED(...) RV_THREAD_ANNOTATION_(release_shared_capability(__VA_ARGS__))
#define RV_RELEASE_GENERIC(...) RV_THREAD_ANNOTATION_(release_generic_capability(__VA_ARGS__))
#define RV_TRY_ACQUIRE(...) RV_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
#define RV_TRY_ACQUIRE_SHARED(...) RV_THREAD_ANNOTATION_(try_acquire_shared_capability(__VA_ARGS__))
#define RV_EXCLUDES(...) RV_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#define RV_RETURN_CAPABILITY(x) RV_THREAD_ANNOTATION_(lock_returned(x))
#define RV_NO_THREAD_SAFETY_ANALYSIS RV_THREAD_ANNOTATION_(no_thread_safety_analysis)

namespace recvault {

// Tag: the scoped lock takes over a mutex the caller has just locked (after
// a try_lock that succeeded).
struct AdoptLock {};
inline constexpr AdoptLock kAdoptLock{};

class RV_CAPABILITY("mutex") Mutex {
 public:
  void lock() RV_ACQUIRE() { m_.lock(); }
  void unlock() RV_RELEASE() { m_.unlock(); }
  bool try_lock() RV_TRY_ACQUIRE(true) { return m_.try_lock(); }
  // For std::condition_variable (CondVar below); not for locking by hand.
  std::mutex& native() RV_RETURN_CAPABILITY(this) { return m_; }

 private:
  std::mutex m_;
};

// Exclusive for writers, shared for readers; try_lock_for bounds a wait.
class RV_CAPABILITY("mutex") SharedMutex {
 public:
  void lock() RV_ACQUIRE() { m_.lock(); }
  void unlock() RV_RELEASE() { m_.unlock(); }
  void lock_shared() RV_ACQUIRE_SHARED() { m_.lock_shared(); }
  void unlock_shared() RV_RELEASE_SHARED() { m_.unlock_shared(); }
  bool try_lock_shared() RV_TRY_ACQUIRE_SHARED(true) { return m_.try_lock_shared(); }
  bool try_lock() RV_TRY_ACQUIRE(true) { return m_.try_lock(); }
  template <class Rep, class Period>
  bool try_lock_for(std::chrono::duration<Rep, Period> d) RV_TRY_ACQUIRE(true) {
    return m_.try_lock_for(d);
  }

 private:
  std::shared_timed_mutex m_;
};

// Holds a Mutex or a SharedMutex exclusively for a scope.
template <class M>
class RV_SCOPED_CAPABILITY ExclusiveLock {
 public:
  explicit ExclusiveLock(M& m) RV_ACQUIRE(m) : m_(m) { m_.lock(); }
  ExclusiveLock(M& m, AdoptLock) RV_REQUIRES(m) : m_(m) {}
  ~ExclusiveLock() RV_RELEASE() { m_.unlock(); }
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;

 private:
  M& m_;
};
using MutexLock = ExclusiveLock<Mutex>;

// Holds a SharedMutex shared for a scope.
class RV_SCOPED_CAPABILITY SharedLock {
 public:
  explicit SharedLock(SharedMutex& m) RV_ACQUIRE_SHARED(m) : m_(m) { m_.lock_shared(); }
  SharedLock(SharedMutex& m, AdoptLock) RV_REQUIRES_SHARED(m) : m_(m) {}
  ~SharedLock() RV_RELEASE() { m_.unlock_shared(); }
  SharedLock(const SharedLock&) = delete;
  SharedLock& operator=(const SharedLock&) = delete;

 private:
  SharedMutex& m_;
};

// A condition variable over a held Mutex.
class CondVar {
 public:
  void notify_all() noexcept { cv_.notify_all(); }
  void notify_one() noexcept { cv_.notify_one(); }
  // Waits up to `d` or until `stop()`; true when stop() held. `m` is held
  // on entry and on return.
  template <class Rep, class Period, class Pred>
  bool wait_for(Mutex& m, std::chrono::duration<Rep, Period> d, Pred stop) RV_REQUIRES(m) {
    std::unique_lock<std::mutex> lock(m.native(), std::adopt_lock);
    const bool done = cv_.wait_for(lock, d, std::move(stop));
    lock.release();  // still held: the caller's scope owns it
    return done;
  }

 private:
  std::condition_variable cv_;
};

}  // namespace recvault
