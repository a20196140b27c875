// Runs a real recvaultd on a real FUSE mount for end-to-end tests, and talks
// to its control socket with libcurl. Cleans up (SIGTERM, then SIGKILL and a
// lazy unmount) even when a test fails.
#pragma once

#include <curl/curl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "../test_util.hpp"
#include "recvault/control/jwt.hpp"
#include "recvault/crypto/primitives.hpp"

namespace recvault::test {

inline std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) throw std::runtime_error(std::string("environment variable ") + name + " is not set");
  return v;
}

struct HttpResponse {
  long status = 0;
  std::string body;
  nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

class Daemon {
 public:
  // Writes a configuration under a fresh temp dir; `extra` is appended TOML,
  // `keystore_extra` goes into [keystore] (e.g. backend = "etcd").
  explicit Daemon(std::string extra = "", int tail_flush_interval_ms = 200, std::string keystore_extra = "")
      : extra_(std::move(extra)),
        keystore_extra_(std::move(keystore_extra)),
        tail_flush_interval_ms_(tail_flush_interval_ms) {
    for (const char* sub : {"backing", "mnt", "keystore"}) std::filesystem::create_directory(dir_.path() / sub);
    write_config();
  }
  ~Daemon() {
    stop();
    cleanup_mount();  // also the stale mount a kill9() left
  }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Shared backing storage: `backing` (on a network file system) and the
  // keystore directory `keystore` are used by other daemons too; [storage]
  // gets shared = true. Rewrites the configuration (and its secrets: call
  // set_master_key_hex afterwards).
  void use_shared_storage(const std::string& backing, const std::string& keystore) {
    backing_ = backing;
    keystore_ = keystore;
    write_config();
  }

  std::string mnt() const { return dir_.file("mnt"); }
  std::string backing() const { return backing_.empty() ? dir_.file("backing") : backing_; }
  std::string socket() const { return dir_.file("control.sock"); }
  std::string config_path() const { return dir_.file("recvault.toml"); }
  std::string log_path() const { return dir_.file("daemon.log"); }
  const TempDir& dir() const { return dir_; }
  pid_t pid() const { return pid_; }

