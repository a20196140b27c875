#include "recvault/sys/private_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace recvault::sys {

Result<UniqueFd> open_private_file(const std::filesystem::path& path, std::string_view what) {
  const std::string shown = std::string(what) + " " + path.string();
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY));
  if (!fd.valid()) {
    int err = errno;
    if (err == ELOOP) return make_error(Errc::invalid_argument, shown + " is a symbolic link; name the file itself");
    return sys_error("cannot open " + shown, err);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    int err = errno;
    return sys_error("cannot stat " + shown, err);
  }
  if (!S_ISREG(st.st_mode)) return make_error(Errc::invalid_argument, shown + " is not a regular file");
  if (st.st_uid != ::geteuid())
    return make_error(Errc::invalid_argument, shown + " is owned by uid " + std::to_string(st.st_uid) +
                                                  ", not by the running user (uid " + std::to_string(::geteuid()) +
                                                  "); chown it");
  if ((st.st_mode & 077) != 0) {
    const char* how = (st.st_mode & 044) != 0 ? "readable" : (st.st_mode & 022) != 0 ? "writable" : "accessible";
    return make_error(Errc::invalid_argument, shown + " is " + how + " by group or others; run chmod 600 on it");
  }
  return fd;
}

Result<crypto::SecretBytes> read_private_file(const std::filesystem::path& path, std::string_view what,
                                              std::size_t max_bytes) {
  auto fd = open_private_file(path, what);
  RV_TRY(fd);
  crypto::SecretBytes content(max_bytes + 1);
  auto n = pread_full(fd->get(), content.mutable_span(), 0);
  RV_TRY(n);
  if (*n > max_bytes)
    return make_error(Errc::invalid_argument, std::string(what) + " " + path.string() + " is larger than " +
                                                  std::to_string(max_bytes) + " bytes");
  content.resize(*n);
  return content;
}

}  // namespace recvault::sys
