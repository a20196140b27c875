#include "recvault/daemon/pgp_backend.hpp"

#include <sys/xattr.h>

#include <algorithm>
#include <cctype>

#include "recvault/keystore/account_config.hpp"
#include "recvault/pgp/xattrs.hpp"

namespace recvault::daemon {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

Status DirectoryKeys::change_directory_key(const std::string& account, std::string_view public_key_id,
                                           const std::function<Status(std::string_view id)>& apply) {
  MutexLock lock(mutex_);
  if (public_key_id.empty()) return apply("");
  if (sealer_ == nullptr) return make_error(Errc::unsupported, "OpenPGP sealing is not configured");
  // The key must exist, belong to this account and encrypt today (imported now).
  auto recipient = sealer_->recipient(account, public_key_id);
  if (!recipient) {
    auto e = std::move(recipient).error();
    if (e.code == Errc::not_found) e.code = Errc::invalid_argument;
    return e;
  }
  return apply(recipient->public_key_id);
}

Status DirectoryKeys::with_keys_locked(const std::function<Status()>& fn) {
  MutexLock lock(mutex_);
  return fn();
}

Result<std::vector<std::string>> DirectoryKeys::directories_using(const std::string& account,
                                                                  std::string_view public_key_id) const {
  namespace fs = std::filesystem;
  const std::string want = lower(public_key_id);
  const fs::path top = backing_dir_ / account;
  std::vector<std::string> out;
  auto check = [&](const fs::path& p) {
    char buf[128];
    ssize_t n = ::lgetxattr(p.c_str(), pgp::xattr::public_key_id, buf, sizeof buf);
    if (n > 0 && lower(std::string_view(buf, static_cast<std::size_t>(n))) == want) {
      out.push_back(p.lexically_relative(backing_dir_).string());
    }
  };
  std::error_code ec;
  if (!fs::is_directory(fs::symlink_status(top, ec))) return out;
  check(top);
  fs::recursive_directory_iterator it(top, fs::directory_options::skip_permission_denied, ec), end;
  if (ec) return make_error(Errc::io, "scan " + account + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return make_error(Errc::io, "scan " + account + ": " + ec.message());
    if (it->is_directory(ec) && !it->is_symlink(ec)) check(it->path());
  }
  return out;
}

Result<nlohmann::json> PgpAwareBackend::update_config(std::string_view account, const nlohmann::json& request) {
  // Fail at configuration, not at the next recording's create (EIO). Only
  // "gpg cannot encrypt to it" is decided here: a malformed request or an
  // unknown id gets the keystore's answer, and a gpg failure must not block
  // configuration.
  auto parsed = keystore::parse_update_request(request);
  if (sealer_ != nullptr && parsed && parsed->public_key_id && !parsed->public_key_id->empty() &&
      inner_.validate_account_id(account)) {
    std::string id = *parsed->public_key_id;
    id = lower(id);
    auto usable = sealer_->recipient(account, id);
    if (!usable && usable.error().code == Errc::invalid_argument) return std::move(usable).error();
  }
  return inner_.update_config(account, request);
}

Status PgpAwareBackend::delete_public_key(std::string_view account, std::string_view id) {
  RV_TRY(inner_.validate_account_id(account));
  // Scan and delete under the directory-key lock: no override can name the
  // key between the check and the deletion.
  return directories_.with_keys_locked([&]() -> Status {
    auto dirs = directories_.directories_using(std::string(account), id);
    RV_TRY(dirs);
    if (!dirs->empty()) {
      std::string names;
      for (const auto& d : *dirs) names += (names.empty() ? "" : ", ") + d;
      return make_error(Errc::conflict, "public key " + std::string(id) + " is in use by directory(ies): " + names +
                                            " (remove their user.recvault.public_key_id first)");
    }
    return inner_.delete_public_key(account, id);
  });
}

}  // namespace recvault::daemon
