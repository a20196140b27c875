#include "tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <vector>

#include "exit_codes.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::tools {
namespace {

class TreeRun {
 public:
  explicit TreeRun(const TreeOptions& o) : o_(o) {}

  int run() {
    struct stat st {};
    if (::lstat(o_.source.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return failure(o_.source, exit_io, "not a directory");
    }
    if (::mkdir(o_.destination.c_str(), 0700) != 0 && errno != EEXIST) {
      return failure(o_.destination, exit_io, std::strerror(errno));
    }
    directory(o_.source, o_.destination);
    return first_;
  }

 private:
  int failure(const std::string& where, int code, const std::string& why) {
    std::cerr << "recvault-decrypt: " << where << ": " << exit_label(code) << ": " << why << '\n';
    if (first_ == exit_ok) first_ = code;
    return code;
  }

  // The plaintext of backing name `name` in a directory with IV `iv`.
  std::optional<std::string> plain_name(const std::string& dir, std::optional<format::DirIv>& iv,
                                        const std::string& name) {
    auto form = format::parse_encrypted_name(name);
    if (!form) return name;
    if (!iv) {
      failure(dir + "/" + name, exit_tampered,
              "an encrypted name in a directory without " + std::string(format::kDirIvName));
      return std::nullopt;
    }
    auto key = o_.name_key(form->key_version);
    if (!key) {
      failure(dir + "/" + name, exit_code_for(key.error().code), key.error().message);
      return std::nullopt;
    }
    auto plain = format::decrypt_name(**key, *iv, name);
    if (!plain) {
      failure(dir + "/" + name, exit_code_for(plain.error().code), plain.error().message);
      return std::nullopt;
    }
    return std::move(plain).value();
  }

  Result<std::optional<format::DirIv>> read_iv(const std::string& dir) {
    sys::UniqueFd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      int e = errno;
      return sys_error("open " + dir, e);
    }
    return format::read_dir_iv(fd.get());
  }

  void symlink(const std::string& from, const std::string& to) {
    std::vector<char> buf(PATH_MAX + 1);
    ssize_t n = ::readlink(from.c_str(), buf.data(), buf.size());
    if (n < 0 || static_cast<std::size_t>(n) >= buf.size()) {
      failure(from, exit_io, n < 0 ? std::strerror(errno) : "target too long");
      return;
    }
    std::string target(buf.data(), static_cast<std::size_t>(n));
    if (auto form = format::parse_encrypted_name(target)) {
      auto key = o_.name_key(form->key_version);
      auto plain = key ? format::decrypt_target(**key, target) : Result<std::string>(key.error());
      if (!plain) {
        failure(from, exit_code_for(plain.error().code), "symlink target: " + plain.error().message);
        return;
      }
      target = std::move(plain).value();
    }
    if (::symlink(target.c_str(), to.c_str()) != 0) failure(to, exit_io, std::strerror(errno));
  }

  void file(const std::string& from, const std::string& to) {
    RunOptions r;
    r.input = from;
    r.out = to;
    r.strict = o_.strict;
    r.allow_plain = true;  // recordings from before encryption was enabled
    r.resolve = o_.resolve;
    r.notes = o_.notes;
    if (int code = run_decrypt(r); code != exit_ok && first_ == exit_ok) first_ = code;
  }

  void directory(const std::string& from, const std::string& to) {
    auto iv = read_iv(from);
    if (!iv) {
      failure(from, exit_code_for(iv.error().code), iv.error().message);
      iv = std::optional<format::DirIv>();
    }
    std::vector<std::string> names;
    {
      DIR* dp = ::opendir(from.c_str());
      if (dp == nullptr) {
        failure(from, exit_io, std::strerror(errno));
        return;
      }
      while (dirent* ent = ::readdir(dp)) {
        std::string_view n = ent->d_name;
        if (n == "." || n == ".." || n.substr(0, format::kDirIvName.size()) == format::kDirIvName) continue;
        names.emplace_back(n);
      }
      ::closedir(dp);
    }
    std::sort(names.begin(), names.end());
    std::map<std::string, std::string> seen;  // plaintext -> backing, to catch two entries of one name
    for (const auto& name : names) {
      auto plain = plain_name(from, *iv, name);
      if (!plain) continue;
      const std::string src = from + "/" + name;
      if (auto [it, fresh] = seen.emplace(*plain, name); !fresh) {
        failure(src, exit_tampered, "decrypts to \"" + *plain + "\", as " + it->second + " does");
        continue;
      }
      const std::string dst = to + "/" + *plain;
      struct stat st {};
      if (::lstat(src.c_str(), &st) != 0) {
        failure(src, exit_io, std::strerror(errno));
        continue;
      }
      if (S_ISDIR(st.st_mode)) {
        if (::mkdir(dst.c_str(), 0700) != 0 && errno != EEXIST) {
          failure(dst, exit_io, std::strerror(errno));
          continue;
        }
        directory(src, dst);
      } else if (S_ISLNK(st.st_mode)) {
        symlink(src, dst);
      } else if (S_ISREG(st.st_mode)) {
        file(src, dst);
      } else {
        std::cerr << "recvault-decrypt: " << src << ": skipped (not a file, directory or symlink)\n";
      }
    }
  }

  const TreeOptions& o_;
  int first_ = exit_ok;
};

}  // namespace

NameKeyFor name_keys_from(const format::KeyResolver& resolve,
                          std::function<std::optional<std::string>(std::uint32_t version)> salt_for) {
  auto cache = std::make_shared<std::map<std::uint32_t, std::shared_ptr<const format::NameKey>>>();
  return [resolve, salt_for = std::move(salt_for),
          cache](std::uint32_t version) -> Result<std::shared_ptr<const format::NameKey>> {
    if (auto it = cache->find(version); it != cache->end()) return it->second;
    auto salt = salt_for(version);
    if (!salt) {
      return make_error(Errc::key_unavailable, "the salt of key version " + std::to_string(version) +
                                                   " is needed for names: give --salt or a --config export");
    }
    format::Header h;  // names use the version key with the default scrypt parameters
    h.key_version = version;
    h.salt = *salt;
    auto vk = resolve(h);
    RV_TRY(vk);
    auto nk = format::NameKey::derive(**vk, version);
    RV_TRY(nk);
    auto shared = std::make_shared<const format::NameKey>(std::move(nk).value());
    cache->emplace(version, shared);
    return shared;
  };
}

int run_tree(const TreeOptions& o) { return TreeRun(o).run(); }

}  // namespace recvault::tools