  void start() {
    const std::size_t mounts_before = count_in_log("recvault: mounted ");
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 2);
      ::dup2(fd, 1);
      std::string exe = env_or_fail("RECVAULTD");
      std::string cfg = config_path();
      ::execl(exe.c_str(), exe.c_str(), "-f", "-c", cfg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (count_in_log("recvault: mounted ") > mounts_before && is_mounted(mnt())) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("recvaultd exited during start-up: " + log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("recvaultd did not mount in time: " + log());
  }

  // Runs recvaultd without --foreground, as an admin would by hand: returns
  // the command's exit code (0 once the daemon serves). The process that
  // serves is then found by its command line, so stop() works on it too.
  int start_detached() {
    pid_t cmd = ::fork();
    if (cmd == 0) {
      int fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(fd, 2);
      std::string exe = env_or_fail("RECVAULTD");
      std::string cfg = config_path();
      ::execl(exe.c_str(), exe.c_str(), "-c", cfg.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    if (::waitpid(cmd, &status, 0) != cmd || !WIFEXITED(status)) return -1;
    if (WEXITSTATUS(status) == 0) detached_pid_ = find_serving_pid();
    return WEXITSTATUS(status);
  }

  // SIGTERM and wait; returns the exit status (or -1). For a detached daemon
  // (not our child) 0 once it has gone, -1 if it had to be killed.
  int stop() {
    if (detached_pid_ > 0) return stop_detached();
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int status = wait_exit(std::chrono::seconds(20));
    cleanup_mount();
    if (status != 0) print_log_tail("recvaultd stopped with wait status " + std::to_string(status));
    return status;
  }

  // The daemon's last log lines on stderr (the test's output): a failure on
  // a CI machine then says why (a sanitizer report goes to this log too).
  void print_log_tail(const std::string& why, std::size_t lines = 60) const {
    const std::string text = log();
    std::size_t begin = text.size();
    for (std::size_t n = 0; begin > 0 && n <= lines; --begin) {
      if (text[begin - 1] == '\n') ++n;
    }
    std::string tail = text.substr(begin);
    if (!tail.empty() && tail.back() != '\n') tail += '\n';
    std::cerr << "---- " << why << "; the end of " << log_path() << ":\n" << tail << "----\n";
  }

  // Waits for a daemon the test signalled itself to exit; returns the wait
  // status, or -1 after killing it at `limit`.
  int wait_stopped(std::chrono::seconds limit) {
    if (pid_ <= 0) return -1;
    int status = wait_exit(limit);
    cleanup_mount();
    return status;
  }

  // SIGKILL: the crash case. The mount is left stale, as after a real crash.
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
  }

  std::size_t count_in_log(const std::string& needle) const {
    std::string text = log();
    std::size_t n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
    return n;
  }

  std::string log() const {
    std::ifstream in(log_path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string token(const std::string& scope = "admin", const nlohmann::json& accounts = "*") const {
    std::ifstream in(dir_.file("jwt.secret"));
    std::string secret;
    std::getline(in, secret);
    nlohmann::json claims = {
        {"sub", "test-admin"}, {"scope", scope}, {"accounts", accounts}, {"exp", std::time(nullptr) + 600}};
    return control::mint_hs256(crypto::SecretBytes::from_view(secret), claims).value();
  }

  HttpResponse http(const std::string& method, const std::string& path, const std::string& account = "",
                    const std::string& body = "", const std::string& content_type = "application/json") const {
    return http_with(method, path, token(), account, body, content_type);
  }

  // The same with a given bearer token.
  HttpResponse http_with(const std::string& method, const std::string& path, const std::string& bearer,
                         const std::string& account = "", const std::string& body = "",
                         const std::string& content_type = "application/json") const {
    HttpResponse r;
    CURL* c = curl_easy_init();
    std::string url = "http://localhost" + path;
    curl_slist* headers = nullptr;
    std::string auth = "Authorization: Bearer " + bearer;
    headers = curl_slist_append(headers, auth.c_str());
    std::string ct = "Content-Type: " + content_type;
    headers = curl_slist_append(headers, ct.c_str());
    std::string acct = "X-Account-ID: " + account;
    if (!account.empty()) headers = curl_slist_append(headers, acct.c_str());
    std::string sock = socket();
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock.c_str());
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (!body.empty()) curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(
        c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* ud) {
          static_cast<std::string*>(ud)->append(p, s * n);
          return s * n;
        });
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return r;
  }

  // Replaces the master key file (hosts of one cluster share a master key).
  void set_master_key_hex(const std::string& hex) const {
    std::ofstream m(dir_.file("master.key"), std::ios::trunc);
    m << hex << "\n";
  }

  // PUT the account's config; returns the "config" object (throws on failure).
  nlohmann::json configure(const std::string& account, const nlohmann::json& request) const {
    auto r = http("PUT", "/api/v2/config/call_recording_encryption", account, request.dump());
    if (r.status != 200) throw std::runtime_error("PUT config failed: " + std::to_string(r.status) + " " + r.body);
    return r.json()["config"];
  }

  // How most mount tests begin: start(), enable encryption for `account`
  // and create its directory in the view (throws on failure).
  void start_with_account(const std::string& account) {
    start();
    configure(account, {{"enabled", true}});
    if (::mkdir((mnt() + "/" + account).c_str(), 0755) != 0) {
      throw std::runtime_error("mkdir of the account directory " + account + ": " + std::strerror(errno));
    }
  }

 private:
  void write_config() {
    std::ofstream out(config_path());
    out << "[storage]\nbacking_dir = \"" << backing() << "\"\nmount_point = \"mnt\"\n"
        << "tail_flush_interval_ms = " << tail_flush_interval_ms_ << "\n"
        << (backing_.empty() ? "" : "shared = true\n") << "[keystore]\npath = \""
        << (keystore_.empty() ? "keystore" : keystore_) << "\"\nmaster_key_file = \"master.key\"\n"
        << keystore_extra_
        << "[control]\nsocket = \"control.sock\"\njwt_hs256_secret_file = \"jwt.secret\"\naudit_log = \"audit.log\"\n"
        << extra_;
    std::vector<std::uint8_t> secret(32), key(32);
    crypto::random_bytes(secret).ok();
    crypto::random_bytes(key).ok();
    std::ofstream s(dir_.file("jwt.secret"));
    s << hex_encode(secret);
    s.close();
    ::chmod(dir_.file("jwt.secret").c_str(), 0600);
    std::ofstream m(dir_.file("master.key"));
    m << hex_encode(key) << "\n";
    m.close();
    ::chmod(dir_.file("master.key").c_str(), 0600);
  }

  int wait_exit(std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
  }

  // The recvaultd whose command line names our configuration file.
  pid_t find_serving_pid() const {
    const std::string cfg = config_path();
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      const std::string name = e.path().filename();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream in(e.path() / "cmdline");
      std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (cmdline.find(cfg) != std::string::npos && cmdline.find("-c") != std::string::npos &&
          std::stoi(name) != ::getpid() && !gone(std::stoi(name))) {
        return std::stoi(name);
      }
    }
    return -1;
  }

  // Exited: no longer in /proc, or a zombie its new parent has not reaped.
  static bool gone(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) return true;
    auto close = stat.rfind(')');
    return close == std::string::npos || stat.compare(close + 1, 3, " Z ") == 0;
  }

  int stop_detached() {
    const pid_t pid = detached_pid_;
    detached_pid_ = -1;
    ::kill(pid, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      if (gone(pid)) {
        cleanup_mount();
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid, SIGKILL);
    cleanup_mount();
    return -1;
  }

  void cleanup_mount() {
    if (is_mounted(mnt())) ::umount2(mnt().c_str(), MNT_DETACH);
  }

  TempDir dir_;
  std::string backing_;   // empty: <dir>/backing
  std::string keystore_;  // empty: <dir>/keystore
  std::string extra_;
  std::string keystore_extra_;
  int tail_flush_interval_ms_;
  pid_t pid_ = -1;
  pid_t detached_pid_ = -1;  // started without --foreground: not our child
};

}  // namespace recvault::test
