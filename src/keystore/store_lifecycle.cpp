// The key lifecycle half of the Store (docs/KEYSTORE.md "Key lifecycle"):
// legal hold, scheduling and cancelling a destruction, and running the due
// ones. The destruction is the one code path that deletes key versions.
#include <functional>

#include "records.hpp"
#include "recvault/keystore/account_id.hpp"
#include "store_impl.hpp"

namespace recvault::keystore {

using engine::Table;

namespace {

Error never_configured(std::string_view account) {
  return make_error(Errc::not_found, "account " + std::string(account) + " has no configuration");
}

}  // namespace

// Reads the account, lets `change` modify it (false: nothing to write), and
// writes the account record back, deleting the version records `change`
// listed: one transaction.
Result<AccountConfig> Store::Impl::change_account(std::string_view account, const AccountChange& change) {
  RV_TRY(validate_account_id(account));
  if (engine->read_only()) return make_error(Errc::conflict, "keystore is open read-only");
  std::optional<AccountConfig> result;
  RV_TRY(with_writer([&](engine::Writer& w) -> Result<bool> {
    auto current = load_config(w, account);
    RV_TRY(current);
    if (!*current) return never_configured(account);
    AccountConfig next = std::move(**current);
    std::vector<std::uint32_t> remove;
    auto write = change(next, remove);
    RV_TRY(write);
    result = std::move(next);
    if (!*write) return false;
    for (std::uint32_t v : remove) RV_TRY(w.del(Table::versions, records::version_key(account, v)));
    RV_TRY(w.put(Table::accounts, account, records::encode_account(*result), false));
    return true;
  }));
  return std::move(*result);
}

Result<AccountConfig> Store::set_legal_hold(std::string_view account, bool hold) {
  return impl_->change_account(account, [&](AccountConfig& c, std::vector<std::uint32_t>&) -> Result<bool> {
    if (c.legal_hold == hold) return false;
    c.legal_hold = hold;
    c.updated_at = impl_->options.clock();
    return true;
  });
}

Result<AccountConfig> Store::schedule_destruction(std::string_view account, ScheduledDestruction::Scope scope,
                                                  std::chrono::seconds delay, std::string_view requested_by) {
  return impl_->change_account(account, [&](AccountConfig& c, std::vector<std::uint32_t>&) -> Result<bool> {
    if (c.legal_hold)
      return make_error(Errc::conflict, "account " + std::string(account) +
                                            " is under legal hold: no key destruction can be scheduled");
    if (c.destruction)
      return make_error(Errc::conflict,
                        "a destruction is already scheduled for account " + std::string(account) + "; cancel it first");
    ScheduledDestruction d;
    d.scope = scope;
    if (scope == ScheduledDestruction::Scope::versions) {
      if (c.min_decryption_version <= c.destroyed_through + 1)
        return make_error(Errc::conflict, "no key version of account " + std::string(account) +
                                              " is below min_decryption_version; raise it first");
      d.through = c.min_decryption_version - 1;
    } else {
      if (!c.has_key_material())
        return make_error(Errc::conflict, "account " + std::string(account) + " has no key left to destroy");
      d.through = c.key_version;
    }
    const Timestamp now = impl_->options.clock();
    d.requested_at = now;
    d.execute_at = now + delay;
    d.requested_by = std::string(requested_by);
    c.destruction = std::move(d);
    c.updated_at = now;
    return true;
  });
}

Result<AccountConfig> Store::cancel_destruction(std::string_view account) {
  return impl_->change_account(account, [&](AccountConfig& c, std::vector<std::uint32_t>&) -> Result<bool> {
    if (!c.destruction)
      return make_error(Errc::not_found, "no destruction is scheduled for account " + std::string(account));
    c.destruction.reset();
    c.updated_at = impl_->options.clock();
    return true;
  });
}

Result<std::vector<Store::Destroyed>> Store::run_due_destructions() {
  std::vector<Destroyed> done;
  if (impl_->engine->read_only()) return done;
  RV_ASSIGN(auto accounts, list_accounts());
  for (const auto& account : accounts) {
    // A cheap look at the account record first: most accounts have nothing due.
    {
      RV_ASSIGN(auto r, impl_->engine->read());
      RV_ASSIGN(auto rec, r->get(Table::accounts, account));
      if (!rec) continue;
      AccountConfig c;
      if (!records::decode_account(*rec, c) || !c.destruction || c.legal_hold) continue;
      if (c.destruction->execute_at > impl_->options.clock()) continue;
    }
    std::optional<Destroyed> did;
    auto changed =
        impl_->change_account(account, [&](AccountConfig& c, std::vector<std::uint32_t>& remove) -> Result<bool> {
          did.reset();
          const Timestamp now = impl_->options.clock();
          // Read again inside the transaction: another host may have run it, a
          // hold may have been placed, or it may have been cancelled meanwhile.
          if (!c.destruction || c.legal_hold || c.destruction->execute_at > now) return false;
          Destroyed d{account, c.destruction->scope, c.destroyed_through + 1, 0};
          d.through = d.scope == ScheduledDestruction::Scope::account ? c.key_version : c.destruction->through;
          if (d.through < d.from) {
            c.destruction.reset();
            return true;
          }
          for (std::uint32_t v = d.from; v <= d.through; ++v) remove.push_back(v);
          c.destroyed_through = d.through;
          c.destruction.reset();
          if (d.scope == ScheduledDestruction::Scope::account) {
            c.enabled = false;
            c.min_decryption_version = 0;
          }
          c.updated_at = now;
          did = d;
          return true;
        });
    RV_TRY(changed);
    if (did) done.push_back(std::move(*did));
  }
  return done;
}

}  // namespace recvault::keystore
