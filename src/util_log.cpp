#include "recvault/util/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string>

namespace recvault::log {
namespace {
// The one process-wide setting: set once at start-up, read by every thread.
std::atomic<int> g_level{static_cast<int>(Level::info)};
}  // namespace

void append_escaped(std::string& out, std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\n':
        out += "\\n";
        continue;
      case '\r':
        out += "\\r";
        continue;
      case '\t':
        out += "\\t";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
}

void set_level(Level level) noexcept { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }
Level level() noexcept { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

bool parse_level(std::string_view name, Level& out) noexcept {
  if (name == "debug")
    out = Level::debug;
  else if (name == "info")
    out = Level::info;
  else if (name == "warn" || name == "warning")
    out = Level::warn;
  else if (name == "error")
    out = Level::error;
  else
    return false;
  return true;
}

void write(Level lvl, std::string_view message) noexcept {
  if (static_cast<int>(lvl) < g_level.load(std::memory_order_relaxed)) return;
  // sd-daemon priority prefixes: journald maps them to syslog levels.
  static const char* const journal_prefix[] = {"<7>debug: ", "<6>", "<4>warning: ", "<3>error: "};
  static const char* const tty_prefix[] = {
      "recvault: debug: ", "recvault: ", "recvault: warning: ", "recvault: error: "};
  static const bool to_journal = ::getenv("JOURNAL_STREAM") != nullptr;
  try {
    std::string line = (to_journal ? journal_prefix : tty_prefix)[static_cast<int>(lvl)];
    append_escaped(line, message);
    line.push_back('\n');
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());  // one write: lines don't interleave
    (void)ignored;
  } catch (...) {
  }
}

}  // namespace recvault::log
