// fsbench: the recorder-platform workloads against one directory (a raw dir,
// a recvault mount or a gocryptfs mount). Every byte read back is verified.
// Prints one JSON object per run on stdout. Driven by bench/run_fs_bench.sh.
//
//   fsbench seq_write   DIR MIB          1 MiB writes + fsync
//   fsbench seq_read    DIR MIB          1 MiB reads of seq.bin (verify)
//   fsbench recorders   DIR K FRAMES     K appenders of 320-byte frames, then close
//   fsbench small_files DIR N            N x 64 KiB create+write+close, then read back
//   fsbench random_read DIR MIB COUNT    4 KiB reads at random offsets of seq.bin
//   fsbench hold_open   DIR N            N recordings open with a frame each, until stdin closes
//   fsbench accounts_write DIR N         one 64 KiB recording in each of DIR/acct-0 .. acct-N-1 (16 threads)
//   fsbench accounts_first_read DIR N    16 threads: the first 4 KiB of every account's recording (verify),
//                                        then a new 4 KiB recording in every account; "seconds" is the
//                                        time to the last byte of both (a cold start across accounts)
//   fsbench live_calls DIR N SECONDS     N calls in real time: each appends one 320-byte frame (20 ms
//                                        of 8 kHz audio) every 20 ms, start times spread over one
//                                        period, one thread per call; reports write() latency
//                                        percentiles and the writes slower than one period;
//                                        FSBENCH_CDF=F writes the distribution to F, FSBENCH_SLOW=F
//                                        every write slower than 5 ms with its moment and call
//   fsbench listing     DIR N            N recordings named as PBX recorders do (one frame each),
//                                        then list the directory with a stat of every entry (ls -l)
//   fsbench staleness   DIR_A DIR_B N MODE   two hosts' views of one shared backing directory: N times,
//                                        host A appends one 320-byte frame to a recording it keeps
//                                        open in DIR_A, and host B polls that recording in DIR_B
//                                        every 5 ms until those bytes read back exact. MODE "open": B
//                                        opens, reads and closes at each poll (a player starting);
//                                        "held": B reads through one descriptor it keeps open (a
//                                        player following the call); "closed": each sample is a new
//                                        recording of 50 frames that A closes, and B polls with new
//                                        opens until the whole recording reads exact. Reports the
//                                        time from A's write (or close) to B's exact read: p50, p99,
//                                        max; a sample not seen within 60 s fails (exit 4)
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// The expected content of file `id` at byte `offset`: 8-byte words of a hash.
void fill(std::uint64_t id, std::uint64_t offset, std::uint8_t* out, std::size_t n) {
  for (std::size_t i = 0; i < n;) {
    std::uint64_t pos = offset + i, word = pos / 8;
    std::uint64_t v = splitmix(id << 40 ^ word);
    std::size_t within = pos % 8, take = std::min<std::size_t>(8 - within, n - i);
    std::memcpy(out + i, reinterpret_cast<const std::uint8_t*>(&v) + within, take);
    i += take;
  }
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "fsbench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(2);
}

