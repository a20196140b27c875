// The body of GET /v1/status (docs/API.md "Daemon"): what recvaultctl status
// shows at a glance. Per-account figures only for the caller's accounts.
#pragma once

#include <chrono>

#include <nlohmann/json.hpp>

#include "daemon_metrics.hpp"
#include "recvault/control/jwt.hpp"
#include "recvault/daemon/config.hpp"
#include "recvault/fuse/filesystem.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/keystore/store.hpp"

namespace recvault::daemon {

struct StatusSources {
  const Config& config;
  fuse::Filesystem& fs;
  const keystore::Store& store;
  const keystore::KeyCache& keys;
  DaemonMetrics& metrics;
  std::chrono::steady_clock::time_point started;
};

// Thread-safe (a control server thread calls it). Reads each account's
// configuration from the keystore (no key is derived and none is returned).
nlohmann::json daemon_status(const StatusSources& s, const control::Principal& caller);

}  // namespace recvault::daemon
