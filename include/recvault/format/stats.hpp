// How many chunks (records) this process has encrypted and decrypted, for
// the daemon's metrics. Counted in RecordCodec::seal/open on success; a
// record that fails authentication is not "decrypted" (the FUSE layer counts
// those as tamper detections).
#pragma once

#include <cstdint>

namespace recvault::format {

struct CodecCounts {
  std::uint64_t sealed = 0;  // records encrypted
  std::uint64_t opened = 0;  // records authenticated and decrypted
};

CodecCounts codec_counts() noexcept;

}  // namespace recvault::format
