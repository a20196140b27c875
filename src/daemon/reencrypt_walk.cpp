// The walk of a re-encryption job over an account's backing directory
// (daemon/reencrypt.hpp): counts, rewrites recordings, renames names.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>

#include "recvault/crypto/primitives.hpp"
#include "recvault/crypto/secure_memory.hpp"
#include "recvault/format/detect.hpp"
#include "recvault/format/encrypted_file.hpp"
#include "recvault/format/names.hpp"
#include "recvault/format/xattrs.hpp"
#include "recvault/pgp/xattrs.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/util/encoding.hpp"
#include "recvault/util/log.hpp"
#include "reencrypt_job.hpp"

namespace recvault::daemon {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> entries_of(int dir_fd) {
  std::vector<std::string> out;
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return out;
  DIR* dp = ::fdopendir(fd);
  if (dp == nullptr) {
    ::close(fd);
    return out;
  }
  while (const dirent* e = ::readdir(dp)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") out.emplace_back(n);
  }
  ::closedir(dp);
  return out;
}

// A random temporary name beside the recording (never shown by the mount).
Result<std::string> temp_name() {
  std::array<std::uint8_t, 8> rnd{};
  RV_TRY(crypto::random_bytes(rnd));
  return std::string(format::kRewriteTempPrefix) + hex_encode(rnd);
}

// Copies the xattrs that are not the format's own (create() wrote those).
Status copy_xattrs(int from, int to) {
  ssize_t n = ::flistxattr(from, nullptr, 0);
  if (n <= 0) return {};
  std::vector<char> names(static_cast<std::size_t>(n));
  n = ::flistxattr(from, names.data(), names.size());
  if (n < 0) return {};
  for (std::size_t at = 0; at < static_cast<std::size_t>(n);) {
    const std::string name(names.data() + at);
    at += name.size() + 1;
    if (name.starts_with(format::xattr::prefix)) continue;
    ssize_t len = ::fgetxattr(from, name.c_str(), nullptr, 0);
    if (len < 0) continue;
    std::vector<char> value(static_cast<std::size_t>(len));
    len = ::fgetxattr(from, name.c_str(), value.data(), value.size());
    if (len < 0) continue;
    if (::fsetxattr(to, name.c_str(), value.data(), static_cast<std::size_t>(len), 0) != 0) {
      int e = errno;
      // Only the user namespace is ours to keep; others (security.*) belong
      // to the system and may be refused.
      if (name.starts_with("user.")) return sys_error("copy xattr " + name, e);
    }
  }
  return {};
}

}  // namespace

// One run of a job: the walks over the account's backing directory.
class Reencryptor::Run {
 public:
  Run(Reencryptor& owner, Job& job, std::string account, std::uint32_t below, double mb_per_s)
      : owner_(owner), job_(job), account_(std::move(account)), below_(below), rate_(mb_per_s * 1e6) {}