void write_full(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) die("write");
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void verify(std::uint64_t id, std::uint64_t offset, const std::uint8_t* got, std::size_t n, const std::string& path) {
  thread_local std::vector<std::uint8_t> want;
  want.resize(n);
  fill(id, offset, want.data(), n);
  if (std::memcmp(want.data(), got, n) != 0) {
    std::fprintf(stderr, "fsbench: MISMATCH in %s at offset %llu\n", path.c_str(),
                 static_cast<unsigned long long>(offset));
    std::exit(3);
  }
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void report(const char* workload, double secs, double bytes, double ops, const char* ops_name) {
  std::printf("{\"workload\":\"%s\",\"seconds\":%.4f,\"MBps\":%.2f,\"%s_per_s\":%.1f}\n", workload, secs,
              bytes / secs / 1e6, ops_name, ops / secs);
}

constexpr std::size_t MiB = 1 << 20;

void seq_write(const std::string& dir, std::size_t mib) {
  std::string path = dir + "/seq.bin";
  std::vector<std::uint8_t> buf(MiB);
  auto t = Clock::now();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open " + path);
  for (std::size_t i = 0; i < mib; ++i) {
    fill(1, i * MiB, buf.data(), MiB);
    write_full(fd, buf.data(), MiB);
  }
  if (::fsync(fd) != 0) die("fsync");
  ::close(fd);
  report("seq_write", seconds_since(t), double(mib * MiB), double(mib), "writes");
}

void seq_read(const std::string& dir, std::size_t mib) {
  std::string path = dir + "/seq.bin";
  std::vector<std::uint8_t> buf(MiB);
  auto t = Clock::now();
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) die("open " + path);
  std::uint64_t off = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) die("read");
    if (n == 0) break;
    verify(1, off, buf.data(), static_cast<std::size_t>(n), path);
    off += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  if (off != mib * MiB) {
    std::fprintf(stderr, "fsbench: seq.bin has %llu bytes\n", static_cast<unsigned long long>(off));
    std::exit(3);
  }
  report("seq_read", seconds_since(t), double(off), double(mib), "reads");
}

void recorders(const std::string& dir, int callers, int frames) {
  constexpr std::size_t kFrame = 320;
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      std::string path = dir + "/call-" + std::to_string(c) + ".wav";
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
      if (fd < 0) die("open " + path);
      std::uint8_t frame[kFrame];
      while (!go.load()) std::this_thread::yield();
      for (int f = 0; f < frames; ++f) {
        fill(100 + static_cast<std::uint64_t>(c), std::uint64_t(f) * kFrame, frame, kFrame);
        write_full(fd, frame, kFrame);
      }
      ::close(fd);
    });
  }
  auto t = Clock::now();
  go = true;
  for (auto& th : threads) th.join();
  double secs = seconds_since(t);
  // Verify after timing.
  std::vector<std::uint8_t> buf(std::size_t(frames) * kFrame);
  for (int c = 0; c < callers; ++c) {
    std::string path = dir + "/call-" + std::to_string(c) + ".wav";
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) die("open " + path);
    std::size_t got = 0;
    while (got < buf.size()) {
      ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (got != buf.size()) {
      std::fprintf(stderr, "fsbench: %s is short (%zu bytes)\n", path.c_str(), got);
      std::exit(3);
    }
    verify(100 + static_cast<std::uint64_t>(c), 0, buf.data(), buf.size(), path);
  }
  double total = double(callers) * frames;
  report("recorders", secs, total * kFrame, total, "frames");
}

void small_files(const std::string& dir, int count) {
  constexpr std::size_t kSize = 64 * 1024;
  std::vector<std::uint8_t> buf(kSize);
  ::mkdir((dir + "/small").c_str(), 0755);
  auto t = Clock::now();
  for (int i = 0; i < count; ++i) {
    std::string path = dir + "/small/f" + std::to_string(i);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open " + path);
    fill(1000 + static_cast<std::uint64_t>(i), 0, buf.data(), kSize);
    write_full(fd, buf.data(), kSize);
    ::close(fd);
  }
  report("small_files_write", seconds_since(t), double(count) * kSize, count, "files");
}

void small_files_read(const std::string& dir, int count) {
  constexpr std::size_t kSize = 64 * 1024;
  std::vector<std::uint8_t> buf(kSize);
  auto t = Clock::now();
  for (int i = 0; i < count; ++i) {
    std::string path = dir + "/small/f" + std::to_string(i);
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) die("open " + path);
    std::size_t got = 0;
    while (got < kSize) {
      ssize_t n = ::read(fd, buf.data() + got, kSize - got);
      if (n <= 0) break;
      got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (got != kSize) die("short small file " + path);
    verify(1000 + static_cast<std::uint64_t>(i), 0, buf.data(), kSize, path);
  }
  report("small_files_read", seconds_since(t), double(count) * kSize, count, "files");
}

