// A real etcd cluster on loopback for tests: N members on free ports, data
// under a temporary directory, each member in its own process group, killed
// by the destructor, and by the kernel if the test process dies first
// (PR_SET_PDEATHSIG). Tuned for speed: 50 ms heartbeats, no fsync.
//
// The etcd binary is $RECVAULT_ETCD or `etcd` on PATH (Debian: etcd-server).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace recvault::test {

// A port nobody listens on now (the kernel's pick for an ephemeral bind).
inline int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// True when something accepts TCP connections on 127.0.0.1:port.
inline bool port_open(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// Client TLS for the members (https client URLs, client certificates
// required): PEM files made by make_test_pki().
struct EtcdTls {
  std::string ca, server_cert, server_key, client_cert, client_key;
};

// A throwaway CA, a server certificate for 127.0.0.1 and a client
// certificate, with the openssl command line, under `dir`.
inline EtcdTls make_test_pki(const std::filesystem::path& dir) {
  const std::string d = dir.string();
  const std::string cmd =
      "cd '" + d +
      "' && "
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca && "
      "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 && "
      "printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' > server.ext && "
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile server.ext && "
      "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=recvault && "
      "printf 'extendedKeyUsage=clientAuth\n' > client.ext && "
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 "
      "-extfile client.ext";
  if (std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("openssl failed in " + d);
  return {d + "/ca.pem", d + "/server.pem", d + "/server.key", d + "/client.pem", d + "/client.key"};
}

class EtcdCluster {
 public:
  explicit EtcdCluster(int members = 1, std::optional<EtcdTls> tls = std::nullopt) : tls_(std::move(tls)) {
    const char* bin = std::getenv("RECVAULT_ETCD");
    binary_ = bin != nullptr && *bin != '\0' ? bin : "etcd";
    for (int i = 0; i < members; ++i) members_.push_back({free_loopback_port(), free_loopback_port(), -1});
    for (int i = 0; i < members; ++i) start(i, true);
    wait_ready();
  }
  ~EtcdCluster() {
    for (int i = 0; i < static_cast<int>(members_.size()); ++i) kill(i);
  }
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  std::string endpoint(int i) const {
    return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(members_[i].client_port);
  }
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (int i = 0; i < size(); ++i) out.push_back(endpoint(i));
    return out;
  }
  bool running(int i) const { return members_[i].pid > 0; }

  // SIGKILL to the member's process group; waits for it.
  void kill(int i) {
    Member& m = members_[i];
    if (m.pid <= 0) return;
    ::kill(-m.pid, SIGKILL);
    ::kill(m.pid, SIGKILL);
    int status = 0;
    ::waitpid(m.pid, &status, 0);
    m.pid = -1;
  }
  // SIGSTOP: the member keeps its connections open and answers nothing (as
  // when it is cut off); SIGCONT resumes it.
  void pause(int i) {
    if (members_[i].pid > 0) ::kill(-members_[i].pid, SIGSTOP);
  }
  void resume(int i) {
    if (members_[i].pid > 0) ::kill(-members_[i].pid, SIGCONT);
  }
  void kill_all() {
    for (int i = 0; i < size(); ++i) kill(i);
  }
  // Starts a killed member again on its data directory and ports.
  void restart(int i) { start(i, false); }
  void restart_all() {
    for (int i = 0; i < size(); ++i)
      if (!running(i)) start(i, false);
    wait_ready();
  }

  // Every running member accepts connections and the cluster has a leader
  // (GET /health says so; deadline 30 s).
  void wait_ready() const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (int i = 0; i < size(); ++i) {
      while (members_[i].pid > 0 && !(port_open(members_[i].client_port) && healthy(i))) {
        if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("etcd did not start: " + log(i));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

  bool healthy(int i) const {
    std::string cmd = "curl -s -m 2 " + endpoint(i) + "/health";
    if (tls_) cmd += " --cacert " + tls_->ca + " --cert " + tls_->client_cert + " --key " + tls_->client_key;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return false;
    char buf[256] = {};
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, p);
    ::pclose(p);
    return std::string(buf, n).find("\"health\":\"true\"") != std::string::npos;
  }

  std::string log(int i) const {
    std::ifstream in(dir_ / ("member" + std::to_string(i) + ".log"));
    std::string all((std::istreambuf_iterator<char>(in)), {});
    return all.size() > 2000 ? all.substr(all.size() - 2000) : all;
  }

 private:
  struct Member {
    int client_port;
    int peer_port;
    pid_t pid;
  };

  void start(int i, bool fresh) {
    Member& m = members_[i];
    const std::string name = "m" + std::to_string(i);
    std::string cluster;
    for (int j = 0; j < size(); ++j)
      cluster +=
          (j ? "," : "") + ("m" + std::to_string(j)) + "=http://127.0.0.1:" + std::to_string(members_[j].peer_port);
    const std::string client = endpoint(i);
    const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
    std::vector<std::string> args = {binary_,
                                     "--name",
                                     name,
                                     "--data-dir",
                                     (dir_ / name).string(),
                                     "--listen-client-urls",
                                     client,
                                     "--advertise-client-urls",
                                     client,
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     cluster,
                                     "--initial-cluster-state",
                                     fresh ? "new" : "existing",
                                     "--heartbeat-interval",
                                     "50",
                                     "--election-timeout",
                                     "500",
                                     "--unsafe-no-fsync",
                                     "--max-request-bytes",
                                     "4194304",
                                     "--log-level",
                                     "warn"};
    if (tls_) {
      for (const std::string& a :
           std::vector<std::string>{"--cert-file", tls_->server_cert, "--key-file", tls_->server_key,
                                    "--trusted-ca-file", tls_->ca, "--client-cert-auth"})
        args.push_back(a);
    }
    const std::string logfile = (dir_ / ("member" + std::to_string(i) + ".log")).string();
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork");
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open(logfile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    m.pid = pid;
  }

  std::optional<EtcdTls> tls_;
  TempDir dir_;
  std::string binary_;
  std::vector<Member> members_;
};

}  // namespace recvault::test
