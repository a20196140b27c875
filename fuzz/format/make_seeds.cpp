// Writes the seed corpus of fuzz_format: small valid backing files (both
// algorithms, sealed, unterminated, torn, empty, with holes, a growth cut
// short) holding pattern_byte(), and zeros in holes (chunks >= 4 only).
//   make_seeds OUTDIR
// The v1-* seeds in corpus/ were made in format version 1 (this build writes
// version 2 and cannot remake them); they stay, to keep that reader fuzzed.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "fuzz_key.hpp"
#include "recvault/format/encrypted_file.hpp"
#include "recvault/format/record.hpp"

using namespace recvault;

namespace {

bool make(const std::string& path, format::Algorithm alg, std::size_t size, bool seal, std::size_t torn) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  auto f = format::EncryptedFile::create(fd, fuzz::fuzz_spec(alg), 4096);
  if (!f) return false;
  std::vector<std::uint8_t> data(size);
  for (std::size_t i = 0; i < size; ++i) data[i] = fuzz::pattern_byte(i);
  bool ok = (*f)->write(0, data).ok() && (seal ? (*f)->seal().ok() : (*f)->flush().ok());
  if (ok && torn > 0) ok = ::ftruncate(fd, ::lseek(fd, 0, SEEK_END) - static_cast<off_t>(torn)) == 0;
  ::close(fd);
  return ok;
}

// Pattern in chunks 0..3 and 12 (100 bytes), a hole 4..11; with `split`
// also chunk 7, which splits the hole in two. With `cut`, a growth whose
// writer died after the marker (pattern in chunks 0..3, the hole 4..8).
bool make_holes(const std::string& path, format::Algorithm alg, bool split, bool cut) {
  constexpr std::uint64_t c = 4096;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  auto f = format::EncryptedFile::create(fd, fuzz::fuzz_spec(alg), c);
  auto put = [&](std::uint64_t off, std::size_t n) {
    std::vector<std::uint8_t> data(n);
    for (std::size_t i = 0; i < n; ++i) data[i] = fuzz::pattern_byte(off + i);
    return (*f)->write(off, data).ok();
  };
  bool ok = f.ok();
  if (ok && cut) {
    // Grown to 10 chunks, then cut right after the marker (chunk 8): the new
    // last chunk was never written.
    const auto& h = (*f)->header();
    const std::uint64_t marker_end =
        h.encoded_size() + 8 * format::record_size(h.algorithm, c) + format::record_size(h.algorithm, 8);
    ok = put(0, 4 * c) && (*f)->truncate(10 * c).ok() && ::ftruncate(fd, static_cast<off_t>(marker_end)) == 0;
  } else if (ok) {
    ok = put(0, 4 * c) && put(12 * c, 100) && (!split || put(7 * c, c)) && (split ? (*f)->flush() : (*f)->seal()).ok();
  }
  if (f) f->reset();
  ::close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUTDIR\n");
    return 2;
  }
  const std::string out = argv[1];
  bool ok = true;
  for (auto alg : {format::Algorithm::aes256_gcm, format::Algorithm::aes256_cbc_hmac}) {
    const std::string a = alg == format::Algorithm::aes256_gcm ? "gcm" : "cbc";
    ok = ok && make(out + "/" + a + "-empty-sealed", alg, 0, true, 0);
    ok = ok && make(out + "/" + a + "-small-sealed", alg, 100, true, 0);
    ok = ok && make(out + "/" + a + "-3chunks-sealed", alg, 9000, true, 0);
    ok = ok && make(out + "/" + a + "-2chunks-open", alg, 5000, false, 0);
    ok = ok && make(out + "/" + a + "-torn", alg, 9000, false, 7);
    ok = ok && make_holes(out + "/" + a + "-holes-sealed", alg, false, false);
    ok = ok && make_holes(out + "/" + a + "-holes-split-open", alg, true, false);
    ok = ok && make_holes(out + "/" + a + "-growth-cut", alg, false, true);
  }
  return ok ? 0 : 1;
}
