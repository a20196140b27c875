// The append-only audit trail of the control API.
//
// One JSON object per line, written with a single write(2) on an O_APPEND fd,
// so concurrent requests (and processes) never interleave within a line.
// Records carry who (token subject, peer uid/pid), what (action, account,
// resource) and the outcome (HTTP status, reason for auth failures). They
// never carry key material: the record type has no field that could hold it.
#pragma once

#include <sys/types.h>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "recvault/control/http.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/util/result.hpp"

namespace recvault::control {

struct AuditRecord {
  std::string subject;  // token `sub`; empty when unauthenticated
  PeerInfo peer;
  std::string account;                  // X-Account-ID when given
  std::string action;                   // e.g. "config.get", "config.update", "public_key.delete", "auth"
  std::string resource;                 // e.g. a publicKeyId; empty otherwise
  int status = 0;                       // the HTTP status answered
  std::string reason;                   // why it failed (auth failures); never a secret
  std::vector<std::uint32_t> versions;  // key versions acted on (key lifecycle); empty otherwise
  // Counts of a background job (re-encryption: files, bytes, skipped, errors); empty otherwise.
  std::vector<std::pair<std::string, std::uint64_t>> counts;
};

class AuditLog {
 public:
  // Opens (creating with `mode`, default 0600) `path` for appending.
  static Result<std::unique_ptr<AuditLog>> open(const std::string& path, mode_t mode = 0600);
  // A log that drops records (tests, or when no path is configured).
  static std::unique_ptr<AuditLog> disabled();

  // Appends one line. Thread-safe. A failure is returned, not thrown; the
  // router reports it on stderr (the change it describes is already made).
  Status append(const AuditRecord& record);

  // The line append() would write (for tests), without the trailing newline.
  static std::string format(const AuditRecord& record, std::int64_t unix_ms);

 private:
  explicit AuditLog(sys::UniqueFd fd) : fd_(std::move(fd)) {}
  sys::UniqueFd fd_;
  std::mutex mu_;
};

}  // namespace recvault::control
