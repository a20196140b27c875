#include "recvault/fuse/names.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "recvault/util/encoding.hpp"
#include "recvault/util/log.hpp"

namespace recvault::fuse {
namespace {

bool exists_at(int dir_fd, const std::string& name) {
  struct stat st {};
  return ::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

// Whether `name` belongs to the directory IV file (the file itself, or a
// temporary one a crash left while creating it).
bool is_dir_iv_entry(std::string_view name) { return name.substr(0, format::kDirIvName.size()) == format::kDirIvName; }

// Writes `contents` as the IV file of `dir_fd`: into a temporary file,
// fsynced, then linked into place, so that the file is whole or absent and
// a second writer (another thread or host) loses with EEXIST.
int publish_dir_iv(int dir_fd, const std::string& contents) {
  std::array<std::uint8_t, 8> rnd{};
  if (!crypto::random_bytes(rnd).ok()) return EIO;
  const std::string tmp = std::string(format::kDirIvName) + ".tmp-" + hex_encode(rnd);
  sys::UniqueFd fd(::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444));
  if (!fd.valid()) return errno;
  int err = 0;
  if (::write(fd.get(), contents.data(), contents.size()) != static_cast<ssize_t>(contents.size()))
    err = errno != 0 ? errno : EIO;
  if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
  fd.reset();
  if (err == 0 && ::linkat(dir_fd, tmp.c_str(), dir_fd, std::string(format::kDirIvName).c_str(), 0) != 0) err = errno;
  ::unlinkat(dir_fd, tmp.c_str(), 0);
  return err;
}

}  // namespace

NameLayer::AccountKeys NameLayer::account_keys(const std::string& account) {
  AccountKeys out;
  auto cur = keys_.current(account);
  if (!cur) return out;  // never configured: plain names only
  out.encrypt = cur->name_encryption;
  out.current = cur->spec.key_version;
  out.salts = std::move(cur->salts);
  return out;
}

Result<std::shared_ptr<const format::NameKey>> NameLayer::name_key(const std::string& account, std::uint32_t version,
                                                                   const std::string& salt) {
  {
    MutexLock lock(mutex_);
    auto it = name_keys_.find({account, version});
    if (it != name_keys_.end()) return it->second;
  }
  auto vk = keys_.version_key(account, version, salt);
  RV_TRY(vk);
  auto nk = format::NameKey::derive(**vk, version);
  RV_TRY(nk);
  auto shared = std::make_shared<const format::NameKey>(std::move(nk).value());
  MutexLock lock(mutex_);
  return name_keys_.emplace(std::make_pair(account, version), shared).first->second;
}

Result<std::optional<format::DirIv>> NameLayer::dir_iv(Inode& dir) {
  {
    MutexLock lock(dir.m);
    if (dir.dir_iv) return std::optional<format::DirIv>(*dir.dir_iv);
  }
  auto iv = format::read_dir_iv(dir.fd.get());
  RV_TRY(iv);
  if (*iv) {
    MutexLock lock(dir.m);
    dir.dir_iv = **iv;
  }
  return iv;
}

Result<format::DirIv> NameLayer::ensure_dir_iv(Inode& dir) {
  auto iv = dir_iv(dir);
  RV_TRY(iv);
  if (*iv) return **iv;
  auto contents = format::new_dir_iv_file();
  RV_TRY(contents);
  int err = publish_dir_iv(dir.fd.get(), *contents);
  if (err != 0 && err != EEXIST) return sys_error("create " + std::string(format::kDirIvName), err);
  // Ours, or the one that won the race: read back what is on disk.
  auto again = dir_iv(dir);
  RV_TRY(again);
  if (!*again) return make_error(Errc::io, std::string(format::kDirIvName) + " vanished");
  return **again;
}

std::vector<std::string> NameLayer::encrypted_forms(const std::string& account, const AccountKeys& keys,
                                                    const format::DirIv& iv, std::string_view name, bool current_only,
                                                    bool skip_current) {
  std::vector<std::string> out;
  if (name.size() > format::kMaxEncryptedName) return out;
  for (auto it = keys.salts.rbegin(); it != keys.salts.rend(); ++it) {
    const bool is_current = it->first == keys.current;
    if ((current_only && !is_current) || (skip_current && is_current)) continue;
    auto nk = name_key(account, it->first, it->second);
    if (!nk) {
      log::warn("names of " + account + " key version " + std::to_string(it->first) +
                " cannot be read: " + nk.error().message);
      continue;
    }
    auto enc = format::encrypt_name(**nk, iv, name);
    if (enc) out.push_back(std::move(enc).value());
  }
  return out;
}

int NameLayer::with_existing(Inode& dir, std::string_view name,
                             const std::function<int(const std::string& backing)>& op) {
  // The account's keys only when the directory has an IV: a lookup in a
  // directory without encrypted names derives no key (a cold start reads
  // old recordings without deriving the current version).
  std::optional<format::DirIv> known;
  {
    MutexLock lock(dir.m);
    if (dir.dir_iv) known = *dir.dir_iv;
  }
  std::optional<AccountKeys> keys;
  bool tried_current = false;
  if (known) {
    keys = account_keys(dir.account);
    if (keys->encrypt) {
      for (const auto& form : encrypted_forms(dir.account, *keys, *known, name, true, false)) {
        if (int r = op(form); r != ENOENT) return r;
      }
      tried_current = true;
    }
  }
  if (!format::is_reserved_name(name)) {
    if (int r = op(std::string(name)); r != ENOENT) return r;
  }
  auto iv = dir_iv(dir);
  if (!iv) return iv.error().to_errno();
  if (!*iv) return ENOENT;
  if (!keys) keys = account_keys(dir.account);
  for (const auto& form : encrypted_forms(dir.account, *keys, **iv, name, false, tried_current)) {
    if (int r = op(form); r != ENOENT) return r;
  }
  return ENOENT;
}

int NameLayer::find(Inode& dir, std::string_view name, std::string& backing) {
  return with_existing(dir, name, [&](const std::string& form) {
    if (!exists_at(dir.fd.get(), form)) return ENOENT;
    backing = form;
    return 0;
  });
}

int NameLayer::new_name(Inode& dir, std::string_view name, std::string& backing) {
  std::string existing;
  if (int r = find(dir, name, existing); r != ENOENT) return r == 0 ? EEXIST : r;
  const AccountKeys keys = account_keys(dir.account);
  if (!keys.encrypt) {
    if (format::is_reserved_name(name)) return EINVAL;
    backing = std::string(name);
    return 0;
  }
  if (name.size() > format::kMaxEncryptedName) return ENAMETOOLONG;
  auto iv = ensure_dir_iv(dir);
  if (!iv) return iv.error().to_errno();
  auto salt = keys.salts.find(keys.current);
  if (salt == keys.salts.end()) return EIO;
  auto nk = name_key(dir.account, keys.current, salt->second);
  if (!nk) return nk.error().to_errno();
  auto enc = format::encrypt_name(**nk, *iv, name);
  if (!enc) return enc.error().code == Errc::too_large ? ENAMETOOLONG : EINVAL;
  backing = std::move(enc).value();
  return 0;
}

std::optional<std::string> NameLayer::shown_name(const std::string& account, std::optional<format::DirIv>& iv,
                                                 const std::function<Result<std::optional<format::DirIv>>()>& load_iv,
                                                 std::string_view backing, const std::string& where) {
  if (format::is_internal_entry(backing)) return std::nullopt;
  auto form = format::parse_encrypted_name(backing);
  if (!form) return std::string(backing);
  if (!iv) {
    auto loaded = load_iv();
    if (!loaded || !*loaded) {
      log::error("readdir " + where + ": encrypted name " + std::string(backing) + " in a directory without " +
                 std::string(format::kDirIvName) + ": not shown");
      return std::nullopt;
    }
    iv = **loaded;
  }
  const AccountKeys keys = account_keys(account);
  auto salt = keys.salts.find(form->key_version);
  Result<std::string> plain =
      make_error(Errc::key_unavailable, "the account has no key version " + std::to_string(form->key_version));
  if (salt != keys.salts.end()) {
    auto nk = name_key(account, form->key_version, salt->second);
    plain = nk ? format::decrypt_name(**nk, *iv, backing) : Result<std::string>(nk.error());
  }
  if (!plain) {
    log::error("readdir " + where + ": name " + std::string(backing) + ": " + errc_name(plain.error().code) + ": " +
               plain.error().message + ": not shown");
    return std::nullopt;
  }
  return std::move(plain).value();
}

int NameLayer::stored_target(const std::string& account, std::string_view target, std::string& out) {
  const AccountKeys keys = account_keys(account);
  if (!keys.encrypt) {
    if (format::parse_encrypted_name(target)) return EINVAL;
    out = std::string(target);
    return 0;
  }
  auto salt = keys.salts.find(keys.current);
  if (salt == keys.salts.end()) return EIO;
  auto nk = name_key(account, keys.current, salt->second);
  if (!nk) return nk.error().to_errno();
  auto enc = format::encrypt_target(**nk, target);
  if (!enc) return enc.error().code == Errc::too_large ? ENAMETOOLONG : EINVAL;
  out = std::move(enc).value();
  return 0;
}

Result<std::string> NameLayer::shown_target(const std::string& account, std::string_view stored) {
  auto form = format::parse_encrypted_name(stored);
  if (!form) return std::string(stored);
  const AccountKeys keys = account_keys(account);
  auto salt = keys.salts.find(form->key_version);
  if (salt == keys.salts.end()) {
    return make_error(Errc::key_unavailable, "symlink target of key version " + std::to_string(form->key_version) +
                                                 ", which the account does not have");
  }
  auto nk = name_key(account, form->key_version, salt->second);
  RV_TRY(nk);
  return format::decrypt_target(**nk, stored);
}

int NameLayer::without_dir_iv(int parent_fd, const std::string& backing, const std::function<int()>& op) {
  const int first = op();
  if (first != ENOTEMPTY && first != EEXIST) return first;
  sys::UniqueFd dir(::openat(parent_fd, backing.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return first;
  // Only the IV file (and leftovers of creating it) may remain.
  std::vector<std::string> iv_entries;
  {
    DIR* dp = ::fdopendir(::dup(dir.get()));
    if (dp == nullptr) return first;
    bool other = false;
    while (dirent* ent = ::readdir(dp)) {
      std::string_view n = ent->d_name;
      if (n == "." || n == "..") continue;
      if (is_dir_iv_entry(n)) {
        iv_entries.emplace_back(n);
      } else {
        other = true;
      }
    }
    ::closedir(dp);
    if (other || iv_entries.empty()) return first;
  }
  std::string contents;
  {
    sys::UniqueFd f(::openat(dir.get(), std::string(format::kDirIvName).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    char buf[format::kDirIvFileSize];
    ssize_t n = f.valid() ? ::read(f.get(), buf, sizeof buf) : -1;
    if (n > 0) contents.assign(buf, static_cast<std::size_t>(n));
  }
  for (const auto& e : iv_entries) ::unlinkat(dir.get(), e.c_str(), 0);
  const int err = op();
  // Someone created an entry meanwhile: the IV file comes back, the same.
  if (err != 0 && !contents.empty() && publish_dir_iv(dir.get(), contents) != 0) {
    log::error("could not restore " + std::string(format::kDirIvName) + " of a directory that stayed");
  }
  return err;
}

int NameLayer::remove_directory(int parent_fd, const std::string& backing) {
  return without_dir_iv(parent_fd, backing,
                        [&] { return ::unlinkat(parent_fd, backing.c_str(), AT_REMOVEDIR) == 0 ? 0 : errno; });
}

}  // namespace recvault::fuse
