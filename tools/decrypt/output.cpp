#include "output.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>

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

Status Output::commit() {
  if (committed_) return {};
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
