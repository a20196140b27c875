// Encrypted names (docs/FORMAT.md §12): round trips, the directory binding,
// the limits, tampering, and the parser of the backing form.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "format_fixture.hpp"
#include "recvault/format/names.hpp"
#include "recvault/util/encoding.hpp"

using namespace recvault;
using namespace recvault::format;

namespace {

const NameKey& name_key(int version) {
  static const NameKey k1 = NameKey::derive(*test::version_key(1), 1).value();
  static const NameKey k2 = NameKey::derive(*test::version_key(2), 2).value();
  return version == 1 ? k1 : k2;
}

DirIv iv_of(std::uint8_t fill) {
  DirIv iv{};
  iv.fill(fill);
  return iv;
}

}  // namespace

TEST_CASE("names: round trip, deterministic per directory, different across directories", "[names]") {
  const std::string name = "20261202-0815-+15551234567-8842.wav";
  auto a = encrypt_name(name_key(1), iv_of(1), name);
  REQUIRE(a.ok());
  CHECK(a->rfind("~1~", 0) == 0);
  CHECK(a->find(name) == std::string::npos);
  CHECK(*encrypt_name(name_key(1), iv_of(1), name) == *a);  // lookups re-encrypt
  auto b = encrypt_name(name_key(1), iv_of(2), name);
  REQUIRE(b.ok());
  CHECK(*b != *a);  // equal names in two directories do not look equal
  auto c = encrypt_name(name_key(2), iv_of(1), name);
  REQUIRE(c.ok());
  CHECK(c->rfind("~2~", 0) == 0);
  CHECK(*decrypt_name(name_key(1), iv_of(1), *a) == name);
  CHECK(*decrypt_name(name_key(2), iv_of(1), *c) == name);

  SECTION("another directory's IV does not open it") {
    auto r = decrypt_name(name_key(1), iv_of(2), *a);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::tampered);
  }
  SECTION("a changed character does not open") {
    std::string bad = *a;
    bad[10] = bad[10] == 'A' ? 'B' : 'A';
    CHECK(decrypt_name(name_key(1), iv_of(1), bad).error().code == Errc::tampered);
  }
  SECTION("another version's key is refused, not tried") { CHECK_FALSE(decrypt_name(name_key(2), iv_of(1), *a).ok()); }
}

TEST_CASE("names: lengths, padding and the limit", "[names]") {
  // Padding to 16 bytes: names of 1..16 bytes have one length on disk.
  const auto one = encrypt_name(name_key(1), iv_of(1), "a").value();
  const auto sixteen = encrypt_name(name_key(1), iv_of(1), std::string(16, 'b')).value();
  const auto seventeen = encrypt_name(name_key(1), iv_of(1), std::string(17, 'b')).value();
  CHECK(one.size() == sixteen.size());
  CHECK(seventeen.size() > sixteen.size());
  for (std::size_t n :
       {std::size_t{1}, std::size_t{15}, std::size_t{16}, std::size_t{17}, std::size_t{100}, kMaxEncryptedName}) {
    const std::string name(n, 'x');
    auto enc = encrypt_name(name_key(1), iv_of(3), name);
    REQUIRE(enc.ok());
    CHECK(*decrypt_name(name_key(1), iv_of(3), *enc) == name);
  }
  // The longest name under the largest version still fits NAME_MAX.
  NameKey big = NameKey::derive(*test::version_key(1), 4294967295u).value();
  auto longest = encrypt_name(big, iv_of(1), std::string(kMaxEncryptedName, 'y'));
  REQUIRE(longest.ok());
  CHECK(longest->size() <= 255);
  CHECK(*decrypt_name(big, iv_of(1), *longest) == std::string(kMaxEncryptedName, 'y'));
  CHECK(encrypt_name(name_key(1), iv_of(1), std::string(kMaxEncryptedName + 1, 'y')).error().code == Errc::too_large);
  for (const char* bad : {"", ".", "..", "a/b"}) {
    CHECK(encrypt_name(name_key(1), iv_of(1), bad).error().code == Errc::invalid_argument);
  }
  CHECK(encrypt_name(name_key(1), iv_of(1), std::string("a\0b", 3)).error().code == Errc::invalid_argument);
}