void random_read(const std::string& dir, std::size_t mib, int count) {
  std::string path = dir + "/seq.bin";
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) die("open " + path);
  std::mt19937_64 rng(7);
  std::uint8_t buf[4096];
  const std::uint64_t blocks = mib * MiB / 4096;
  auto t = Clock::now();
  for (int i = 0; i < count; ++i) {
    std::uint64_t off = (rng() % blocks) * 4096;
    if (::pread(fd, buf, sizeof buf, static_cast<off_t>(off)) != static_cast<ssize_t>(sizeof buf)) die("pread");
    verify(1, off, buf, sizeof buf, path);
  }
  ::close(fd);
  report("random_read", seconds_since(t), double(count) * 4096, count, "reads");
}

void hold_open(const std::string& dir, int count) {
  std::vector<int> fds;
  std::uint8_t frame[320];
  for (int i = 0; i < count; ++i) {
    std::string path = dir + "/open-" + std::to_string(i) + ".wav";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open " + path);
    fill(5000 + static_cast<std::uint64_t>(i), 0, frame, sizeof frame);
    write_full(fd, frame, sizeof frame);
    fds.push_back(fd);
  }
  for (int fd : fds) ::fsync(fd);  // the daemon now holds every tail
  std::printf("{\"workload\":\"hold_open\",\"files\":%d}\n", count);
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  for (int fd : fds) ::close(fd);
}

// Recorder-style names: date, time, caller number, call id.
std::string recording_name(int i) {
  char name[96];
  std::snprintf(name, sizeof name, "20261202-%02d%02d-+1555%07d-%d.wav", (i / 60) % 24, i % 60, 1000000 + i, i);
  return name;
}

void listing(const std::string& dir, int count) {
  const std::string d = dir + "/listing";
  ::mkdir(d.c_str(), 0755);
  std::uint8_t frame[320];
  auto t = Clock::now();
  for (int i = 0; i < count; ++i) {
    std::string path = d + "/" + recording_name(i);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open " + path);
    fill(7000 + static_cast<std::uint64_t>(i), 0, frame, sizeof frame);
    write_full(fd, frame, sizeof frame);
    ::close(fd);
  }
  report("listing_create", seconds_since(t), double(count) * sizeof frame, count, "files");
  // Three listings (the first after the kernel dropped its dentries for the
  // entries): readdir, then lstat of every name, as `ls -l` does.
  for (int pass = 0; pass < 3; ++pass) {
    t = Clock::now();
    DIR* dp = ::opendir(d.c_str());
    if (dp == nullptr) die("opendir " + d);
    int seen = 0;
    while (dirent* ent = ::readdir(dp)) {
      if (ent->d_name[0] == '.') continue;
      struct stat st {};
      if (::fstatat(::dirfd(dp), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) die(std::string("stat ") + ent->d_name);
      if (st.st_size != static_cast<off_t>(sizeof frame)) die(std::string("wrong size of ") + ent->d_name);
      ++seen;
    }
    ::closedir(dp);
    if (seen != count) die("listing saw " + std::to_string(seen) + " of " + std::to_string(count));
    report("listing", seconds_since(t), 0, count, "entries");
  }
}

// Runs fn(i) for i in [0, count) on `threads` threads.
template <class Fn>
void parallel_for(int count, int threads, Fn fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (int i; (i = next.fetch_add(1)) < count;) fn(i);
    });
  for (auto& th : pool) th.join();
}

std::string account_file(const std::string& dir, int i, const char* name) {
  return dir + "/acct-" + std::to_string(i) + "/" + name;
}

void accounts_write(const std::string& dir, int count) {
  constexpr std::size_t kSize = 64 * 1024;
  auto t = Clock::now();
  parallel_for(count, 16, [&](int i) {
    std::vector<std::uint8_t> buf(kSize);
    ::mkdir((dir + "/acct-" + std::to_string(i)).c_str(), 0755);
    const std::string path = account_file(dir, i, "call.wav");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open " + path);
    fill(20000 + static_cast<std::uint64_t>(i), 0, buf.data(), kSize);
    write_full(fd, buf.data(), kSize);
    if (::close(fd) != 0) die("close " + path);
  });
  report("accounts_write", seconds_since(t), double(count) * kSize, count, "files");
}

