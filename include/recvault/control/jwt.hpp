// JSON Web Tokens (RFC 7519) for the control API: a small verifier and an
// HS256 minter on OpenSSL 3.
//
// Security rules the verifier enforces (each has a test in tests/control):
//  - the header's `alg` must be one of the algorithms a configured key is for;
//    `none` is never accepted, and an HS256 token is only checked against HS256
//    secrets (never against an RSA/EC public key used as an HMAC secret);
//  - `exp` is required, `nbf` is honoured, both with a small leeway;
//  - a token may not live longer than the configured maximum lifetime:
//    `exp - iat` when the token has `iat` (and `iat` may not lie in the
//    future), otherwise `exp - now` (a token without `iat` is judged by what
//    is left of it at each use, so it is refused until its remaining life is
//    within the maximum);
//  - when an issuer / audience is configured, `iss` must equal it and `aud`
//    (a string or an array of strings, RFC 7519 §4.1.3) must contain it;
//  - ES256 signatures are JOSE raw r||s (64 bytes), converted to DER for OpenSSL;
//  - `crit` headers are rejected; the token size is bounded.
//
// Thread safety: a JwtVerifier is immutable once built; verify() may be called
// from any number of threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "recvault/crypto/secret.hpp"
#include "recvault/util/result.hpp"

namespace recvault::control {

enum class JwtAlg { hs256, rs256, es256 };
const char* jwt_alg_name(JwtAlg alg) noexcept;

enum class Scope { read, admin };

// The authenticated caller, as the token's claims describe it.
struct Principal {
  std::string subject;                // `sub`
  bool all_accounts = false;          // `accounts: "*"` (or ["*"])
  std::vector<std::string> accounts;  // `accounts: ["acc1", ...]`
  Scope scope = Scope::read;          // `scope: "read" | "admin"`
  std::int64_t expires_at = 0;        // `exp`, seconds since the epoch

  bool may_access(std::string_view account) const;
};

// Where the verification keys come from (files, as the daemon's TOML names them).
struct AuthConfig {
  std::string hs256_secret_file;               // raw bytes; trailing newline stripped
  std::vector<std::string> rs256_public_keys;  // PEM files (RSA >= 2048 bits)
  std::vector<std::string> es256_public_keys;  // PEM files (EC P-256)
  std::chrono::seconds leeway{30};
  // The longest a token may be valid (exp - iat, or exp - now without iat).
  // 0 = no limit (tests only: the daemon's config cannot turn it off).
  std::chrono::seconds max_lifetime{24 * 3600};
  std::string issuer;    // required `iss` when not empty
  std::string audience;  // required in `aud` when not empty
};

class JwtVerifier {
 public:
  JwtVerifier();
  ~JwtVerifier();
  JwtVerifier(JwtVerifier&&) noexcept;
  JwtVerifier& operator=(JwtVerifier&&) noexcept;
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  // Loads every key the config names. Fails if none is configured or a file
  // cannot be read or parsed.
  static Result<JwtVerifier> from_config(const AuthConfig& config);

  // An HMAC secret (at least 32 bytes) for HS256.
  Status add_hs256_secret(crypto::SecretBytes secret);
  // A PEM public key (SubjectPublicKeyInfo) for RS256 or ES256.
  Status add_public_key_pem(JwtAlg alg, std::string_view pem);
  void set_leeway(std::chrono::seconds leeway) noexcept { leeway_ = leeway; }
  // 0 = no limit.
  void set_max_lifetime(std::chrono::seconds max) noexcept { max_lifetime_ = max; }
  // "" = not required.
  void set_issuer(std::string issuer) { issuer_ = std::move(issuer); }
  void set_audience(std::string audience) { audience_ = std::move(audience); }

  bool empty() const noexcept;

  // Verifies `token` at time `now` (seconds since the epoch) and returns its
  // principal. The error message is safe to log and to send to the client.
  Result<Principal> verify(std::string_view token, std::int64_t now) const;
  Result<Principal> verify(std::string_view token) const;

 private:
  struct Key;
  std::vector<std::unique_ptr<Key>> keys_;
  std::chrono::seconds leeway_{30};
  std::chrono::seconds max_lifetime_{24 * 3600};
  std::string issuer_;
  std::string audience_;
};

// Mints an HS256 token with `claims` as its payload (recvaultctl token mint).
Result<std::string> mint_hs256(const crypto::SecretBytes& secret, const nlohmann::json& claims);

// Reads an HS256 secret file (trailing whitespace stripped); >= 32 bytes.
// The file must be a regular file of the running user with no group/other
// permission bits, like the master key (sys::open_private_file): a secret
// that anyone on the host can read mints admin tokens for them.
Result<crypto::SecretBytes> read_hs256_secret_file(const std::string& path);

// base64url without padding (RFC 7515 §2) of text; decoding is
// recvault::base64url_decode (util/encoding.hpp), which this wraps.
std::string base64url_encode(std::string_view data);

}  // namespace recvault::control
