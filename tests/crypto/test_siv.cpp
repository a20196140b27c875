// AES-SIV: RFC 5297 appendix A vectors, and tampering.
#include <catch2/catch.hpp>

#include "../test_util.hpp"
#include "recvault/crypto/siv.hpp"
#include "recvault/util/encoding.hpp"

using namespace recvault;
using namespace recvault::crypto;
using recvault::test::unhex;

TEST_CASE("AES-SIV: RFC 5297 A.1 (deterministic, one AD component)", "[kat][siv]") {
  auto key = unhex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
  auto ad = unhex("101112131415161718191a1b1c1d1e1f2021222324252627");
  auto pt = unhex("112233445566778899aabbccddee");
  auto sealed = siv_seal(key, {ad}, pt);
  REQUIRE(sealed.ok());
  CHECK(hex_encode(*sealed) == "85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c");
  auto back = siv_open(key, {ad}, *sealed);
  REQUIRE(back.ok());
  CHECK(hex_encode(back->span()) == hex_encode(pt));

  SECTION("a flipped bit of V, of C or of the AD fails") {
    for (std::size_t i : {std::size_t{0}, std::size_t{20}}) {
      auto bad = *sealed;
      bad[i] ^= 1;
      auto r = siv_open(key, {ad}, bad);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == Errc::tampered);
    }
    ad[3] ^= 0x40;
    CHECK_FALSE(siv_open(key, {ad}, *sealed).ok());
  }
  SECTION("the AD is a vector: one component is not two") {
    std::vector<std::uint8_t> a(ad.begin(), ad.begin() + 8), b(ad.begin() + 8, ad.end());
    CHECK_FALSE(siv_open(key, {a, b}, *sealed).ok());
  }
  SECTION("bad sizes are refused, not guessed") {
    CHECK(siv_seal(unhex("00112233"), {ad}, pt).error().code == Errc::invalid_argument);
    CHECK(siv_seal(key, {ad}, {}).error().code == Errc::invalid_argument);
    CHECK(siv_seal(key, {std::vector<std::uint8_t>{}}, pt).error().code == Errc::invalid_argument);
    CHECK(siv_open(key, {ad}, unhex("85632d07c6e8f37f950acd320a2ecc93")).error().code == Errc::tampered);
  }
}

TEST_CASE("AES-SIV: RFC 5297 A.2 (nonce-based, three AD components)", "[kat][siv]") {
  auto key = unhex("7f7e7d7c7b7a79787776757473727170404142434445464748494a4b4c4d4e4f");
  auto ad1 = unhex("00112233445566778899aabbccddeeffdeaddadadeaddadaffeeddccbbaa99887766554433221100");
  auto ad2 = unhex("102030405060708090a0");
  auto nonce = unhex("09f911029d74e35bd84156c5635688c0");
  auto pt = unhex("7468697320697320736f6d6520706c61696e7465787420746f20656e6372797074207573696e67205349562d414553");
  auto sealed = siv_seal(key, {ad1, ad2, nonce}, pt);
  REQUIRE(sealed.ok());
  CHECK(hex_encode(*sealed) ==
        "7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e"
        "9c485b62a3fd5c0d");
  auto back = siv_open(key, {ad1, ad2, nonce}, *sealed);
  REQUIRE(back.ok());
  CHECK(hex_encode(back->span()) == hex_encode(pt));
  CHECK_FALSE(siv_open(key, {ad2, ad1, nonce}, *sealed).ok());
}

TEST_CASE("AES-256-SIV round trip with a 64-byte key", "[siv]") {
  std::vector<std::uint8_t> key(64);
  for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i * 7);
  auto ad = unhex("0102");
  auto pt = unhex("00112233445566778899aabbccddeeff00");
  auto a = siv_seal(key, {ad}, pt);
  auto b = siv_seal(key, {ad}, pt);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(*a == *b);  // deterministic
  CHECK(a->size() == pt.size() + kSivTagSize);
  auto back = siv_open(key, {ad}, *a);
  REQUIRE(back.ok());
  CHECK(hex_encode(back->span()) == hex_encode(pt));
}