void accounts_first_read(const std::string& dir, int count) {
  constexpr std::size_t kHead = 4096;
  auto t = Clock::now();
  parallel_for(count, 16, [&](int i) {
    std::uint8_t buf[kHead];
    const std::string path = account_file(dir, i, "call.wav");
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) die("open " + path);
    if (::pread(fd, buf, kHead, 0) != static_cast<ssize_t>(kHead)) die("short read of " + path);
    ::close(fd);
    verify(20000 + static_cast<std::uint64_t>(i), 0, buf, kHead, path);
    const std::string fresh = account_file(dir, i, "new.wav");
    fd = ::open(fresh.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open " + fresh);
    fill(40000 + static_cast<std::uint64_t>(i), 0, buf, kHead);
    write_full(fd, buf, kHead);
    if (::close(fd) != 0) die("close " + fresh);
  });
  report("accounts_first_read", seconds_since(t), double(count) * 2 * kHead, count, "accounts");
}

void live_calls(const std::string& dir, int calls, int seconds) {
  using namespace std::chrono;
  constexpr auto kPeriod = milliseconds(20);
  constexpr std::size_t kFrame = 320;
  const int frames = seconds * 50;
  std::vector<std::vector<float>> latencies(static_cast<std::size_t>(calls));  // ms, per call
  // Writes slower than a quarter period, as (ms since start, latency ms), per
  // call: FSBENCH_SLOW names a file that gets them, to tie a stall to a moment.
  // FSBENCH_SLOW_MS: the threshold of that list (default 5 ms).
  std::vector<std::vector<std::pair<float, float>>> slow(static_cast<std::size_t>(calls));
  const float slow_ms =
      std::getenv("FSBENCH_SLOW_MS") != nullptr ? std::strtof(std::getenv("FSBENCH_SLOW_MS"), nullptr) : 5.0f;
  const auto start = Clock::now() + milliseconds(200);
  const auto wall_start = std::chrono::system_clock::now() + milliseconds(200);
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(calls));
  for (int c = 0; c < calls; ++c) {
    threads.emplace_back([&, c] {
      auto& mine = latencies[static_cast<std::size_t>(c)];
      mine.reserve(static_cast<std::size_t>(frames));
      const std::string path = dir + "/live-" + std::to_string(c) + ".wav";
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) die("open " + path);
      std::uint8_t frame[kFrame];
      auto next = start + duration_cast<Clock::duration>(kPeriod * c / calls);  // spread over one period
      for (int f = 0; f < frames; ++f) {
        std::this_thread::sleep_until(next);
        fill(60000 + static_cast<std::uint64_t>(c), static_cast<std::uint64_t>(f) * kFrame, frame, kFrame);
        const auto t0 = Clock::now();
        write_full(fd, frame, kFrame);
        const float took = duration<float, std::milli>(Clock::now() - t0).count();
        mine.push_back(took);
        if (took > slow_ms)
          slow[static_cast<std::size_t>(c)].emplace_back(duration<float, std::milli>(t0 - start).count(), took);
        next += kPeriod;
        // A late recorder does not try to catch up in a burst: it goes on from now.
        if (next < Clock::now()) next = Clock::now();
      }
      if (::close(fd) != 0) die("close " + path);
    });
  }
  for (auto& th : threads) th.join();
  // Every frame back, in order.
  parallel_for(calls, 16, [&](int c) {
    const std::string path = dir + "/live-" + std::to_string(c) + ".wav";
    std::vector<std::uint8_t> got(static_cast<std::size_t>(frames) * kFrame);
    int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) die("open " + path);
    if (::pread(fd, got.data(), got.size(), 0) != static_cast<ssize_t>(got.size())) die("short read of " + path);
    ::close(fd);
    verify(60000 + static_cast<std::uint64_t>(c), 0, got.data(), got.size(), path);
  });
  std::vector<float> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all[std::min(all.size() - 1, static_cast<std::size_t>(p * double(all.size())))]; };
  const auto late = all.end() - std::upper_bound(all.begin(), all.end(), 20.0f);
  // The latency distribution for bench/plot_live_calls.gp: "percentile ms"
  // lines at 1 - 10^-k steps (0, 90, 99, 99.9, ... and between).
  if (const char* cdf = std::getenv("FSBENCH_CDF")) {
    FILE* f = std::fopen(cdf, "w");
    if (f == nullptr) die(std::string("open ") + cdf);
    for (double tail = 1.0; tail * double(all.size()) >= 1.0; tail /= 1.25)
      std::fprintf(f, "%.6f %.4f\n", 100.0 * (1.0 - tail), double(pct(1.0 - tail)));
    std::fprintf(f, "%.6f %.4f\n", 100.0, double(all.back()));
    std::fclose(f);
  }
  if (const char* name = std::getenv("FSBENCH_SLOW")) {
    FILE* f = std::fopen(name, "w");
    if (f == nullptr) die(std::string("open ") + name);
    std::fprintf(f, "# start %.3f (unix seconds); then: ms since start, latency ms, call\n",
                 duration<double>(wall_start.time_since_epoch()).count());
    for (std::size_t c = 0; c < slow.size(); ++c)
      for (const auto& [at, took] : slow[c]) std::fprintf(f, "%.1f %.2f %zu\n", double(at), double(took), c);
    std::fclose(f);
  }
  std::printf(
      "{\"workload\":\"live_calls\",\"calls\":%d,\"writes\":%zu,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
      "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"late\":%td}\n",
      calls, all.size(), double(pct(0.50)), double(pct(0.99)), double(pct(0.999)), double(all.back()), late);
}

