// The FUSE request handlers, one file per family. libfuse never calls them
// directly: each is registered behind the error boundary (boundary.hpp), and
// each answers only through the reply:: functions declared there.
#pragma once

#include <sys/stat.h>

#include "boundary.hpp"
#include "recvault/fuse/filesystem.hpp"

namespace recvault::fuse::ops {

// The same backing file in the same state: inode, size, mtime and ctime.
inline bool same_file_state(const struct stat& a, const struct stat& b) {
  auto same = [](const timespec& x, const timespec& y) { return x.tv_sec == y.tv_sec && x.tv_nsec == y.tv_nsec; };
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size && same(a.st_mtim, b.st_mtim) &&
         same(a.st_ctim, b.st_ctim);
}

// entries and attributes (ops_entry.cpp)
void init(void* userdata, fuse_conn_info* conn);
void lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
void forget(fuse_req_t req, fuse_ino_t ino, std::uint64_t nlookup);
void forget_multi(fuse_req_t req, std::size_t count, fuse_forget_data* forgets);
void getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
void readlink(fuse_req_t req, fuse_ino_t ino);
void statfs(fuse_req_t req, fuse_ino_t ino);

// namespace changes and directories (ops_dir.cpp)
void mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
void mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
void symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name);
void link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char* name);
void unlink(fuse_req_t req, fuse_ino_t parent, const char* name);
void rmdir(fuse_req_t req, fuse_ino_t parent, const char* name);
void rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
            unsigned int flags);
void opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void readdir(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t offset, fuse_file_info* fi);
void releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);

// file content (ops_file.cpp)
void create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
void open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void read(fuse_req_t req, fuse_ino_t ino, std::size_t size, off_t offset, fuse_file_info* fi);
void write(fuse_req_t req, fuse_ino_t ino, const char* buf, std::size_t size, off_t offset, fuse_file_info* fi);
void flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
void release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
void fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, fuse_file_info* fi);

// extended attributes of the view (ops_xattr.cpp)
void setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, std::size_t size, int flags);
void getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, std::size_t size);
void listxattr(fuse_req_t req, fuse_ino_t ino, std::size_t size);
void removexattr(fuse_req_t req, fuse_ino_t ino, const char* name);

// Shared helpers.
std::string proc_path(int fd);
// The backing name of existing entry `name` in `parent` (at the root: the
// account itself): 0 or an errno (ENOENT). names.hpp.
int existing_name(Filesystem& fs, Inode& parent, const char* name, std::string& backing);
// The backing name for a new entry `name` in `parent` (not the root): 0, or
// EEXIST / ENAMETOOLONG / EINVAL (NameLayer::new_name).
int new_name(Filesystem& fs, Inode& parent, const char* name, std::string& backing);
// Keeps page-cache fills of `node` (Inode::page_fill) out while the caller
// changes what the kernel may cache. Waits for fills in progress, which
// wait only for the kernel's reads in flight, at most a few seconds: not
// owned on timeout (the caller answers EBUSY), never a hang.
// True: the caller holds node.page_fill exclusively (adopt it with
// ExclusiveLock(node.page_fill, kAdoptLock)).
bool hold_off_page_fills(Inode& node) RV_TRY_ACQUIRE(true, node.page_fill);
// Shared backing storage only (FsOptions::shared; otherwise 0): takes the
// writer's lock on the backing file for `content` before `what` (an open
// for writing, a truncate) changes it (FileContent::hold_write_lock). An
// errno: EBUSY and a log line when another host writes the recording.
int lock_for_writing(Filesystem& fs, Inode& node, FileContent& content, bool reload, const char* what);
// Makes the new entry `fd` (in `parent`) the caller's, with exactly `mode`
// (already masked by the caller's umask): ownership.cpp. Returns an errno.
int hand_to_caller(fuse_req_t req, const Inode& parent, int fd, mode_t mode);
// Test builds of the scenario "a handler throws" (docs/ARCHITECTURE.md
// "Error boundary"): with RECVAULT_FAULT_INJECTION=1 in the daemon's
// environment, a lookup of a name starting with "rv-fault-" throws:
// "rv-fault-bad-alloc" std::bad_alloc, "rv-fault-after-reply" a
// std::runtime_error after answering ENOENT, any other a std::runtime_error.
// Off otherwise (one flag test per lookup).
bool fault_injection_enabled() noexcept;
enum class FaultPoint { before_reply, after_reply };
void inject_fault(const char* name, FaultPoint point);
// Logs a content error on a file and returns its errno.
int report(Filesystem& fs, const Inode& inode, const char* op, const Error& e);

}  // namespace recvault::fuse::ops
