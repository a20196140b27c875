// libFuzzer target: the control API's pure request handler (routing, JWT
// parsing and verification, header handling, JSON bodies, handlers).
//
// Input layout: "METHOD PATH\n" then "Name: value\n" header lines, a blank
// line, then the body. If the input contains the marker "@TOKEN@" it is
// replaced by a valid admin token, so the fuzzer also reaches the handlers.
// The backend is in memory and the OpenPGP validator is a stub: this target
// is about the request path, not gpg.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "../../tests/control/memory_backend.hpp"
#include "recvault/control/api.hpp"

using namespace recvault;
using namespace recvault::control;

namespace {

constexpr std::string_view kSecret = "fuzz-secret-0123456789-abcdefghijklmnopq";

struct Harness {
  testing::MemoryBackend backend;
  JwtVerifier verifier;
  std::unique_ptr<AuditLog> audit = AuditLog::disabled();
  std::unique_ptr<Api> api;
  std::string token;

  Harness() {
    (void)verifier.add_hs256_secret(crypto::SecretBytes::from_view(kSecret));
    // The token below lives until 2100 so that the corpus stays valid; the
    // lifetime limit (tested in tests/control) would refuse it.
    verifier.set_max_lifetime(std::chrono::seconds(0));
    auto t = mint_hs256(crypto::SecretBytes::from_view(kSecret),
                        {{"sub", "fuzz"}, {"accounts", "*"}, {"scope", "admin"}, {"exp", 4102444800}});
    token = t ? *t : "";
    KeyValidator stub = [](std::string_view body) -> Result<KeyInfo> {
      if (body.size() > 10 && body.substr(0, 5) == "-----") return KeyInfo{"FPR", "uid", "SUB", 0};
      return make_error(Errc::invalid_argument, "not a key");
    };
    api = std::make_unique<Api>(ApiContext{backend, verifier, *audit, nullptr, stub, nullptr, nullptr, nullptr});
  }
};

Request parse(std::string text, const std::string& token) {
  for (std::size_t pos; (pos = text.find("@TOKEN@")) != std::string::npos;) text.replace(pos, 7, token);
  Request r;
  std::size_t line_end = text.find('\n');
  std::string_view first = std::string_view(text).substr(0, line_end);
  auto space = first.find(' ');
  r.method = std::string(first.substr(0, space));
  if (space != std::string_view::npos) r.path = std::string(first.substr(space + 1));
  std::size_t pos = line_end == std::string::npos ? text.size() : line_end + 1;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line = std::string_view(text).substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  if (pos < text.size()) r.body = text.substr(pos);
  r.peer.known = true;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Harness harness;  // built once: the fuzzer calls this millions of times
  Request r = parse(std::string(reinterpret_cast<const char*>(data), size), harness.token);
  Response resp = harness.api->handle(r);
  if (resp.status < 200 || resp.status > 599) __builtin_trap();
  if (resp.status == 500) __builtin_trap();  // the in-memory backend never fails: a 500 is a bug
  return 0;
}
