// Fairness between accounts for the FUSE worker pool.
//
// libfuse serves every account from one pool of worker threads
// ([fuse] max_threads). A request that may wait (an OpenPGP recording's
// write that arrived ahead of the writes before it waits for them, up to
// its reorder window) holds a worker meanwhile; a tenant who sends many such
// requests on purpose could hold every worker and stall every other
// account. So each account may hold at most `per_account` workers in such a
// wait at once; a request over that budget is answered at once (an error
// for that account's request), never queued behind others.
//
// Thread safety: every member may be called from any thread.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "recvault/util/mutex.hpp"

namespace recvault::fuse {

class WaitBudget {
 public:
  explicit WaitBudget(unsigned per_account) : per_account_(per_account == 0 ? 1 : per_account) {}
  WaitBudget(const WaitBudget&) = delete;
  WaitBudget& operator=(const WaitBudget&) = delete;

  // A worker of one account allowed to wait; gives its place back when destroyed.
  class Ticket {
   public:
    Ticket(WaitBudget& budget, std::string account) : budget_(&budget), account_(std::move(account)) {}
    Ticket(Ticket&& o) noexcept : budget_(o.budget_), account_(std::move(o.account_)) { o.budget_ = nullptr; }
    Ticket& operator=(Ticket&&) = delete;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() {
      if (budget_ != nullptr) budget_->give_back(account_);
    }

   private:
    WaitBudget* budget_;
    std::string account_;
  };

  // A ticket, or nullopt when `account` already holds all of its places.
  std::optional<Ticket> try_take(const std::string& account);
  unsigned per_account() const noexcept { return per_account_; }

 private:
  void give_back(const std::string& account);

  const unsigned per_account_;
  Mutex mutex_;  // a leaf lock
  std::map<std::string, unsigned, std::less<>> waiting_ RV_GUARDED_BY(mutex_);
};

}  // namespace recvault::fuse
