// recvault-decrypt --config: key and salt picked by the file's key_version
// from an export of the account config, and the golden files through it.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "recvault/crypto/primitives.hpp"
#include "tool_fixture.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

// The config API's shape after rotations: `current` is key/salt, the others
// are historical.
nlohmann::json api_config(const Account& current, std::vector<const Account*> historical) {
  nlohmann::json c = {{"enabled", true},
                      {"algorithm", "AES-256-GCM"},
                      {"key_version", current.version},
                      {"key_id", "key_auto_toolstest"},
                      {"salt", current.salt},
                      {"key", current.key}};
  c["historical_keys"] = nlohmann::json::object();
  c["historical_salts"] = nlohmann::json::object();
  for (const Account* a : historical) {
    c["historical_keys"][std::to_string(a->version)] = a->key;
    c["historical_salts"][std::to_string(a->version)] = a->salt;
  }
  return c;
}

std::string save(const TempDir& d, const std::string& name, const nlohmann::json& j) {
  return write_text(d, name, j.dump(2));
}

std::string golden(const std::string& name) {
  const char* root = std::getenv("RECVAULT_SOURCE_ROOT");
  REQUIRE(root != nullptr);
  return std::string(root) + "/tests/data/golden/" + name;
}

}  // namespace

TEST_CASE("--config picks each file's version from key and historical_keys", "[tool][config]") {
  TempDir d;
  const auto p1 = pseudo_random(70000, 21), p2 = pseudo_random(3000, 22), p3 = pseudo_random(0, 23);
  const auto f1 = encrypt(d, "v1", p1, kV1, "AES-256-CBC");
  const auto f2 = encrypt(d, "v2", p2, kV2);
  const auto f3 = encrypt(d, "v3", p3, kV3);
  const auto wrapped = save(d, "wrapped.json", {{"success", true}, {"config", api_config(kV3, {&kV1, &kV2})}});
  const auto bare = save(d, "bare.json", api_config(kV3, {&kV1, &kV2}));
  for (const auto& cfg : {wrapped, bare}) {
    INFO(cfg);
    auto r = decrypt({"--config", cfg, f1});
    CHECK(r.status == 0);
    CHECK(r.out == as_string(p1));
    r = decrypt({"--config", cfg, f2});
    CHECK(r.status == 0);
    CHECK(r.out == as_string(p2));
    r = decrypt({"--config", cfg, f3});
    CHECK(r.status == 0);
    CHECK(r.out.empty());
    CHECK(decrypt({"--config", cfg, "--verify", f1}).out.find("key_version=1") != std::string::npos);
  }
}

TEST_CASE("a key_version missing from the config exits 7", "[tool][config][exit]") {
  TempDir d;
  const auto f3 = encrypt(d, "v3", pseudo_random(100, 24), kV3);
  const auto cfg = save(d, "c.json", {{"success", true}, {"config", api_config(kV2, {&kV1})}});
  auto r = decrypt({"--config", cfg, f3});
  CHECK(r.status == 7);
  CHECK(r.out.empty());
  CHECK(r.err.find("key_version 3") != std::string::npos);
  CHECK(decrypt({"--config", cfg, "--verify", f3}).status == 7);
}

TEST_CASE("--config salts: historical salt, header fallback, and a mismatch hint", "[tool][config]") {
  TempDir d;
  const auto data = pseudo_random(100, 25);
  const auto f1 = encrypt(d, "v1", data, kV1);
  auto c = api_config(kV2, {&kV1});
  c["historical_salts"].erase("1");  // no salt recorded: the header's is used
  auto r = decrypt({"--config", save(d, "nosalt.json", c), f1});
  CHECK(r.status == 0);
  CHECK(r.out == as_string(data));
  c["historical_salts"]["1"] = "not_the_salt_of_this_file";
  r = decrypt({"--config", save(d, "badsalt.json", c), f1});
  CHECK(r.status == 2);
  CHECK(r.err.find("salt for key_version 1 differs") != std::string::npos);
  // --salt overrides the config.
  r = decrypt({"--config", save(d, "badsalt2.json", c), "--salt", kV1.salt, f1});
  CHECK(r.status == 0);
}

