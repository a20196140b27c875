#include "output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <vector>

namespace recvault::tools {

Result<std::unique_ptr<Output>> Output::to_stdout() {
  std::unique_ptr<Output> o(new Output());
  o->fd_ = STDOUT_FILENO;
  o->committed_ = true;  // nothing to clean up
  return o;
}

Result<std::unique_ptr<Output>> Output::to_file(const std::string& path) {
  const std::filesystem::path target(path);
  if (target.filename().empty()) return make_error(Errc::invalid_argument, "--out must name a file");
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::string tmpl = (dir / ("." + target.filename().string() + ".recvault-tmp-XXXXXX")).string();
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);  // mode 0600: it will hold plaintext
  if (fd < 0) {
    int e = errno;
    return sys_error("create a temporary file in " + dir.string(), e);
  }
  std::unique_ptr<Output> o(new Output());
  o->owned_.reset(fd);
  o->fd_ = fd;
  o->temp_path_ = tmpl;
  o->final_path_ = path;
  return o;
}

Output::~Output() {
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

Status Output::write(std::span<const std::uint8_t> data) {
  if (!data.empty()) pending_hole_ = false;
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      return sys_error(temp_path_.empty() ? "write to standard output" : "write " + temp_path_, e);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Status Output::skip(std::uint64_t n) {
  if (temp_path_.empty()) {
    static const std::vector<std::uint8_t> zeros(1 << 16, 0);
    while (n > 0) {
      const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(n, zeros.size()));
      RV_TRY(write(std::span(zeros).first(take)));
      n -= take;
    }
    return {};
  }
  if (n > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max()))
    return make_error(Errc::too_large, "seek past the largest file size");
  if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) {
    int e = errno;
    return sys_error("seek in " + temp_path_, e);
  }
  pending_hole_ = n > 0 || pending_hole_;
  return {};
}

Status Output::commit() {
  if (committed_) return {};
  if (pending_hole_) {  // a hole at the very end needs the length set
    const off_t end = ::lseek(fd_, 0, SEEK_CUR);
    if (end < 0 || ::ftruncate(fd_, end) != 0) {
      int e = errno;
      return sys_error("set the length of " + temp_path_, e);
    }
  }
  if (::fsync(fd_) != 0) {
    int e = errno;
    return sys_error("fsync " + temp_path_, e);
  }
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    int e = errno;
    return sys_error("rename to " + final_path_, e);
  }
  committed_ = true;
  const std::filesystem::path target(final_path_);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  sys::UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.valid()) (void)::fsync(dfd.get());  // best effort: the data itself is synced
  return {};
}

}  // namespace recvault::tools