// One staleness sample: polls `seen` every 5 ms; the milliseconds until it
// held, or exits when 60 s pass.
template <typename Seen>
double until_seen(Seen seen, const std::string& what) {
  const auto t0 = Clock::now();
  while (!seen()) {
    if (seconds_since(t0) > 60) {
      std::fprintf(stderr, "fsbench: %s not readable on the other host after 60 s\n", what.c_str());
      std::exit(4);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return seconds_since(t0) * 1000;
}

// True when `path` opens and reads `want` at `offset` (whole: nothing after it when `exact`).
bool reads_back(const std::string& path, const std::vector<std::uint8_t>& want, std::uint64_t offset, bool exact) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return false;
  std::vector<std::uint8_t> got(want.size() + 1);
  const ssize_t n = ::pread(fd, got.data(), got.size(), static_cast<off_t>(offset));
  ::close(fd);
  return (n == static_cast<ssize_t>(want.size()) || (!exact && n > static_cast<ssize_t>(want.size()))) &&
         std::memcmp(got.data(), want.data(), want.size()) == 0;
}

void staleness(const std::string& dir_a, const std::string& dir_b, int samples, const std::string& mode) {
  constexpr std::size_t kFrame = 320;
  if (samples < 1 || (mode != "open" && mode != "held" && mode != "closed")) {
    std::fprintf(stderr, "fsbench: staleness needs N >= 1 and MODE open, held or closed\n");
    std::exit(1);
  }
  std::mt19937 rng(7);
  std::vector<double> ms;
  const std::string name = "/staleness-" + mode + ".wav";
  int fd = -1, held = -1;
  std::uint64_t at = 0;
  std::vector<std::uint8_t> frame(kFrame);
  if (mode != "closed") {
    fd = ::open((dir_a + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open " + dir_a + name);
    // The recording exists on B before the first sample (its header, at A's first flush).
    fill(70000, 0, frame.data(), kFrame);
    write_full(fd, frame.data(), kFrame);
    at = kFrame;
    until_seen([&] { return reads_back(dir_b + name, frame, 0, false); }, dir_b + name);
    if (mode == "held" && (held = ::open((dir_b + name).c_str(), O_RDONLY)) < 0) die("open " + dir_b + name);
  }
  for (int i = 0; i < samples; ++i) {
    // A random phase against the writer's flush interval and the caches' timeouts.
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 500));
    if (mode == "closed") {
      const std::string path = "/staleness-closed-" + std::to_string(i) + ".wav";
      std::vector<std::uint8_t> whole(50 * kFrame);
      fill(71000 + static_cast<std::uint64_t>(i), 0, whole.data(), whole.size());
      int c = ::open((dir_a + path).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (c < 0) die("open " + dir_a + path);
      for (std::size_t off = 0; off < whole.size(); off += kFrame) write_full(c, whole.data() + off, kFrame);
      if (::close(c) != 0) die("close " + dir_a + path);
      ms.push_back(until_seen([&] { return reads_back(dir_b + path, whole, 0, true); }, dir_b + path));
      continue;
    }
    fill(70000, at, frame.data(), kFrame);
    write_full(fd, frame.data(), kFrame);
    if (mode == "open") {
      ms.push_back(until_seen([&] { return reads_back(dir_b + name, frame, at, true); }, dir_b + name));
    } else {
      std::vector<std::uint8_t> got(kFrame + 1);
      ms.push_back(until_seen(
          [&] {
            return ::pread(held, got.data(), got.size(), static_cast<off_t>(at)) == static_cast<ssize_t>(kFrame) &&
                   std::memcmp(got.data(), frame.data(), kFrame) == 0;
          },
          dir_b + name));
    }
    at += kFrame;
  }
  if (held >= 0) ::close(held);
  if (fd >= 0 && ::close(fd) != 0) die("close " + dir_a + name);
  std::sort(ms.begin(), ms.end());
  // Nearest rank: p99 of 100 samples is the 99th, not the largest.
  auto pct = [&](double p) {
    const auto rank = static_cast<std::size_t>(std::ceil(p * double(ms.size())));
    return ms[std::clamp<std::size_t>(rank, 1, ms.size()) - 1];
  };
  std::printf(
      "{\"workload\":\"staleness\",\"mode\":\"%s\",\"samples\":%zu,\"p50_ms\":%.1f,\"p99_ms\":%.1f,"
      "\"max_ms\":%.1f}\n",
      mode.c_str(), ms.size(), pct(0.50), pct(0.99), ms.back());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: fsbench WORKLOAD DIR [ARGS...] (see the source header)\n");
    return 1;
  }
  std::string w = argv[1], dir = argv[2];
  auto arg = [&](int i) { return i < argc ? std::atol(argv[i]) : 0; };
  if (w == "seq_write")
    seq_write(dir, static_cast<std::size_t>(arg(3)));
  else if (w == "seq_read")
    seq_read(dir, static_cast<std::size_t>(arg(3)));
  else if (w == "recorders")
    recorders(dir, static_cast<int>(arg(3)), static_cast<int>(arg(4)));
  else if (w == "small_files")
    small_files(dir, static_cast<int>(arg(3)));
  else if (w == "small_files_read")
    small_files_read(dir, static_cast<int>(arg(3)));
  else if (w == "random_read")
    random_read(dir, static_cast<std::size_t>(arg(3)), static_cast<int>(arg(4)));
  else if (w == "listing")
    listing(dir, static_cast<int>(arg(3)));
  else if (w == "accounts_write")
    accounts_write(dir, static_cast<int>(arg(3)));
  else if (w == "accounts_first_read")
    accounts_first_read(dir, static_cast<int>(arg(3)));
  else if (w == "live_calls")
    live_calls(dir, static_cast<int>(arg(3)), static_cast<int>(arg(4)));
  else if (w == "hold_open")
    hold_open(dir, static_cast<int>(arg(3)));
  else if (w == "staleness" && argc == 6)
    staleness(dir, argv[3], static_cast<int>(arg(4)), argv[5]);
  else {
    std::fprintf(stderr, "fsbench: unknown workload %s\n", w.c_str());
    return 1;
  }
  return 0;
}
