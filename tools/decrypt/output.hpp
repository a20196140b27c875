// Where decrypted plaintext goes: standard output, or a file that appears
// only when complete.
//
// A file output is written to a temporary file (mode 0600) in the target's
// directory and renamed over the target by commit(); destroying an Output
// that was not committed removes the temporary, so a failed decrypt never
// leaves a partial (or any) output file.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "recvault/sys/fd.hpp"
#include "recvault/util/result.hpp"

namespace recvault::tools {

class Output {
 public:
  static Result<std::unique_ptr<Output>> to_stdout();
  static Result<std::unique_ptr<Output>> to_file(const std::string& path);
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  Status write(std::span<const std::uint8_t> data);
  // Appends `n` zero bytes: a hole in a file output (no disk used), written
  // zeros on standard output (which may be a pipe, or a file in append mode).
  Status skip(std::uint64_t n);
  // File: fsync, rename over the target, fsync the directory. Stdout: no-op.
  Status commit();

 private:
  Output() = default;
  sys::UniqueFd owned_;
  int fd_ = -1;
  std::string temp_path_;
  std::string final_path_;
  bool committed_ = false;
  bool pending_hole_ = false;  // skip() moved past the end of the written data
};

}  // namespace recvault::tools
