#include "fsck.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "recvault/format/detect.hpp"
#include "recvault/format/encrypted_file.hpp"
#include "recvault/format/xattrs.hpp"
#include "recvault/pgp/xattrs.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::fsck {

const char* status_name(Status s) noexcept {
  switch (s) {
    case Status::sealed:
      return "sealed";
    case Status::plain:
      return "plain";
    case Status::openpgp:
      return "openpgp";
    case Status::unterminated:
      return "unterminated";
    case Status::torn_tail:
      return "torn-tail";
    case Status::writing:
      return "writing";
    case Status::tampered:
      return "tampered";
    case Status::truncated:
      return "truncated";
    case Status::wrong_key:
      return "wrong-key";
    case Status::no_key:
      return "no-key";
    case Status::unsupported:
      return "unsupported";
    case Status::error:
      return "error";
  }
  return "error";
}

bool is_damage(Status s) noexcept {
  return s != Status::sealed && s != Status::plain && s != Status::openpgp && s != Status::unterminated &&
         s != Status::torn_tail && s != Status::writing;
}

namespace {

Status status_of(const Error& e) {
  switch (e.code) {
    case Errc::tampered:
    case Errc::metadata_mismatch:
      return Status::tampered;
    case Errc::truncated:
      return Status::truncated;
    case Errc::wrong_key:
      return Status::wrong_key;
    case Errc::key_unavailable:
      return Status::no_key;
    case Errc::unsupported:
      return Status::unsupported;
    default:
      return Status::error;
  }
}

// The daemon's rule (format::detect): the magic decides, then the format
// xattr; an OpenPGP message is the one other format a file may be marked with.
Result<Status> stored_as(int fd) {
  RV_ASSIGN(auto found, format::detect(fd));
  switch (found.kind) {
    case format::Detected::Kind::plain:
      return Status::plain;
    case format::Detected::Kind::encrypted:
      return Status::sealed;  // to be verified
    case format::Detected::Kind::marked:
      break;
  }
  if (found.marker == pgp::xattr::pgp_format) return Status::openpgp;
  return make_error(Errc::unsupported, "unknown user.recvault.format value on a file without a recvault header");
}

void fill_from_verify(FileReport& r, const format::VerifyReport& v) {
  r.plaintext_size = v.plaintext_size;
  r.chunks = v.chunks;
  r.holes = v.holes;
  if (v.state == format::FileState::sealed) {
    r.status = Status::sealed;
  } else {
    r.status = v.torn_tail ? Status::torn_tail : Status::unterminated;
  }
}

// Seals an unterminated file in place, keeping its timestamps (they are the
// recording's), then fsyncs it.
recvault::Status seal_file(int fd, const format::KeyResolver& resolve) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    return sys_error("fstat", e);
  }
  RV_ASSIGN(auto f, format::EncryptedFile::open(fd, resolve));
  RV_TRY((f)->seal());
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  ::futimens(fd, times);  // best effort: a failure loses only the old mtime
  if (::fsync(fd) != 0) {
    int e = errno;
    return sys_error("fsync", e);
  }
  return {};
}

}  // namespace

