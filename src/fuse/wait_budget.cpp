#include "recvault/fuse/wait_budget.hpp"

namespace recvault::fuse {

std::optional<WaitBudget::Ticket> WaitBudget::try_take(const std::string& account) {
  MutexLock lock(mutex_);
  unsigned& n = waiting_[account];
  if (n >= per_account_) return std::nullopt;
  ++n;
  return std::optional<Ticket>(std::in_place, *this, account);
}

void WaitBudget::give_back(const std::string& account) {
  MutexLock lock(mutex_);
  auto it = waiting_.find(account);
  if (it == waiting_.end()) return;
  if (--it->second == 0) waiting_.erase(it);
}

}  // namespace recvault::fuse
