#include "status_view.hpp"

#include <cstdio>
#include <sstream>
#include <vector>

namespace recvault::ctl {

std::string human_bytes(std::uint64_t n) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(n);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  else
    std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, kUnits[u]);
  return buf;
}

std::string human_duration(std::int64_t s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lldm %02llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  else if (s < 86400)
    std::snprintf(buf, sizeof buf, "%lldh %02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60));
  else
    std::snprintf(buf, sizeof buf, "%lldd %lldh", static_cast<long long>(s / 86400),
                  static_cast<long long>(s % 86400 / 3600));
  return buf;
}

namespace {

using json = nlohmann::json;

std::string text_of(const json& j, const char* key, const std::string& otherwise = "-") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return otherwise;
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::uint64_t number_of(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

// Columns padded to their widest cell; numbers right-aligned.
std::string table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right) {
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::string pad(width[i] - r[i].size(), ' ');
      line += right[i] ? pad + r[i] : r[i] + (i + 1 < r.size() ? pad : "");
      if (i + 1 < r.size()) line += "  ";
    }
    out += "  " + line + "\n";
  }
  return out;
}

std::string keystore_line(const json& k) {
  std::string engine = text_of(k, "engine", "?");
  std::string where;
  if (auto p = k.find("path"); p != k.end() && p->is_string()) where = p->get<std::string>();
  if (auto e = k.find("endpoints"); e != k.end() && e->is_array()) {
    for (const auto& ep : *e) {
      where += (where.empty() ? "" : ",") + (ep.is_string() ? ep.get<std::string>() : ep.dump());
    }
  }
  std::string health = "health unknown";
  if (auto h = k.find("healthy"); h != k.end() && h->is_boolean()) {
    health = h->get<bool>() ? "healthy" : "UNHEALTHY";
  }
  return engine + (where.empty() ? "" : " " + where) + ", " + health;
}

}  // namespace

std::string format_status(const json& s) {
  std::ostringstream out;
  out << "recvaultd " << text_of(s, "version", "?");
  if (s.contains("uptime_seconds") && s["uptime_seconds"].is_number())
    out << ", up " << human_duration(s["uptime_seconds"].get<std::int64_t>());
  out << "\n";
  auto row = [&out](const char* name, const std::string& value) {
    char label[16];
    std::snprintf(label, sizeof label, "%-12s", name);
    out << label << value << "\n";
  };
  std::string mount = text_of(s, "mount_point");
  if (s.contains("backing_free_bytes")) {
    mount += "  (backing disk: " + human_bytes(number_of(s, "backing_free_bytes")) + " free)";
  }
  row("mount", mount);
  if (auto k = s.find("keystore"); k != s.end() && k->is_object()) row("keystore", keystore_line(*k));
  if (s.contains("recordings_open")) row("recordings", std::to_string(number_of(s, "recordings_open")) + " open");
  if (s.contains("last_tamper_detection")) {
    const json& t = s["last_tamper_detection"];
    row("tampering", t.is_object() ? "last detected " + text_of(t, "time") + " in account " + text_of(t, "account")
                                   : "none detected since start");
  }
  const auto accounts = s.find("accounts");
  if (accounts == s.end() || !accounts->is_object() || accounts->empty()) {
    out << "accounts    none visible to this token\n";
    return out.str();
  }
  std::vector<std::vector<std::string>> rows = {
      {"ACCOUNT", "KEY", "ENCRYPTION", "OPEN", "WRITTEN TODAY", "DISK USED", "QUOTA"}};
  for (const auto& [name, a] : accounts->items()) {
    std::string key = a.contains("key_version") && a["key_version"].is_number() ? "v" + a["key_version"].dump() : "-";
    std::string enc = text_of(a, "encryption");
    if (enc == "enabled" && a.contains("algorithm")) enc = text_of(a, "algorithm");
    const std::uint64_t quota = number_of(a, "quota_bytes");
    const std::string open = a.contains("recordings_open") ? std::to_string(number_of(a, "recordings_open")) : "-";
    rows.push_back({name, key, enc, open,
                    a.contains("bytes_written_today") ? human_bytes(number_of(a, "bytes_written_today")) : "-",
                    human_bytes(number_of(a, "used_bytes")), quota == 0 ? "none" : human_bytes(quota)});
  }
  out << "\n" << table(rows, {false, false, false, true, true, true, true});
  return out.str();
}

}  // namespace recvault::ctl
