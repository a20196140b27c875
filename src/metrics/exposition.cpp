#include "recvault/metrics/exposition.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace recvault::metrics {

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 9007199254740992.0) {  // 2^53: exact integers as integers
    return std::to_string(static_cast<std::int64_t>(v));
  }
  char buf[64];
  // Shortest text that reads back as the same double.
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc{}) return "NaN";
  return std::string(buf, end);
}

void Exposition::family(std::string_view name, std::string_view help, Type type) {
  // In the 0.0.4 format a counter's family is named as its samples are.
  std::string full(name);
  if (type == Type::counter && !full.ends_with("_total")) full += "_total";
  out_ += "# HELP ";
  out_ += full;
  out_ += ' ';
  out_ += escape_help(help);
  out_ += "\n# TYPE ";
  out_ += full;
  out_ += type == Type::counter ? " counter\n" : type == Type::gauge ? " gauge\n" : " histogram\n";
}

bool Exposition::visible(const Labels& labels) const {
  if (!account_visible_) return true;
  for (const auto& [k, v] : labels)
    if (k == "account" && !account_visible_(v)) return false;
  return true;
}

void Exposition::begin_sample(std::string_view name, const Labels& labels,
                              const std::pair<std::string_view, std::string>* extra) {
  out_ += name;
  if (!labels.empty() || extra != nullptr) {
    out_ += '{';
    bool first = true;
    auto put = [&](std::string_view k, std::string_view v) {
      if (!first) out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"";
      out_ += escape_label_value(v);
      out_ += '"';
    };
    for (const auto& [k, v] : labels) put(k, v);
    if (extra != nullptr) put(extra->first, extra->second);
    out_ += '}';
  }
  out_ += ' ';
}

void Exposition::sample(std::string_view name, const Labels& labels, double value) {
  if (!visible(labels)) return;
  begin_sample(name, labels, nullptr);
  out_ += format_value(value);
  out_ += '\n';
}

void Exposition::sample(std::string_view name, const Labels& labels, std::uint64_t value) {
  if (!visible(labels)) return;
  begin_sample(name, labels, nullptr);
  out_ += std::to_string(value);
  out_ += '\n';
}

void Exposition::histogram(std::string_view name, const Labels& labels, const Histogram::Snapshot& s) {
  if (!visible(labels)) return;
  const std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i <= s.bounds.size(); ++i) {
    std::pair<std::string_view, std::string> le{"le", i < s.bounds.size() ? format_value(s.bounds[i]) : "+Inf"};
    begin_sample(bucket, labels, &le);
    out_ += std::to_string(s.cumulative[i]);
    out_ += '\n';
  }
  begin_sample(std::string(name) + "_sum", labels, nullptr);
  out_ += format_value(s.sum);
  out_ += '\n';
  begin_sample(std::string(name) + "_count", labels, nullptr);
  out_ += std::to_string(s.count);
  out_ += '\n';
}

namespace {

// Seconds since the epoch at which the system booted (/proc/stat btime).
double boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime") {
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

}  // namespace

void collect_process(Exposition& out) {
  std::ifstream in("/proc/self/stat");
  std::string stat;
  std::getline(in, stat);
  // Fields after the command name (which may hold spaces and parentheses).
  auto close = stat.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  for (std::string w; fields >> w;) f.push_back(w);
  // f[0] is field 3 (state): field n is f[n - 3].
  if (f.size() < 22) return;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  const double cpu = (std::stod(f[14 - 3]) + std::stod(f[15 - 3])) / ticks;
  const double start = boot_time() + std::stod(f[22 - 3]) / ticks;
  const double vsize = std::stod(f[23 - 3]);
  const double rss = std::stod(f[24 - 3]) * page;

  out.family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", Type::counter);
  out.sample("process_cpu_seconds_total", {}, cpu);
  out.family("process_resident_memory_bytes", "Resident memory size in bytes.", Type::gauge);
  out.sample("process_resident_memory_bytes", {}, rss);
  out.family("process_virtual_memory_bytes", "Virtual memory size in bytes.", Type::gauge);
  out.sample("process_virtual_memory_bytes", {}, vsize);
  out.family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", Type::gauge);
  out.sample("process_start_time_seconds", {}, start);

  std::error_code ec;
  std::uint64_t fds = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++fds;
  }
  out.family("process_open_fds", "Number of open file descriptors.", Type::gauge);
  out.sample("process_open_fds", {}, fds);
  struct rlimit lim {};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    out.family("process_max_fds", "Maximum number of open file descriptors.", Type::gauge);
    out.sample("process_max_fds", {}, static_cast<double>(lim.rlim_cur));
  }
}

}  // namespace recvault::metrics
