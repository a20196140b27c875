// Shared helpers of the control tests: temp dirs, a libcurl client on the
// unix socket, token minting, the generated OpenPGP test keys.
#pragma once

#include "../test_util.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <curl/curl.h>
#include <nlohmann/json.hpp>

#include "recvault/control/jwt.hpp"

namespace recvault::control::testing {

using TempDir = ::recvault::test::TempDir;  // tests/test_util.hpp

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// A secret file as the server wants it: mode 0600 (it refuses group/other bits).
inline void write_private(const std::string& path, const std::string& text) {
  write_text(path, text);
  std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// 40 bytes: an HS256 secret for the tests.
inline const std::string kTestSecret = "test-secret-0123456789-abcdefghijklmnopq";

inline std::int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline std::string mint(nlohmann::json claims, const std::string& secret = kTestSecret) {
  auto t = mint_hs256(crypto::SecretBytes::from_view(secret), claims);
  if (!t) throw std::runtime_error(t.error().message);
  return *t;
}
inline std::string admin_token(nlohmann::json accounts = "*") {
  return mint({{"sub", "alice"}, {"accounts", accounts}, {"scope", "admin"}, {"exp", now_s() + 600}});
}
inline std::string read_token(nlohmann::json accounts = "*") {
  return mint({{"sub", "reader"}, {"accounts", accounts}, {"scope", "read"}, {"exp", now_s() + 600}});
}

struct Reply {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  CURLcode curl = CURLE_OK;
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

inline std::size_t collect_body(char* p, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}
inline std::size_t collect_header(char* p, std::size_t size, std::size_t n, void* out) {
  std::string line(p, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

// One HTTP request over the unix socket at `socket`.
inline Reply http(const std::string& socket, const std::string& method, const std::string& path,
                  const std::vector<std::string>& headers = {}, const std::optional<std::string>& body = {}) {
  Reply reply;
  CURL* curl = curl_easy_init();
  curl_slist* list = nullptr;
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  if (body) list = curl_slist_append(list, "Expect:");
  std::string url = "http://localhost" + path;
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &collect_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &collect_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply.headers);
  reply.curl = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return reply;
}

inline std::string bearer(const std::string& token) { return "Authorization: Bearer " + token; }
inline std::string account(const std::string& id) { return "X-Account-ID: " + id; }

// The OpenPGP test keys (tests/control/gen_keys.sh), generated once per test
// binary into a directory removed at exit.
inline const std::filesystem::path& test_keys() {
  static TempDir dir;
  static bool generated = [] {
    const char* root = std::getenv("RECVAULT_SOURCE_ROOT");
    std::string script = std::string(root != nullptr ? root : ".") + "/tests/control/gen_keys.sh";
    std::string cmd = "bash '" + script + "' '" + dir.path().string() + "' >/dev/null 2>&1";
    return std::system(cmd.c_str()) == 0;
  }();
  if (!generated) throw std::runtime_error("gen_keys.sh failed");
  return dir.path();
}
inline std::string test_key(const std::string& name) { return read_text((test_keys() / name).string()); }

}  // namespace recvault::control::testing
