// Known-answer tests of the primitives against published vectors.
#include <catch2/catch.hpp>

#include "../test_util.hpp"
#include "recvault/crypto/primitives.hpp"
#include "recvault/util/encoding.hpp"

using namespace recvault;
using namespace recvault::crypto;
using recvault::test::bytes_of;
using recvault::test::unhex;

TEST_CASE("SHA-256 of \"abc\" (FIPS 180-2 example)", "[kat]") {
  auto abc = bytes_of("abc");
  CHECK(hex_encode(sha256({abc})) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // Split input hashes the same as whole input.
  auto a = bytes_of("a"), bc = bytes_of("bc");
  CHECK(sha256({a, bc}) == sha256({abc}));
}

TEST_CASE("HMAC-SHA256 RFC 4231 test case 2", "[kat]") {
  auto key = bytes_of("Jefe");
  auto data = bytes_of("what do ya want for nothing?");
  CHECK(hex_encode(hmac_sha256(key, {data})) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("HKDF-SHA256 RFC 5869 test cases 1 and 3", "[kat]") {
  std::vector<std::uint8_t> ikm(22, 0x0b);
  SECTION("case 1") {
    auto okm = hkdf_sha256(ikm, unhex("000102030405060708090a0b0c"), unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
    REQUIRE(okm.ok());
    CHECK(hex_encode(okm->span()) ==
          "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  }
  SECTION("case 3: empty salt and info") {
    auto okm = hkdf_sha256(ikm, {}, {}, 42);
    REQUIRE(okm.ok());
    CHECK(hex_encode(okm->span()) ==
          "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
  }
}

TEST_CASE("scrypt RFC 7914 section 12 vector 2", "[kat]") {
  auto out = scrypt(bytes_of("password"), bytes_of("NaCl"), ScryptParams{10, 8, 16}, 64);
  REQUIRE(out.ok());
  CHECK(hex_encode(out->span()) ==
        "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830da"
        "c727afb94a83ee6d8360cbdfa2cc0640");
  CHECK_FALSE(scrypt(bytes_of("p"), bytes_of("s"), ScryptParams{0, 8, 1}, 32).ok());
}

TEST_CASE("random_bytes returns distinct values", "[rng]") {
  std::vector<std::uint8_t> a(32), b(32);
  REQUIRE(random_bytes(a).ok());
  REQUIRE(random_bytes(b).ok());
  CHECK(a != b);
}

TEST_CASE("SecretBytes compares in constant time and wipes on clear", "[secret]") {
  SecretBytes a = SecretBytes::from_view("0123456789abcdef0123456789abcdef");
  SecretBytes b = SecretBytes::from_view("0123456789abcdef0123456789abcdef");
  SecretBytes c = SecretBytes::from_view("0123456789abcdef0123456789abcdeX");
  CHECK(a.equals(b));
  CHECK_FALSE(a.equals(c));
  CHECK_FALSE(a.equals(SecretBytes::from_view("short")));
  a.clear();
  CHECK(a.empty());
}

TEST_CASE("base64 and hex round trip and reject garbage", "[encoding]") {
  auto data = bytes_of("any carnal pleas");
  CHECK(base64_encode(data) == "YW55IGNhcm5hbCBwbGVhcw==");
  CHECK(base64_decode("YW55IGNhcm5hbCBwbGVhcw==").value() == data);
  CHECK(base64_decode("").value().empty());
  CHECK_FALSE(base64_decode("YW55IGNhcm5hbCBwbGVhcw=").has_value());
  CHECK_FALSE(base64_decode("YW5*").has_value());
  CHECK_FALSE(base64_decode("YW=5").has_value());
  CHECK(hex_decode("00ff10").value() == std::vector<std::uint8_t>{0x00, 0xff, 0x10});
  CHECK_FALSE(hex_decode("0g").has_value());
  CHECK_FALSE(hex_decode("abc").has_value());
}
