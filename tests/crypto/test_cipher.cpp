// Known-answer and tamper tests of the two chunk ciphers.
#include <catch2/catch.hpp>

#include "../test_util.hpp"
#include "recvault/crypto/cipher.hpp"
#include "recvault/util/encoding.hpp"

using namespace recvault;
using namespace recvault::crypto;
using recvault::test::unhex;

TEST_CASE("AES-256-GCM: GCM spec test case 16 (NIST SP 800-38D vectors)", "[kat][gcm]") {
  auto key = unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  auto iv = unhex("cafebabefacedbaddecaf888");
  auto aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  auto pt = unhex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525"
      "b16aedf5aa0de657ba637b39");
  const char* want_ct =
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838"
      "c5f61e6393ba7a0abcc9f662";
  ChunkCipher c;
  std::vector<std::uint8_t> ct(pt.size()), tag(16);
  REQUIRE(c.gcm_seal(key, iv, aad, pt, ct, tag).ok());
  CHECK(hex_encode(ct) == want_ct);
  CHECK(hex_encode(tag) == "76fc6ece0f4e1768cddf8853bb2d551b");

  std::vector<std::uint8_t> back(ct.size());
  REQUIRE(c.gcm_open(key, iv, aad, ct, tag, back).ok());
  CHECK(back == pt);

  SECTION("a flipped ciphertext bit fails") {
    ct[5] ^= 1;
    auto st = c.gcm_open(key, iv, aad, ct, tag, back);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().code == Errc::tampered);
  }
  SECTION("a flipped AAD bit fails") {
    aad[0] ^= 0x80;
    CHECK_FALSE(c.gcm_open(key, iv, aad, ct, tag, back).ok());
  }
  SECTION("a flipped tag bit fails") {
    tag[15] ^= 1;
    CHECK_FALSE(c.gcm_open(key, iv, aad, ct, tag, back).ok());
  }
}

TEST_CASE("AES-256-GCM: test case 13, empty plaintext", "[kat][gcm]") {
  std::vector<std::uint8_t> key(32, 0), iv(12, 0), tag(16), none;
  ChunkCipher c;
  REQUIRE(c.gcm_seal(key, iv, {}, none, none, tag).ok());
  CHECK(hex_encode(tag) == "530f8afbc74536b9a963b4f1c4cb738b");
}

TEST_CASE("AES-256-CBC: SP 800-38A F.2.5 first block, then HMAC", "[kat][cbc]") {
  auto enc = unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
  std::vector<std::uint8_t> key = enc;
  key.resize(64, 0x42);  // MAC half
  auto iv = unhex("000102030405060708090a0b0c0d0e0f");
  auto pt = unhex("6bc1bee22e409f96e93d7e117393172a");
  auto aad = recvault::test::bytes_of("header");
  ChunkCipher c;
  std::vector<std::uint8_t> ct(CbcHmacSizes::ciphertext(pt.size())), tag(32);
  REQUIRE(ct.size() == 32);
  REQUIRE(c.cbc_seal(key, iv, aad, pt, ct, tag).ok());
  CHECK(hex_encode(std::span(ct).first(16)) == "f58c4c04d6e5f1ba779eabfb5f7bfbd6");

  std::vector<std::uint8_t> back(ct.size());
  auto n = c.cbc_open(key, iv, aad, ct, tag, back);
  REQUIRE(n.ok());
  CHECK(*n == pt.size());
  CHECK(std::vector<std::uint8_t>(back.begin(), back.begin() + static_cast<long>(*n)) == pt);

  SECTION("MAC covers ciphertext, IV and AAD") {
    auto ct2 = ct;
    ct2[31] ^= 1;
    CHECK(c.cbc_open(key, iv, aad, ct2, tag, back).error().code == Errc::tampered);
    auto iv2 = iv;
    iv2[0] ^= 1;
    CHECK_FALSE(c.cbc_open(key, iv2, aad, ct, tag, back).ok());
    auto aad2 = recvault::test::bytes_of("headeR");
    CHECK_FALSE(c.cbc_open(key, iv, aad2, ct, tag, back).ok());
  }
}

TEST_CASE("AES-256-CBC+HMAC round trips every length around block edges", "[cbc]") {
  std::vector<std::uint8_t> key(64, 7), iv(16, 9);
  ChunkCipher c;
  for (std::size_t n : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 1000u}) {
    std::vector<std::uint8_t> pt(n);
    for (std::size_t i = 0; i < n; ++i) pt[i] = static_cast<std::uint8_t>(i * 31);
    std::vector<std::uint8_t> ct(CbcHmacSizes::ciphertext(n)), tag(32), back(ct.size());
    REQUIRE(c.cbc_seal(key, iv, {}, pt, ct, tag).ok());
    auto got = c.cbc_open(key, iv, {}, ct, tag, back);
    REQUIRE(got.ok());
    back.resize(*got);
    CHECK(back == pt);
  }
}
