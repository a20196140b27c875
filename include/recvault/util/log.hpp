// Minimal leveled logging to stderr (journald adds timestamps under systemd).
//
// Messages must never carry key material or plaintext: log names, ids,
// versions and error reasons only. Every message is escaped on the way out
// (append_escaped): a file name, header value or peer string cannot end the
// line, start a forged one, or carry a journald priority prefix.
#pragma once

#include <string>
#include <string_view>

namespace recvault::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(Level level) noexcept;
Level level() noexcept;
bool parse_level(std::string_view name, Level& out) noexcept;

void write(Level level, std::string_view message) noexcept;
// Appends `text` with control characters and backslashes escaped (\n, \r,
// \t, \\, \xNN); other bytes, UTF-8 included, as they are.
void append_escaped(std::string& out, std::string_view text);
inline void debug(std::string_view m) noexcept { write(Level::debug, m); }
inline void info(std::string_view m) noexcept { write(Level::info, m); }
inline void warn(std::string_view m) noexcept { write(Level::warn, m); }
inline void error(std::string_view m) noexcept { write(Level::error, m); }

}  // namespace recvault::log
