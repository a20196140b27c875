// recvaultd's lifecycle: process hardening, the demo set-up, and running the
// FUSE session until SIGTERM/SIGINT/SIGHUP, then taking over what the kernel's
// writeback cache holds, sealing every open recording and unmounting cleanly.
#pragma once

#include <filesystem>
#include <functional>

#include "recvault/daemon/config.hpp"
#include "recvault/fuse/filesystem.hpp"

namespace recvault::daemon {

// No core dumps (they would hold keys), no ptrace by other users, plenty of fds.
void harden_process();

// Creates the demo tree under `dir` (backing/, mnt/, keystore/, master.key
// 0600, jwt.secret 0600) if absent and returns its configuration.
Result<Config> prepare_demo(const std::filesystem::path& dir);

// A mount point left behind by a crashed daemon answers ENOTCONN; detach it.
Status clear_stale_mount(const std::filesystem::path& mount_point);

struct MountHooks {
  std::function<void()> on_ready;  // after the mount is live (sd_notify READY=1)
};

// Mounts `fs` at config.mount_point and serves until a signal; then lets the
// kernel hand over its cached writes (bounded; a second signal cuts it short),
// stops the loop, seals open files and unmounts. Returns the exit code.
int run_mount(const Config& config, fuse::Filesystem& fs, const MountHooks& hooks);

}  // namespace recvault::daemon
