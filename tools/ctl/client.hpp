// recvaultctl's HTTP client: one request over the control socket (libcurl,
// CURLOPT_UNIX_SOCKET_PATH), with failures classified for exit codes.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace recvault::ctl {

// Exit codes (documented in docs/API.md).
enum Exit : int {
  kOk = 0,
  kServerError = 1,  // the server answered 4xx/5xx
  kUsage = 2,        // bad command line
  kNotRunning = 3,   // socket missing or connection refused
  kPermission = 4,   // no permission on the socket
  kLocalError = 5,   // anything else on this side (files, unexpected reply)
};

struct HttpReply {
  long status = 0;
  std::string content_type;
  std::string body;
};

struct ClientError {
  Exit exit;
  std::string message;
};

struct Call {
  std::string method;
  std::string path;
  std::vector<std::string> headers;
  std::optional<std::string> body;
};

// Performs `call` on `socket_path`. Returns the reply (any status) or a
// ClientError when the request could not be made at all.
std::pair<std::optional<HttpReply>, std::optional<ClientError>> perform(const std::string& socket_path,
                                                                        const Call& call);

}  // namespace recvault::ctl