FileReport check_file(const std::filesystem::path& file, const std::string& account, const format::KeyResolver& resolve,
                      const Options& options) {
  FileReport r;
  r.path = file;
  r.account = account;
  sys::UniqueFd fd(::open(file.c_str(), (options.seal ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    int e = errno;
    r.detail = sys_error("open", e).message;
    return r;
  }
  // A live writer's lock (another host's recvaultd on shared storage): the
  // file changes under us, so it is neither judged nor sealed. --seal keeps
  // the lock until the file is sealed and closed.
  Result<bool> busy = false;
  if (options.seal) {
    auto taken = sys::try_lock_writer(fd.get());
    busy = taken ? Result<bool>(!*taken) : Result<bool>(std::move(taken).error());
  } else {
    busy = sys::writer_lock_held_elsewhere(fd.get());
  }
  if (!busy) {
    r.detail = busy.error().message;
    return r;
  }
  if (*busy) {
    r.status = Status::writing;
    r.detail = "a live writer holds the lock on the backing file (another host records it): not checked, not sealed";
    return r;
  }
  auto stored = stored_as(fd.get());
  if (!stored) {
    r.status = status_of(stored.error());
    r.detail = stored.error().message;
    return r;
  }
  if (*stored != Status::sealed) {
    auto size = sys::file_size(fd.get());
    r.status = *stored;
    r.plaintext_size = size ? *size : 0;  // an OpenPGP message: its own size
    auto writing = sys::get_xattr(fd.get(), pgp::xattr::sealing);
    if (*stored == Status::openpgp && writing && writing->has_value()) {
      r.detail = "the OpenPGP message is incomplete (its writer stopped before the end)";
    }
    return r;
  }
  auto v = format::verify_file(fd.get(), resolve);
  if (!v) {
    r.status = status_of(v.error());
    r.detail = v.error().message;
    return r;
  }
  fill_from_verify(r, *v);
  if (options.seal && (r.status == Status::unterminated || r.status == Status::torn_tail)) {
    if (auto st = seal_file(fd.get(), resolve); !st) {
      r.detail = "seal failed: " + st.error().message;
      return r;
    }
    auto again = format::verify_file(fd.get(), resolve);
    if (!again) {
      r.status = status_of(again.error());
      r.detail = "after sealing: " + again.error().message;
      return r;
    }
    fill_from_verify(r, *again);
    r.sealed_now = r.status == Status::sealed;
  }
  return r;
}

namespace {

// The plaintext of a backing path (relative to an account's `root`),
// component by component; Errc::tampered and friends when a name does not
// decrypt. Directory IVs are remembered in `ivs`.
Result<std::filesystem::path> shown_path(const std::filesystem::path& root, const std::filesystem::path& rel,
                                         const std::string& account, const NameKeyFor& name_key,
                                         std::map<std::string, std::optional<format::DirIv>>& ivs) {
  std::filesystem::path out, dir = root;
  for (const auto& part : rel) {
    const std::string name = part.string();
    auto form = format::parse_encrypted_name(name);
    if (!form || !name_key) {
      out /= name;
      dir /= name;
      continue;
    }
    auto iv = ivs.find(dir.string());
    if (iv == ivs.end()) {
      std::optional<format::DirIv> found;
      sys::UniqueFd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (fd.valid()) {
        if (auto read = format::read_dir_iv(fd.get()); read && *read) found = **read;
      }
      iv = ivs.emplace(dir.string(), found).first;
    }
    if (!iv->second) {
      return make_error(Errc::tampered, "name " + name + " is encrypted but its directory has no valid " +
                                            std::string(format::kDirIvName));
    }
    auto key = name_key(account, form->key_version);
    RV_TRY(key);
    auto plain = format::decrypt_name(**key, *iv->second, name);
    if (!plain) return make_error(plain.error().code, "name " + name + ": " + plain.error().message);
    out /= *plain;
    dir /= name;
  }
  return out;
}

}  // namespace

Result<std::vector<FileReport>> check_tree(const std::filesystem::path& dir, const std::string& account,
                                           const ResolverFor& resolver_for, const Options& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return make_error(Errc::not_found, dir.string() + " is not a directory");
  std::vector<std::pair<std::string, fs::path>> roots;  // account, its directory
  if (!account.empty()) {
    roots.emplace_back(account, dir);
  } else {
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.is_directory(ec) && !e.is_symlink(ec)) roots.emplace_back(e.path().filename().string(), e.path());
    }
    if (ec) return make_error(Errc::io, "cannot list " + dir.string() + ": " + ec.message());
  }
  std::vector<FileReport> out;
  for (const auto& [acct, root] : roots) {
    const format::KeyResolver resolve = resolver_for(acct);
    std::vector<fs::path> files;
    for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      const bool iv_file = name.rfind(std::string(format::kDirIvName), 0) == 0;  // not a recording
      if (it->is_regular_file(ec) && !it->is_symlink(ec) && !iv_file) files.push_back(it->path());
    }
    if (ec) return make_error(Errc::io, "cannot walk " + root.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    std::map<std::string, std::optional<format::DirIv>> ivs;
    for (const auto& f : files) {
      FileReport r = check_file(f, acct, resolve, options);
      r.path = fs::relative(f, dir, ec);
      auto shown = shown_path(root, fs::relative(f, root, ec), acct, options.name_key, ivs);
      if (shown) {
        r.shown_path = fs::relative(root, dir, ec) / *shown;
        r.shown_path = r.shown_path.lexically_normal();
      } else {
        // Unreachable through the mount: damaged, whatever its content.
        r.shown_path = r.path;
        if (!is_damage(r.status)) r.status = status_of(shown.error());
        r.detail = shown.error().message + (r.detail.empty() ? "" : "; " + r.detail);
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

}  // namespace recvault::fsck