TEST_CASE("a malformed config is a usage error that does not echo it", "[tool][config][exit]") {
  TempDir d;
  const auto f1 = encrypt(d, "v1", pseudo_random(100, 26), kV1);
  const std::vector<std::string> bad = {
      "{\"key\": \"" + kV1.key + "\", \"key_version\": 1",      // truncated JSON
      "{\"key\": \"" + kV1.key + "\"}",                         // no key_version
      "{\"historical_keys\": {\"one\": \"" + kV1.key + "\"}}",  // version not a number
      "{\"enabled\": false}",                                   // no keys at all
      "[\"" + kV1.key + "\"]",
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    INFO("case " << i);
    auto r = decrypt({"--config", write_text(d, "c" + std::to_string(i), bad[i]), f1});
    CHECK(r.status == 1);
    CHECK(r.out.empty());
  }
  CHECK(decrypt({"--config", d.file("absent.json"), f1}).status == 1);
}

TEST_CASE("a config read with a read token (keys masked) is refused with the reason", "[tool][config][exit]") {
  TempDir d;
  const auto f1 = encrypt(d, "v1", pseudo_random(100, 27), kV1);
  const std::string masked =
      "{\"success\": true, \"keys_masked\": true, \"config\": {\"enabled\": true, "
      "\"key_version\": 1, \"key\": null, \"salt\": \"" +
      kV1.salt + "\", \"historical_keys\": {}, \"historical_salts\": {}}}";
  auto r = decrypt({"--config", write_text(d, "masked.json", masked), f1});
  CHECK(r.status == 1);
  CHECK(r.out.empty());
  CHECK(r.err.find("keys are masked") != std::string::npos);
  CHECK(r.err.find("admin token") != std::string::npos);
}

TEST_CASE("every golden file decrypts through --config with the API-shaped export", "[tool][golden]") {
  std::ifstream in(golden("manifest.json"));
  REQUIRE(in.good());
  const auto manifest = nlohmann::json::parse(in);
  REQUIRE(manifest.at("files").size() >= 8);
  for (const auto& e : manifest.at("files")) {
    const std::string file = golden(e.at("file").get<std::string>());
    INFO(file);
    auto r = run({decrypt_tool(), "--config", golden("config.json"), file});
    CHECK(r.status == 0);
    const std::vector<std::uint8_t> out(r.out.begin(), r.out.end());
    CHECK(hex_encode(crypto::sha256({crypto::Bytes(out)})) == e.at("sha256").get<std::string>());
    const bool sealed = e.at("state") == "sealed";
    CHECK((r.err.find("unterminated") != std::string::npos) == !sealed);
    CHECK(run({decrypt_tool(), "--config", golden("config.json"), "--strict", "--verify", file}).status ==
          (sealed ? 0 : 4));
  }
}

TEST_CASE("the golden tree of encrypted names restores with --tree", "[tool][golden][names]") {
  const std::string dir = golden("../golden-names");
  std::ifstream in(dir + "/manifest.json");
  REQUIRE(in.good());
  const auto manifest = nlohmann::json::parse(in);
  TempDir d;
  const std::string out = d.file("restored");
  auto r = run({decrypt_tool(), "--config", golden("config.json"), "--tree", out, dir + "/tree"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::size_t seen = 0;
  for (const auto& e : manifest.at("entries")) {
    const std::string path = out + "/" + e.at("plaintext").get<std::string>();
    INFO(path);
    struct stat st {};
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    const std::string type = e.at("type");
    if (type == "file") {
      REQUIRE(S_ISREG(st.st_mode));
      auto bytes = read_all(path);
      CHECK(hex_encode(crypto::sha256({crypto::Bytes(bytes)})) == e.at("sha256").get<std::string>());
    } else if (type == "symlink") {
      REQUIRE(S_ISLNK(st.st_mode));
      char target[4096];
      const ssize_t n = ::readlink(path.c_str(), target, sizeof target);
      REQUIRE(n > 0);
      CHECK(std::string(target, static_cast<std::size_t>(n)) == e.at("target").get<std::string>());
    } else {
      CHECK(S_ISDIR(st.st_mode));
    }
    ++seen;
  }
  CHECK(seen == 7);
  // Nothing more than the manifest: no IV file, no undecrypted name.
  std::size_t entries = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(out);
       it != std::filesystem::recursive_directory_iterator(); ++it)
    ++entries;
  CHECK(entries == seen);
  // Without salts a bare key cannot read the names (files still could).
  auto nosalt = run({decrypt_tool(), "--key", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                     "--tree", d.file("nosalt"), dir + "/tree"});
  CHECK(nosalt.status != 0);  // the first failure may be a v1 file under the v2 key (2)
  CHECK(nosalt.err.find("--salt") != std::string::npos);
}