TEST_CASE("names: the encrypted form is recognised exactly", "[names]") {
  const auto enc = encrypt_name(name_key(2), iv_of(1), "call.wav").value();
  auto form = parse_encrypted_name(enc);
  REQUIRE(form);
  CHECK(form->key_version == 2);
  for (const char* plain : {"call.wav", "~1~short", "~01~AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                            "~0~AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "~1~AAAAAAAAAAAAAAAAAAAAAAAA.wav",
                            "~99999999999~AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "~~AAAA", ".recvault-diriv"}) {
    INFO(plain);
    CHECK_FALSE(parse_encrypted_name(plain));
  }
  CHECK(is_reserved_name(".recvault-diriv"));
  CHECK(is_reserved_name(enc));
  CHECK_FALSE(is_reserved_name("20261202-0815-+15551234567-8842.wav"));
  // A name whose base64url has non-zero unused bits is not canonical: refused.
  std::string noncanon = enc;
  const char last = noncanon.back();
  noncanon.back() = last == 'A' ? 'B' : 'A';
  CHECK_FALSE(decrypt_name(name_key(2), iv_of(1), noncanon).ok());
}

TEST_CASE("names: symlink targets are randomised and authenticated", "[names]") {
  const std::string target = "../2026/12/02/+15551234567.wav";
  auto a = encrypt_target(name_key(1), target);
  auto b = encrypt_target(name_key(1), target);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a != *b);
  CHECK(a->find("1555") == std::string::npos);
  CHECK(*decrypt_target(name_key(1), *a) == target);
  CHECK(*decrypt_target(name_key(1), *b) == target);
  std::string bad = *a;
  bad[20] = bad[20] == 'A' ? 'B' : 'A';
  CHECK(decrypt_target(name_key(1), bad).error().code == Errc::tampered);
  // A name is not a target and a target not a name (distinct AD domains).
  auto as_name = encrypt_name(name_key(1), iv_of(0), "x").value();
  CHECK_FALSE(decrypt_target(name_key(1), as_name).ok());
  auto longest = encrypt_target(name_key(1), std::string(kMaxEncryptedTarget, '/'));
  REQUIRE(longest.ok());
  CHECK(longest->size() < 4096);
  CHECK(encrypt_target(name_key(1), std::string(kMaxEncryptedTarget + 1, 'a')).error().code == Errc::too_large);
}

TEST_CASE("names: the directory IV file", "[names]") {
  auto f = new_dir_iv_file();
  REQUIRE(f.ok());
  CHECK(f->size() == kDirIvFileSize);
  CHECK(f->rfind("RVDIRIV1", 0) == 0);
  REQUIRE(parse_dir_iv_file(*f).ok());
  CHECK(*new_dir_iv_file() != *f);
  CHECK(parse_dir_iv_file(f->substr(1)).error().code == Errc::tampered);
  CHECK(parse_dir_iv_file("XVDIRIV1" + f->substr(8)).error().code == Errc::tampered);
}

TEST_CASE("names: known-answer vector (docs/FORMAT.md §12)", "[names][kat]") {
  // The name key of golden-v1's version key, and one name in a fixed directory.
  auto vk = VersionKey::derive("golden_v1_key_at_least_32_characters_long!", "c2FsdC12MS1nb2xkZW4tMDE=");
  REQUIRE(vk.ok());
  auto nk = NameKey::derive(*vk, 1);
  REQUIRE(nk.ok());
  DirIv iv{};
  for (std::size_t i = 0; i < iv.size(); ++i) iv[i] = static_cast<std::uint8_t>(i);
  auto enc = encrypt_name(*nk, iv, "20261202-0815-+15551234567-8842.wav");
  REQUIRE(enc.ok());
  INFO("name key " << hex_encode(nk->bytes().span()) << " name " << *enc);
  CHECK(hex_encode(nk->bytes().span()) ==
        "d05bf8e426f0af5dccd9b78a4e7589a5ea50155586febe50082cbd5f121c2b502db61b9a3530dbf70d7306c175a34b7b0a3e0c729b7181"
        "dc0"
        "d1ac562d3a5456a");
  // Computed independently with Python's cryptography (AESSIV, HKDF): docs/FORMAT.md §12.
  CHECK(*enc == "~1~KU6Ns3mkC6tCTh2C-9zxODhKoT8uf21xgLRbbhaj3G72av-uzX6mXR0oQtPeiC2Tb9ERpWowD9tTFqLjZ0Fp9w");
}