  // Counts (plan) or rewrites (work) the account's recordings below the bound.
  Status pass(bool plan) {
    RV_ASSIGN(current_, owner_.keys_.current(account_));
    if (!current_.enabled || !current_.spec.key) {
      return make_error(Errc::conflict, "encryption of account " + account_ + " is disabled: nothing to re-encrypt to");
    }
    plan_ = plan;
    counts_ = {};
    const auto dir = owner_.options_.backing_dir / account_;
    sys::UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
      int e = errno;
      if (e == ENOENT) return {};
      return sys_error("open " + dir.string(), e);
    }
    walk(fd.get());
    MutexLock lock(job_.m);
    job_.progress.target_version = current_.spec.key_version;
    job_.progress.skipped_open = counts_.open;
    job_.progress.skipped_openpgp = counts_.openpgp;
    job_.progress.skipped_unterminated = counts_.unterminated;
    if (plan) {
      job_.progress.files_total = job_.progress.files_done + counts_.files;
      job_.progress.bytes_total = job_.progress.bytes_done + counts_.bytes;
    }
    return {};
  }
  std::uint64_t open_left() const { return counts_.open; }

 private:
  struct Counts {
    std::uint64_t files = 0, bytes = 0, open = 0, openpgp = 0, unterminated = 0;
  };

  void walk(int dir_fd) {
    std::optional<std::optional<format::DirIv>> iv;  // read once per directory, when a name needs it
    for (const auto& name : entries_of(dir_fd)) {
      if (job_.stopping()) return;
      if (format::is_internal_entry(name)) {
        // A temporary file a crash left behind (the job that wrote it is
        // this one, resumed: nothing else writes them).
        if (!plan_ && name.starts_with(format::kRewriteTempPrefix) && ::unlinkat(dir_fd, name.c_str(), 0) == 0)
          log::info("re-encryption of " + account_ + ": removed the leftover temporary file " + name);
        continue;
      }
      struct stat st {};
      if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
      if (S_ISDIR(st.st_mode)) {
        sys::UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (sub.valid()) walk(sub.get());
      } else if (S_ISREG(st.st_mode)) {
        recording(dir_fd, name);
      }
      if (!plan_ && !job_.stopping()) rename_entry(dir_fd, name, iv);
    }
  }

  void fail(const std::string& what) {
    log::error("re-encryption of " + account_ + ": " + what);
    MutexLock lock(job_.m);
    ++job_.progress.errors;
    job_.progress.last_error = what;
  }

  // One regular file: counted (plan) or rewritten (work) when it is a
  // sealed recording below the bound.
  void recording(int dir_fd, const std::string& name) {
    sys::UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
    if (!fd.valid()) return;  // gone meanwhile
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return;
    auto found = format::detect(fd.get());
    if (!found) {
      if (!plan_) fail(name + ": " + found.error().message);
      return;
    }
    if (found->kind == format::Detected::Kind::marked) {
      if (found->marker == pgp::xattr::pgp_format) ++counts_.openpgp;  // sealed to the customer's key: not ours
      return;
    }
    if (found->kind != format::Detected::Kind::encrypted) return;
    auto header = format::read_header(fd.get());
    if (!header) {
      if (!plan_) fail(name + ": " + header.error().message);
      return;
    }
    if (header->key_version >= below_) return;
    if (!header->sealed) {
      // Being written (through this daemon or on another host: it comes
      // back later), or its writer died (only a writer or fsck may seal it).
      auto elsewhere = sys::writer_lock_held_elsewhere(fd.get());
      if (owner_.fs_.is_open(st) || (elsewhere && *elsewhere)) {
        ++counts_.open;
        if (plan_) {  // to do once its writer closes it
          ++counts_.files;
          counts_.bytes += static_cast<std::uint64_t>(st.st_size);
        }
      } else {
        ++counts_.unterminated;
      }
      return;
    }
    if (plan_) {
      ++counts_.files;
      counts_.bytes += static_cast<std::uint64_t>(st.st_size);
      return;
    }
    // The writer's lock (docs/CLUSTER.md): another host (or fsck) writing
    // it is skipped; while held, no writer elsewhere can start.
    if (auto taken = sys::try_lock_writer(fd.get()); taken && !*taken) {
      ++counts_.open;
      return;
    }
    if (owner_.fs_.is_open(st)) {  // checked again at the rename; spares the copy
      ++counts_.open;
      return;
    }
    auto done = rewrite(dir_fd, name, fd.get(), st, *header);
    if (!done) {
      if (job_.stopping()) return;  // interrupted (cancel or shutdown): not an error
      fail(name + ": " + done.error().message);
      return;
    }
    switch (*done) {
      case fuse::Filesystem::Replaced::done: {
        MutexLock lock(job_.m);
        ++job_.progress.files_done;
        job_.progress.bytes_done += static_cast<std::uint64_t>(st.st_size);
        job_.progress.run_bytes += static_cast<std::uint64_t>(st.st_size);
        // A recording that was open when counted may have grown since.
        job_.progress.bytes_total = std::max(job_.progress.bytes_total, job_.progress.bytes_done);
        job_.progress.files_total = std::max(job_.progress.files_total, job_.progress.files_done);
        break;
      }
      case fuse::Filesystem::Replaced::busy:
      case fuse::Filesystem::Replaced::changed:
        ++counts_.open;  // written to meanwhile: the next pass takes it again
        break;
    }
    save_now_and_then();
  }

  // Waits so that the job rewrites at most rate_ bytes per second: `n`
  // bytes are reserved after those before them, and the wait ends when
  // their time has come (so bytes / elapsed never exceeds the rate).
  bool throttle(std::uint64_t n) {
    const auto now = Clock::now();
    if (next_ < now) next_ = now;
    next_ += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(static_cast<double>(n) / rate_));
    return job_.sleep_until(next_);
  }

  // Writes the recording anew beside `name` under the current version and
  // renames it over `name`. Replaced::busy/changed leave `name` untouched.
  Result<fuse::Filesystem::Replaced> rewrite(int dir_fd, const std::string& name, int fd, const struct stat& st,
                                             const format::Header& header) {
    const std::string account = account_;
    keystore::KeyCache& keys = owner_.keys_;
    RV_ASSIGN(auto old, format::EncryptedFile::open(fd, [&keys, &account](const format::Header& h) {
                return keys.version_key(account, h.key_version, h.salt);
              }));
    RV_ASSIGN(const std::string tmp, temp_name());
    sys::UniqueFd out(::openat(dir_fd, tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out.valid()) {
      int e = errno;
      return sys_error("create " + tmp, e);
    }
    auto written = write_copy(*old, fd, out.get(), st, header);
    Result<fuse::Filesystem::Replaced> replaced = written
                                                      ? owner_.fs_.replace_backing(dir_fd, name, tmp, st)
                                                      : Result<fuse::Filesystem::Replaced>(std::move(written).error());
    if (!replaced || *replaced != fuse::Filesystem::Replaced::done) {
      ::unlinkat(dir_fd, tmp.c_str(), 0);
      return replaced;
    }
    if (::fsync(dir_fd) != 0) {
      int e = errno;
      return sys_error("fsync the directory of " + name, e);
    }
    return replaced;
  }

  Status write_copy(format::EncryptedFile& old, int old_fd, int out, const struct stat& st,
                    const format::Header& header) {
    RV_ASSIGN(auto copy, format::EncryptedFile::create(out, current_.spec, header.chunk_size()));
    const std::uint64_t size = old.size();
    std::vector<std::uint8_t> buf(header.chunk_size());
    Status st_copy;
    for (std::uint64_t off = 0; off < size && st_copy;) {
      auto hole_end = old.hole_end(off);
      if (!hole_end) {
        st_copy = std::move(hole_end).error();
        break;
      }
      if (*hole_end > off) {  // a hole stays a hole: the next write (or truncate) past it makes one
        off = std::min(*hole_end, size);
        continue;
      }
      const std::size_t want = static_cast<std::size_t>(
          std::min<std::uint64_t>(header.chunk_size() - off % header.chunk_size(), size - off));
      auto n = old.read(off, std::span(buf.data(), want));
      if (!n) {
        st_copy = std::move(n).error();
        break;
      }
      if (*n == 0) {
        st_copy = make_error(Errc::truncated, "ended before its size");
        break;
      }
      st_copy = copy->write(off, std::span<const std::uint8_t>(buf.data(), *n));
      off += *n;
      if (st_copy && !throttle(*n)) st_copy = make_error(Errc::conflict, "stopped");
    }
    crypto::secure_wipe(buf.data(), buf.size());
    RV_TRY(st_copy);
    if (copy->size() < size) RV_TRY(copy->truncate(size));
    RV_TRY(copy->seal());
    // The rest of the backing size (header, tags) counts against the rate too.
    if (static_cast<std::uint64_t>(st.st_size) > size && !throttle(static_cast<std::uint64_t>(st.st_size) - size))
      return make_error(Errc::conflict, "stopped");
    RV_TRY(copy_xattrs(old_fd, out));
    if (::fchown(out, st.st_uid, st.st_gid) != 0 || ::fchmod(out, st.st_mode & 07777) != 0) {
      int e = errno;
      return sys_error("keep owner and mode", e);
    }
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (::futimens(out, times) != 0 || ::fsync(out) != 0) {
      int e = errno;
      return sys_error("keep times and fsync", e);
    }
    return {};
  }
  // An encrypted name of a version below the bound moves to the current
  // version's form (one rename: the entry is never seen twice or not at all).
  void rename_entry(int dir_fd, const std::string& name, std::optional<std::optional<format::DirIv>>& iv) {
    auto form = format::parse_encrypted_name(name);
    if (!form || form->key_version >= below_) return;
    if (!iv) {
      auto read = format::read_dir_iv(dir_fd);
      iv = read ? *read : std::nullopt;
    }
    if (!*iv) {
      fail(name + ": an encrypted name in a directory without " + std::string(format::kDirIvName));
      return;
    }
    auto from = name_key(form->key_version);
    auto to = name_key(current_.spec.key_version);
    if (!from || !to) {
      fail(name + ": " + (from ? to.error() : from.error()).message);
      return;
    }
    auto plain = format::decrypt_name(**from, **iv, name);
    if (!plain) {
      fail(name + ": " + plain.error().message);
      return;
    }
    auto fresh = format::encrypt_name(**to, **iv, *plain);
    crypto::secure_wipe(plain->data(), plain->size());
    if (!fresh) {
      fail(name + ": " + fresh.error().message);
      return;
    }
    if (::renameat2(dir_fd, name.c_str(), dir_fd, fresh->c_str(), RENAME_NOREPLACE) != 0) {
      int e = errno;
      fail(name + ": rename to the current version's name: " + std::strerror(e));
      return;
    }
    ::fsync(dir_fd);
    MutexLock lock(job_.m);
    ++job_.progress.names_done;
  }

  Result<std::shared_ptr<const format::NameKey>> name_key(std::uint32_t version) {
    if (auto it = name_keys_.find(version); it != name_keys_.end()) return it->second;
    auto salt = current_.salts.find(version);
    if (salt == current_.salts.end())
      return make_error(Errc::not_found, "no salt of key version " + std::to_string(version));
    RV_ASSIGN(auto vk, owner_.keys_.version_key(account_, version, salt->second));
    RV_ASSIGN(auto nk, format::NameKey::derive(*vk, version));
    auto shared = std::make_shared<const format::NameKey>(std::move(nk));
    name_keys_[version] = shared;
    return shared;
  }

  void save_now_and_then() {
    if (Clock::now() < next_save_) return;
    next_save_ = Clock::now() + std::chrono::seconds(1);
    JobProgress copy;
    {
      MutexLock lock(job_.m);
      copy = job_.progress;
    }
    if (auto st = owner_.save(copy); !st) log::warn("re-encryption of " + account_ + ": " + st.error().message);
  }

  Reencryptor& owner_;
  Job& job_;
  const std::string account_;
  const std::uint32_t below_;
  const double rate_;  // bytes per second
  bool plan_ = true;
  keystore::CurrentKey current_;
  Counts counts_;
  Clock::time_point next_{};
  Clock::time_point next_save_{};
  std::map<std::uint32_t, std::shared_ptr<const format::NameKey>> name_keys_;
};

Status Reencryptor::run_passes(Job& job, const std::string& account, std::uint32_t below, double mb_per_s) {
  Run run(*this, job, account, below, mb_per_s);
  Status st = run.pass(true);
  const auto give_up = Clock::now() + options_.open_retry_for;
  while (st && !job.stopping()) {
    st = run.pass(false);
    if (!st || run.open_left() == 0 || Clock::now() >= give_up) break;
    if (!job.sleep_until(Clock::now() + options_.open_retry_interval)) break;
  }
  return st;
}

}  // namespace recvault::daemon
