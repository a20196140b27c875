// recvaultctl reencrypt / jobs: a re-encryption job (GET .../jobs) as people
// read it: a progress bar on a terminal, plain lines otherwise.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace recvault::ctl {

// "[##########..........]  50%  3/6 files  1.5/3.0 MiB  ETA 12s" (`bar`),
// or the same without the bar. Fields the daemon does not send are left out.
std::string format_job_progress(const nlohmann::json& job, bool bar);

// The job's final state in one line: state, counts, what was skipped.
std::string format_job_summary(const nlohmann::json& job);

}  // namespace recvault::ctl
