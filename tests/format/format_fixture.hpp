// Shared keys and file helpers for the format tests.
#pragma once

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>

#include "../test_util.hpp"
#include "recvault/format/encrypted_file.hpp"
#include "recvault/format/xattrs.hpp"
#include "recvault/sys/fd.hpp"

namespace recvault::test {

inline constexpr std::size_t C = format::kDefaultChunkSize;
inline constexpr format::Algorithm kAlgorithms[] = {format::Algorithm::aes256_gcm, format::Algorithm::aes256_cbc_hmac};

inline constexpr const char* kKey1 = "first_test_key_with_at_least_32_characters";
inline constexpr const char* kSalt1 = "c2FsdC1vbmUtMTIzNDU2Nw==";
inline constexpr const char* kKey2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
inline constexpr const char* kSalt2 = "second_salt_value";

// scrypt is slow by design: derive each test key once per process.
inline format::VersionKeyPtr version_key(int version) {
  static const format::VersionKeyPtr k1 =
      std::make_shared<format::VersionKey>(format::VersionKey::derive(kKey1, kSalt1).value());
  static const format::VersionKeyPtr k2 =
      std::make_shared<format::VersionKey>(format::VersionKey::derive(kKey2, kSalt2).value());
  return version == 1 ? k1 : k2;
}

inline format::KeySpec key_spec(format::Algorithm alg, int version = 1) {
  format::KeySpec s;
  s.algorithm = alg;
  s.key_version = static_cast<std::uint32_t>(version);
  s.key_id = "key_auto_testacct";
  s.salt = version == 1 ? kSalt1 : kSalt2;
  s.key = version_key(version);
  return s;
}

// Resolves by key_version, as the daemon does.
inline format::KeyResolver resolver() {
  return [](const format::Header& h) -> Result<format::VersionKeyPtr> {
    if (h.key_version == 1) return version_key(1);
    if (h.key_version == 2) return version_key(2);
    return make_error(Errc::key_unavailable, "no such version");
  };
}
// A resolver that always hands out the given version's key.
inline format::KeyResolver resolver_always(int version) {
  return [version](const format::Header&) -> Result<format::VersionKeyPtr> { return version_key(version); };
}

inline sys::UniqueFd open_rw(const std::string& path, bool create = false) {
  int flags = O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
  return sys::UniqueFd(::open(path.c_str(), flags, 0600));
}

// Creates an encrypted file holding `data`, written in `piece`-sized writes.
inline void make_file(const std::string& path, format::Algorithm alg, const std::vector<std::uint8_t>& data,
                      bool seal = true, std::uint32_t chunk = format::kDefaultChunkSize, std::size_t piece = 10000,
                      int version = 1) {
  auto fd = open_rw(path, true);
  auto f = format::EncryptedFile::create(fd.get(), key_spec(alg, version), chunk).value();
  for (std::size_t off = 0; off < data.size(); off += piece) {
    std::size_t n = std::min(piece, data.size() - off);
    if (!f->write(off, std::span(data).subspan(off, n)).ok()) throw std::runtime_error("write failed");
  }
  if (seal) {
    if (!f->seal().ok()) throw std::runtime_error("seal failed");
  } else if (!f->flush().ok()) {
    throw std::runtime_error("flush failed");
  }
}

// Reads the whole plaintext through a fresh open; the error if any.
inline Result<std::vector<std::uint8_t>> decrypt_file(const std::string& path,
                                                      const format::KeyResolver& r = resolver()) {
  auto fd = open_rw(path);
  auto f = format::EncryptedFile::open(fd.get(), r);
  if (!f) return std::move(f).error();
  std::vector<std::uint8_t> out((*f)->size());
  auto n = (*f)->read(0, out);
  if (!n) return std::move(n).error();
  out.resize(*n);
  return out;
}

inline void flip_byte(const std::string& path, std::uint64_t offset, std::uint8_t mask = 0x01) {
  auto fd = open_rw(path);
  std::uint8_t b = 0;
  if (::pread(fd.get(), &b, 1, static_cast<off_t>(offset)) != 1) throw std::runtime_error("pread");
  b ^= mask;
  if (::pwrite(fd.get(), &b, 1, static_cast<off_t>(offset)) != 1) throw std::runtime_error("pwrite");
}

}  // namespace recvault::test
