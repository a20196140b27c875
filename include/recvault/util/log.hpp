// Minimal leveled logging to stderr (journald adds timestamps under systemd).
//
// Messages must never carry key material or plaintext: log names, ids,
// versions and error reasons only.
#pragma once

#include <string_view>

namespace recvault::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level) noexcept;
Level level() noexcept;
bool parse_level(std::string_view name, Level& out) noexcept;

void write(Level level, std::string_view message) noexcept;
inline void debug(std::string_view m) noexcept { write(Level::debug, m); }
inline void info(std::string_view m) noexcept { write(Level::info, m); }
inline void warn(std::string_view m) noexcept { write(Level::warn, m); }
inline void error(std::string_view m) noexcept { write(Level::error, m); }

}  // namespace recvault::log
