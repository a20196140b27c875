// The transport-free shape of a control API exchange: what the HTTP server
// hands the router, and what it sends back. No libmicrohttpd types here, so
// the router and handlers are testable (and fuzzable) without a socket.
#pragma once

#include <sys/types.h>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace recvault::control {

// The process on the other end of the unix socket (SO_PEERCRED).
struct PeerInfo {
  bool known = false;
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct Request {
  std::string method;
  std::string path;                                          // without the query string
  std::vector<std::pair<std::string, std::string>> headers;  // as received
  std::string body;
  PeerInfo peer;

  // The value of header `name` (case-insensitive); nullopt when absent.
  // `duplicate` is set when the header appears more than once.
  std::optional<std::string_view> header(std::string_view name, bool* duplicate = nullptr) const;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type = "application/json";
  std::string body;
  // The body carries key material: the server hands it to libmicrohttpd in
  // a buffer it wipes when freed, and wipes `body` once sent.
  bool sensitive = false;

  static Response json(int status, const nlohmann::json& body);
  // Response::json for a body holding key material: serialized without
  // leaving copies behind, `body` wiped afterwards, `sensitive` set.
  static Response sensitive_json(int status, nlohmann::json& body);
  // {"success": false, "message": message}
  static Response error(int status, std::string_view message);
};

}  // namespace recvault::control
