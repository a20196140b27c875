// Prometheus's text exposition format (version 0.0.4), written by hand: one
// "# HELP" and "# TYPE" line per family, then its samples. promtool check
// metrics accepts what this writes (tests/metrics).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recvault/metrics/metrics.hpp"

namespace recvault::metrics {

using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

// The Content-Type a scrape answer carries.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

class Exposition {
 public:
  explicit Exposition(std::function<bool(std::string_view account)> account_visible = {})
      : account_visible_(std::move(account_visible)) {}

  // Starts a family; its samples follow. `name` without _bucket/_sum/_count;
  // a counter's gets _total if it lacks it.
  void family(std::string_view name, std::string_view help, Type type);
  // One sample line: `name` is the full sample name (with _total, _bucket, ...).
  void sample(std::string_view name, const Labels& labels, double value);
  void sample(std::string_view name, const Labels& labels, std::uint64_t value);
  // The _bucket, _sum and _count lines of one histogram child.
  void histogram(std::string_view name, const Labels& labels, const Histogram::Snapshot& s);

  const std::string& text() const noexcept { return out_; }

 private:
  bool visible(const Labels& labels) const;
  void begin_sample(std::string_view name, const Labels& labels, const std::pair<std::string_view, std::string>* extra);

  std::function<bool(std::string_view)> account_visible_;
  std::string out_;
};

// Escapes a label value (\\, \", \n) or help text (\\, \n).
std::string escape_label_value(std::string_view v);
std::string escape_help(std::string_view v);
// A sample value as Prometheus reads it: integers exactly, +Inf, -Inf, NaN.
std::string format_value(double v);

// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds of this process, from /proc (the names of the
// Prometheus client libraries' process collector).
void collect_process(Exposition& out);

}  // namespace recvault::metrics
