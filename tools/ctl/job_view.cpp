#include "job_view.hpp"

#include <algorithm>

#include "status_view.hpp"

namespace recvault::ctl {

std::string format_job_progress(const nlohmann::json& job, bool bar) {
  const auto total = job.value("bytes_total", std::uint64_t{0});
  const auto done = std::min(job.value("bytes_done", std::uint64_t{0}), total);
  const int percent = total == 0 ? 100 : static_cast<int>(done * 100 / total);
  std::string out;
  if (bar) {
    constexpr int kWidth = 30;
    const int filled = percent * kWidth / 100;
    out = "[" + std::string(static_cast<std::size_t>(filled), '#') +
          std::string(static_cast<std::size_t>(kWidth - filled), '.') + "] ";
  }
  out += std::to_string(percent) + "%  " + std::to_string(job.value("files_done", std::uint64_t{0})) + "/" +
         std::to_string(job.value("files_total", std::uint64_t{0})) + " files  " + human_bytes(done) + "/" +
         human_bytes(total);
  if (auto eta = job.find("eta_seconds"); eta != job.end() && eta->is_number_unsigned())
    out += "  ETA " + human_duration(eta->get<std::int64_t>());
  const auto skipped = job.value("skipped", nlohmann::json::object());
  if (skipped.value("open", 0) > 0) out += "  " + std::to_string(skipped.value("open", 0)) + " open (retried)";
  if (job.value("errors", 0) > 0) out += "  " + std::to_string(job.value("errors", 0)) + " errors";
  return out;
}

std::string format_job_summary(const nlohmann::json& job) {
  const auto skipped = job.value("skipped", nlohmann::json::object());
  std::string out =
      "re-encryption " + job.value("state", std::string("?")) + " (versions below " +
      std::to_string(job.value("below_version", 0)) + " to version " + std::to_string(job.value("target_version", 0)) +
      "): " + std::to_string(job.value("files_done", 0)) + " of " + std::to_string(job.value("files_total", 0)) +
      " recordings, " + human_bytes(job.value("bytes_done", std::uint64_t{0})) + ", " +
      std::to_string(job.value("names_done", 0)) + " names, " + std::to_string(job.value("errors", 0)) +
      " errors; skipped: " + std::to_string(skipped.value("open", 0)) + " open, " +
      std::to_string(skipped.value("openpgp", 0)) + " OpenPGP (cannot be decrypted here), " +
      std::to_string(skipped.value("unterminated", 0)) + " unterminated (recvault-fsck --seal)";
  if (job.contains("last_error") && job["last_error"].is_string())
    out += "; last error: " + job["last_error"].get<std::string>();
  return out;
}

}  // namespace recvault::ctl
