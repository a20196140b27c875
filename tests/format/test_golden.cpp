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
#include "recvault/format/record.hpp"
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

namespace {

std::string copy_golden(const TempDir& dir, const std::string& name) {
  const std::string path = dir.file(name);
  write_all(path, read_all(golden_dir() + name));
  return path;
}

}  // namespace

TEST_CASE("a version 1 file never has holes: it grows by records, and a zero run is tampered", "[golden][holes]") {
  const auto m = manifest();
  const auto keys = manifest_keys(m);
  const auto resolve = manifest_resolver(keys);
  TempDir dir;
  // Format version 1, AES-256-GCM, 4 KiB chunks, 20000 bytes (5 chunks).
  const std::string path = copy_golden(dir, "gcm-v2-20000-c4k.rv");
  const auto plain = read_all(golden_dir() + "plain/rec-20000.bin");
  const std::uint64_t r = format::record_size(format::Algorithm::aes256_gcm, 4096);
  {
    sys::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    auto f = format::EncryptedFile::open(fd.get(), resolve).value();
    REQUIRE(f->header().format_version == 1);
    REQUIRE(f->truncate(40 * 4096));
    REQUIRE(f->seal());
    CHECK(f->header().format_version == 1);
    const auto h = f->header().encoded_size();
    // Every chunk is a record on disk, none of them zeros.
    const auto raw = read_all(path);
    REQUIRE(raw.size() == h + 40 * r);
    for (std::uint64_t i = 0; i < 40; ++i) {
      INFO("chunk " << i);
      const auto at = raw.begin() + static_cast<std::ptrdiff_t>(h + i * r);
      CHECK_FALSE(std::all_of(at, at + static_cast<std::ptrdiff_t>(r), [](std::uint8_t b) { return b == 0; }));
    }
    auto v = f->verify();
    REQUIRE(v);
    CHECK(v->holes == 0);
  }
  sys::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  auto f = format::EncryptedFile::open(fd.get(), resolve).value();
  std::vector<std::uint8_t> all(f->size());
  REQUIRE(f->read(0, all).value() == 40 * 4096);
  CHECK(std::equal(plain.begin(), plain.end(), all.begin()));
  CHECK(std::all_of(all.begin() + 20000, all.end(), [](std::uint8_t b) { return b == 0; }));

  // Zero chunks 10..19 and put an authentic hole marker for them at 20: a
  // version 2 reader would take them for a hole, a version 1 file must not.
  const format::Header h = f->header();
  const auto vk = format::VersionKey::derive(keys.at(2).key, keys.at(2).salt, h.kdf).value();
  const auto file_keys = format::derive_file_keys(vk, h).value();
  format::RecordCodec codec(h, file_keys);
  const auto encoded = format::encode_header(h);
  codec.set_core_digest(crypto::sha256({std::span(encoded).first(h.core_size())}));
  std::vector<std::uint8_t> marker(format::record_size(h.algorithm, 8));
  const std::uint8_t start[8] = {10, 0, 0, 0, 0, 0, 0, 0};
  REQUIRE(codec.seal(20, format::RecordFlags::hole_marker, start, marker));
  std::vector<std::uint8_t> slot(r, 0);
  for (std::uint64_t i = 10; i < 20; ++i) REQUIRE(sys::pwrite_full(fd.get(), slot, h.encoded_size() + i * r));
  std::copy(marker.begin(), marker.end(), slot.begin());
  REQUIRE(sys::pwrite_full(fd.get(), slot, h.encoded_size() + 20 * r));
  f.reset();
  auto g = format::EncryptedFile::open(fd.get(), resolve).value();
  std::vector<std::uint8_t> chunk(4096);
  for (std::uint64_t i : {10, 15, 20}) {
    INFO("chunk " << i);
    auto n = g->read(i * 4096, chunk);
    REQUIRE_FALSE(n.ok());
    CHECK(n.error().code == Errc::tampered);
  }
  auto v = format::verify_file(fd.get(), resolve);
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().code == Errc::tampered);
}
