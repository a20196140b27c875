// recvaultctl status: GET /v1/status as people read it at a glance.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace recvault::ctl {

// The status object ({"version": ..., "accounts": {...}, ...}) as text:
// a few header lines and one table row per account. Fields the daemon does
// not send are left out, so an older or newer daemon still prints.
std::string format_status(const nlohmann::json& status);

// 1536 -> "1.5 KiB"; 0 -> "0 B".
std::string human_bytes(std::uint64_t n);
// 3725 -> "1h 02m"; 59 -> "59s"; 90061 -> "1d 1h".
std::string human_duration(std::int64_t seconds);

}  // namespace recvault::ctl
