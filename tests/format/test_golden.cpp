// The committed golden files (tests/data/golden) decrypt to their committed
// plaintexts. Every later version must keep passing this unchanged: a failure
// means the reader lost compatibility with files already on disk.
#include <catch2/catch.hpp>

#include <fcntl.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "../test_util.hpp"
#include "recvault/crypto/primitives.hpp"
#include "recvault/format/encrypted_file.hpp"
#include "recvault/sys/fd.hpp"

using namespace recvault;
using namespace recvault::test;

namespace {

std::string golden_dir() {
  const char* root = std::getenv("RECVAULT_SOURCE_ROOT");
  REQUIRE(root != nullptr);
  return std::string(root) + "/tests/data/golden/";
}

nlohmann::json manifest() {
  std::ifstream in(golden_dir() + "manifest.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

struct KeyText {
  std::string key, salt, key_id;
};

std::map<std::uint32_t, KeyText> manifest_keys(const nlohmann::json& m) {
  std::map<std::uint32_t, KeyText> keys;
  for (const auto& [v, k] : m.at("keys").items()) {
    keys[static_cast<std::uint32_t>(std::stoul(v))] = {k.at("key"), k.at("salt"), k.at("key_id")};
  }
  return keys;
}

// Resolves from the manifest's key text, with the header's scrypt parameters,
// as recvault-decrypt does.
format::KeyResolver manifest_resolver(const std::map<std::uint32_t, KeyText>& keys) {
  return [&keys](const format::Header& h) -> Result<format::VersionKeyPtr> {
    auto it = keys.find(h.key_version);
    if (it == keys.end()) return make_error(Errc::key_unavailable, "not in manifest");
    auto k = format::VersionKey::derive(it->second.key, it->second.salt, h.kdf);
    if (!k) return std::move(k).error();
    return std::make_shared<const format::VersionKey>(std::move(k).value());
  };
}

std::string sha256_hex(const std::vector<std::uint8_t>& data) {
  return hex_encode(crypto::sha256({crypto::Bytes(data)}));
}

}  // namespace

TEST_CASE("every golden file decrypts to its committed plaintext", "[golden]") {
  const auto m = manifest();
  const auto keys = manifest_keys(m);
  const auto resolve = manifest_resolver(keys);
  const auto& files = m.at("files");
  REQUIRE(files.size() >= 11);
  std::map<std::string, int> seen;  // coverage the golden set must keep

  for (const auto& e : files) {
    const std::string name = e.at("file");
    INFO("golden file " << name);
    const auto expected = read_all(golden_dir() + e.at("plaintext").get<std::string>());
    REQUIRE(expected.size() == e.at("size").get<std::size_t>());
    REQUIRE(sha256_hex(expected) == e.at("sha256").get<std::string>());

    // Read-only: the source tree may be read-only, and reading never writes.
    sys::UniqueFd fd(::open((golden_dir() + name).c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.valid());
    auto f = format::EncryptedFile::open(fd.get(), resolve);
    REQUIRE(f.ok());
    const format::Header& h = (*f)->header();
    const auto& k = keys.at(h.key_version);
    CHECK(h.format_version == e.at("format_version").get<int>());
    CHECK(format::algorithm_name(h.algorithm) == e.at("algorithm").get<std::string>());
    CHECK(h.key_version == e.at("key_version").get<std::uint32_t>());
    CHECK(h.chunk_size() == e.at("chunk_size").get<std::uint32_t>());
    CHECK(h.salt == k.salt);
    CHECK(h.key_id == k.key_id);
    CHECK(h.kdf.log2_n == 15);
    CHECK(h.kdf.r == 8);
    CHECK(h.kdf.p == 1);
    const bool sealed = e.at("state") == "sealed";
    CHECK(((*f)->state() == format::FileState::sealed) == sealed);
    CHECK_FALSE((*f)->torn_tail());

    std::vector<std::uint8_t> got((*f)->size());
    auto n = (*f)->read(0, got);
    REQUIRE(n.ok());
    got.resize(*n);
    CHECK(got.size() == expected.size());
    CHECK(sha256_hex(got) == e.at("sha256").get<std::string>());
    CHECK(got == expected);

    auto report = format::verify_file(fd.get(), resolve);
    REQUIRE(report.ok());
    CHECK(report->plaintext_size == expected.size());
    CHECK(report->holes == e.at("holes").get<std::uint64_t>());

    seen[std::string(format::algorithm_name(h.algorithm)) + (sealed ? " sealed" : " open")]++;
    if (expected.empty()) seen["empty"]++;
    if (expected.size() > h.chunk_size()) seen["multi-chunk"]++;
    seen["v" + std::to_string(h.key_version)]++;
    seen["format " + std::to_string(h.format_version)]++;
    if (report->holes > 0) seen[std::string(format::algorithm_name(h.algorithm)) + " holes"]++;
    if (report->holes > 0 && !sealed) seen["holes open"]++;
  }
  // The eight files of format version 1 stay (make.sh never remakes them).
  CHECK(seen["format 1"] >= 8);
  for (const char* must : {"AES-256-GCM sealed", "AES-256-CBC sealed", "AES-256-GCM open", "empty", "multi-chunk", "v1",
                           "v2", "format 2", "AES-256-GCM holes", "AES-256-CBC holes", "holes open"}) {
    INFO("the golden set must include: " << must);
    CHECK(seen[must] > 0);
  }
}

TEST_CASE("a golden file opened with the other version's key is a wrong key", "[golden]") {
  const auto m = manifest();
  const auto keys = manifest_keys(m);
  std::map<std::uint32_t, KeyText> swapped{{1, keys.at(2)}, {2, keys.at(1)}};
  swapped[1].salt = keys.at(1).salt;  // right salt, wrong key
  swapped[2].salt = keys.at(2).salt;
  const auto resolve = manifest_resolver(swapped);
  for (const char* name : {"gcm-v1-150000.rv", "cbc-v2-8192-c4k.rv"}) {
    INFO(name);
    sys::UniqueFd fd(::open((golden_dir() + name).c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.valid());
    auto f = format::EncryptedFile::open(fd.get(), resolve);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().code == Errc::wrong_key);
  }
}
