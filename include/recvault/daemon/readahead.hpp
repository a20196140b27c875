// Kernel readahead of the mount.
//
// The FUSE kernel module gives every mount its own backing device info
// (/sys/class/bdi/<major>:<minor>) with a 128 KiB readahead window, and a
// FUSE server cannot ask for more at INIT (the kernel offers its current
// window and takes the minimum). A larger window makes the kernel send
// sequential reads as fewer, larger READ requests (up to max_pages = max_write
// = 1 MiB), each of which the daemon serves with one pread and one decryption
// pass.
#pragma once

#include <filesystem>
#include <thread>

#include "recvault/util/result.hpp"

namespace recvault::daemon {

// Sets the readahead window of the file system mounted at `mount_point`.
// stat()s the mount point, so it must not run before the FUSE loop serves.
Status set_mount_read_ahead(const std::filesystem::path& mount_point, unsigned kib);

// Runs set_mount_read_ahead on its own thread once the mount answers (the
// kernel applies INIT's readahead limit first, so the setting must follow
// it). Start it just before the FUSE loop; it ends when the mount answers or
// goes away. Failure is logged, not fatal.
std::jthread tune_read_ahead_when_mounted(std::filesystem::path mount_point, unsigned kib);

}  // namespace recvault::daemon