TEST_CASE("names: the golden tree (tests/data/golden-names) still decrypts", "[names][golden]") {
  const char* root = std::getenv("RECVAULT_SOURCE_ROOT");
  REQUIRE(root != nullptr);
  const std::string dir = std::string(root) + "/tests/data/golden-names";
  std::ifstream in(dir + "/manifest.json");
  REQUIRE(in.good());
  const auto manifest = nlohmann::json::parse(in);
  auto key_of = [](std::uint32_t v) {
    auto vk = v == 1 ? VersionKey::derive("golden_v1_key_at_least_32_characters_long!", "c2FsdC12MS1nb2xkZW4tMDE=")
                     : VersionKey::derive("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                                          "golden_salt_version_two");
    return NameKey::derive(vk.value(), v).value();
  };
  const NameKey keys[] = {key_of(1), key_of(2)};
  auto iv_of_dir = [](const std::string& d) {
    std::ifstream f(d + "/" + std::string(kDirIvName), std::ios::binary);
    std::string contents((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    return parse_dir_iv_file(contents).value();
  };
  std::size_t checked = 0;
  for (const auto& e : manifest.at("entries")) {
    const std::string backing = e.at("backing");
    std::string dirpath = dir + "/tree", plain;
    std::size_t start = 0;
    while (start <= backing.size()) {
      const std::size_t slash = std::min(backing.find('/', start), backing.size());
      const std::string part = backing.substr(start, slash - start);
      std::string shown = part;
      if (auto form = parse_encrypted_name(part)) {
        REQUIRE((form->key_version == 1 || form->key_version == 2));
        shown = decrypt_name(keys[form->key_version - 1], iv_of_dir(dirpath), part).value();
      }
      plain += (plain.empty() ? "" : "/") + shown;
      dirpath += "/" + part;
      start = slash + 1;
    }
    CHECK(plain == e.at("plaintext").get<std::string>());
    if (e.at("type") == "symlink") {
      char target[4096];
      const ssize_t n = ::readlink(dirpath.c_str(), target, sizeof target);
      REQUIRE(n > 0);
      const std::string stored(target, static_cast<std::size_t>(n));
      CHECK(decrypt_target(keys[parse_encrypted_name(stored)->key_version - 1], stored).value() ==
            e.at("target").get<std::string>());
    }
    ++checked;
  }
  CHECK(checked == 7);
}

TEST_CASE("base64url without padding: RFC 4648 vectors, canonical form only", "[names][encoding]") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, enc] : vectors) {
    CHECK(base64url_encode(crypto::as_bytes(plain)) == enc);
    auto back = base64url_decode(enc);
    REQUIRE(back);
    CHECK(std::string(back->begin(), back->end()) == plain);
  }
  const std::vector<std::uint8_t> high = {0xfb, 0xff};
  CHECK(base64url_encode(high) == "-_8");
  CHECK(base64url_decode("-_8") == high);
  CHECK_FALSE(base64url_decode("-_9"));   // unused bits set
  CHECK_FALSE(base64url_decode("Zg=="));  // padding is not part of the form
  CHECK_FALSE(base64url_decode("Z"));     // no byte count gives one character
  CHECK_FALSE(base64url_decode("Zm+v"));  // the standard alphabet's '+'
}
