// libFuzzer target: arbitrary bytes as a backing file, opened, read and
// verified with a fixed key. Must never crash, hang or return a byte that is
// not the authenticated plaintext (the seeds all hold pattern_byte()).
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "fuzz_key.hpp"
#include "recvault/format/encrypted_file.hpp"
#include "recvault/sys/fd.hpp"

using namespace recvault;

namespace {

format::KeyResolver resolver() {
  return [](const format::Header&) -> Result<format::VersionKeyPtr> { return fuzz::fuzz_key(); };
}

// Every byte is the pattern, or a zero of a hole: the seeds have holes only
// in chunks 4 and up (4 KiB chunks), never in a file's last chunk.
void check_plaintext(std::span<const std::uint8_t> got, std::uint64_t offset, std::uint64_t size) {
  const std::uint64_t last_chunk = (size - 1) / 4096;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const std::uint64_t at = offset + i, chunk = at / 4096;
    if (got[i] == fuzz::pattern_byte(at)) continue;
    if (got[i] == 0 && chunk >= 4 && chunk < last_chunk) continue;
    std::abort();  // unauthenticated bytes returned
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (std::size_t{1} << 20)) return 0;
  sys::UniqueFd fd(::memfd_create("fuzz-format", MFD_CLOEXEC));
  if (!fd.valid() || !sys::pwrite_full(fd.get(), std::span(data, size), 0)) return 0;

  auto f = format::EncryptedFile::open(fd.get(), resolver());
  if (f) {
    auto& file = **f;
    if (file.size() > size) std::abort();  // plaintext never exceeds ciphertext
    std::vector<std::uint8_t> buf(7000);
    for (std::uint64_t off = 0; off < file.size(); off += buf.size()) {
      auto n = file.read(off, buf);
      if (!n) break;
      check_plaintext(std::span(buf).first(*n), off, file.size());
    }
    // Writing and sealing a damaged file must fail cleanly or succeed.
    if (size % 3 == 0) {
      const std::uint8_t extra[5] = {1, 2, 3, 4, 5};
      (void)file.write(file.size(), extra);
      (void)file.seal();
    }
  }
  auto v = format::verify_file(fd.get(), resolver());
  if (v && v->plaintext_size > size) std::abort();
  return 0;
}
