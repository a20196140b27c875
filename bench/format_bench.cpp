// Throughput of the recording format, separating the crypto cost (in-memory
// RecordCodec seal/open) from the file path (EncryptedFile on a page-cached or
// tmpfs file), next to raw OpenSSL AES-256-GCM on the same buffers.
//
// Output: one "bench <name> <MB/s>" line per measurement (MB = 10^6 bytes per
// second of CPU time),
// parsed by run_format_bench.sh. Not a test: numbers depend on the machine.
//
// Usage: format_bench [seconds-per-measurement] [directory for the file tests]
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "recvault/format/encrypted_file.hpp"
#include "recvault/format/record.hpp"
#include "recvault/sys/fd.hpp"

using namespace recvault;
using Clock = std::chrono::steady_clock;

namespace {

double g_seconds = 2.0;

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Runs `step` (which processes `bytes` bytes) for g_seconds of this thread's
// CPU time (user + system) and prints bytes per CPU-second. CPU time, like
// `openssl speed` (which counts user time), keeps the comparison fair on a
// shared machine where wall-clock figures depend on the neighbours.
void measure(const char* name, std::size_t bytes, const std::function<void()>& step) {
  step();  // warm up
  std::uint64_t done = 0;
  const double start = thread_cpu_seconds();
  const auto wall_start = Clock::now();
  double elapsed = 0;
  do {
    for (int i = 0; i < 16; ++i) step();
    done += 16 * bytes;
    elapsed = thread_cpu_seconds() - start;
  } while (elapsed < g_seconds && Clock::now() - wall_start < std::chrono::duration<double>(10 * g_seconds));
  std::printf("bench %-28s %10.1f\n", name, static_cast<double>(done) / elapsed / 1e6);
  std::fflush(stdout);
}

template <class R>
void check(const R& r, const char* what) {
  if (!r.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, r.error().message.c_str());
    std::exit(1);
  }
}

// Raw OpenSSL: one GCM context, fresh IV per 16 KiB message, as a minimal
// AEAD user would do it (upper bound for the format).
void bench_raw_gcm(std::size_t n) {
  std::vector<std::uint8_t> key(32, 7), iv(12, 1), in(n, 3), out(n), tag(16);
  EVP_CIPHER* gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  const std::string name = "raw.gcm.seal." + std::to_string(n / 1024) + "k";
  measure(name.c_str(), n, [&] {
    int len = 0;
    EVP_EncryptInit_ex2(c, gcm, key.data(), iv.data(), nullptr);
    EVP_EncryptUpdate(c, out.data(), &len, in.data(), static_cast<int>(n));
    EVP_EncryptFinal_ex(c, out.data(), &len);
    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag.data());
    ++iv[0];
  });
  EVP_CIPHER_CTX_free(c);
  EVP_CIPHER_free(gcm);
}

format::KeySpec spec(format::Algorithm alg) {
  static const auto key = std::make_shared<const format::VersionKey>(
      format::VersionKey::derive("benchmark_key_with_at_least_32_characters", "bench_salt").value());
  format::KeySpec s;
  s.algorithm = alg;
  s.key_version = 1;
  s.key_id = "key_auto_bench";
  s.salt = "bench_salt";
  s.key = key;
  return s;
}

const char* tag(format::Algorithm alg) { return alg == format::Algorithm::aes256_gcm ? "gcm" : "cbc"; }

// In memory: RecordCodec seal/open of one chunk (random nonce, AAD, cipher).
void bench_codec(format::Algorithm alg, std::uint32_t chunk) {
  format::Header h;
  h.algorithm = alg;
  h.chunk_shift = static_cast<std::uint8_t>(__builtin_ctz(chunk));
  h.kdf = spec(alg).key->params();
  auto keys = format::derive_file_keys(*spec(alg).key, h).value();
  format::RecordCodec codec(h, keys);
  std::vector<std::uint8_t> plain(chunk, 5), record(format::record_size(alg, chunk)), out(record.size());
  const std::string k = std::to_string(chunk / 1024) + "k";
  measure(("codec." + std::string(tag(alg)) + ".seal." + k).c_str(), chunk,
          [&] { check(codec.seal(3, format::RecordFlags::none, plain, record), "seal"); });
  measure(("codec." + std::string(tag(alg)) + ".open." + k).c_str(), chunk,
          [&] { check(codec.open(3, format::RecordFlags::none, record, out), "open"); });
}

// Through the file: EncryptedFile writes of 16 KiB blocks (a whole file per
// step, then seal), and reads of 16 KiB and of whole 64 KiB chunks.
void bench_file(format::Algorithm alg, const std::string& dir) {
  constexpr std::size_t kFile = 32 << 20, kBlock = 16 << 10;
  const std::string path = dir + "/recvault-bench-" + std::to_string(::getpid());
  std::vector<std::uint8_t> block(kBlock, 9), big(format::kDefaultChunkSize);
  auto create = [&] {
    sys::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    auto f = format::EncryptedFile::create(fd.get(), spec(alg)).value();
    for (std::size_t off = 0; off < kFile; off += kBlock) check(f->write(off, block), "write");
    check(f->seal(), "seal");
  };
  measure(("file." + std::string(tag(alg)) + ".write.16k").c_str(), kFile, create);
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  auto resolve = [&](const format::Header&) -> Result<format::VersionKeyPtr> { return spec(alg).key; };
  auto f = format::EncryptedFile::open(fd.get(), resolve).value();
  measure(("file." + std::string(tag(alg)) + ".read.16k").c_str(), kFile, [&] {
    for (std::size_t off = 0; off < kFile; off += kBlock) check(f->read(off, block), "read");
  });
  measure(("file." + std::string(tag(alg)) + ".read.64k").c_str(), kFile, [&] {
    for (std::size_t off = 0; off < kFile; off += big.size()) check(f->read(off, big), "read");
  });
  ::unlink(path.c_str());
}

// The same I/O without crypto: 16 KiB pwrite/pread of plaintext on the same
// file system. The file rows above cannot beat the harmonic sum of this and
// the codec rows.
void bench_plain_io(const std::string& dir) {
  constexpr std::size_t kFile = 32 << 20, kBlock = 16 << 10;
  const std::string path = dir + "/recvault-bench-plain-" + std::to_string(::getpid());
  std::vector<std::uint8_t> block(kBlock, 9);
  measure("file.plain.write.16k", kFile, [&] {
    sys::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    for (std::size_t off = 0; off < kFile; off += kBlock) check(sys::pwrite_full(fd.get(), block, off), "pwrite");
  });
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  measure("file.plain.read.16k", kFile, [&] {
    for (std::size_t off = 0; off < kFile; off += kBlock) check(sys::pread_full(fd.get(), block, off), "pread");
  });
  ::unlink(path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) g_seconds = std::atof(argv[1]);
  std::string dir = argc > 2 ? argv[2] : (std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp");
  bench_raw_gcm(16 << 10);
  bench_raw_gcm(64 << 10);
  bench_plain_io(dir);
  for (auto alg : {format::Algorithm::aes256_gcm, format::Algorithm::aes256_cbc_hmac}) {
    bench_codec(alg, 16 << 10);
    bench_codec(alg, 64 << 10);
    bench_file(alg, dir);
  }
  return 0;
}
