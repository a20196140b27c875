// The wiping of JSON and text that carried key material (secure_json.hpp):
// wiped in place, serialized without stray copies, byte for byte the same
// responses.
#include <catch2/catch.hpp>

#include "recvault/control/http.hpp"
#include "recvault/control/secure_json.hpp"
#include "test_support.hpp"

using namespace recvault;
using namespace recvault::control;
using nlohmann::json;

namespace {

const std::string kKey = "wipe-me-distinctive-key-text-0123456789-abcdefghijklmnop";

bool all_zero(const char* p, std::size_t n) {
  const volatile char* v = p;
  for (std::size_t i = 0; i < n; ++i)
    if (v[i] != 0) return false;
  return true;
}

json sample() {
  return {{"success", true},
          {"config",
           {{"enabled", true},
            {"key", kKey},
            {"salt", "c2FsdA=="},
            {"key_version", 2},
            {"historical_keys", {{"1", kKey + "-old"}}},
            {"list", {kKey + "-in-array", 1, nullptr}}}}};
}

}  // namespace

TEST_CASE("wipe_string zeroes the whole buffer, spare capacity included", "[secure_json]") {
  std::string s = kKey;
  s.reserve(200);
  s += "-and-more";
  const char* p = s.data();
  const std::size_t cap = s.capacity();
  wipe_string(s);
  CHECK(s.empty());
  CHECK(s.data() == p);  // same block, still ours: we may look
  CHECK(all_zero(p, cap));
}

TEST_CASE("wipe_json_strings wipes every string value in place; wipe_json then drops it", "[secure_json]") {
  json j = sample();
  std::vector<std::pair<const char*, std::size_t>> buffers;
  for (const char* path : {"/config/key", "/config/historical_keys/1", "/config/list/0", "/config/salt"}) {
    auto& s = j.at(json::json_pointer(path)).get_ref<std::string&>();
    buffers.emplace_back(s.data(), s.capacity());
  }
  wipe_json_strings(j);
  for (const auto& [p, cap] : buffers) CHECK(all_zero(p, cap));
  CHECK(j["config"]["key"] == "");
  CHECK(j["config"]["historical_keys"]["1"] == "");
  CHECK(j["config"]["key_version"] == 2);  // numbers and structure stay
  CHECK(j["config"]["list"][1] == 1);
  wipe_json(j);
  CHECK(j.is_null());
}

TEST_CASE("dump_secure gives exactly dump()'s bytes", "[secure_json]") {
  std::string long_text(5000, 'k');  // past the pool's small blocks
  for (const json& j :
       {sample(), json::object(), json(nullptr), json{{"u", "caf\xc3\xa9 \xe2\x82\xac"}},
        json{{"ctl", std::string("a\x01\n\"\\b", 6)}}, json{{"long", long_text}}, json{{"bad", "\xff\xfe"}}}) {
    auto secure = dump_secure(j);
    CHECK(std::string(secure.data(), secure.size()) == j.dump(-1, ' ', false, json::error_handler_t::replace));
  }
}

TEST_CASE("Response::sensitive_json: same body as Response::json, flagged, input wiped", "[secure_json]") {
  json body = sample();
  const Response plain = Response::json(200, body);
  Response r = Response::sensitive_json(200, body);
  CHECK(r.body == plain.body);
  CHECK(r.sensitive);
  CHECK_FALSE(plain.sensitive);
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(body.is_null());
}
