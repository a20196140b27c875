// Writes the seed corpus of fuzz_format: small valid backing files (both
// algorithms, sealed, unterminated, torn, empty) holding pattern_byte().
//   make_seeds OUTDIR
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "fuzz_key.hpp"
#include "recvault/format/encrypted_file.hpp"

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
  }
  return ok ? 0 : 1;
}
