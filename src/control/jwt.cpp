#include "recvault/control/jwt.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "recvault/crypto/primitives.hpp"
#include "recvault/sys/private_file.hpp"
#include "recvault/util/encoding.hpp"

namespace recvault::control {
namespace {

constexpr std::size_t kMaxTokenSize = 8192;
constexpr std::size_t kMinHmacSecret = 32;
constexpr std::size_t kMaxSecretFile = 4096;

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct BioDeleter {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct SigDeleter {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
using UniquePkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

Error invalid(std::string why) { return make_error(Errc::invalid_argument, std::move(why)); }

std::optional<JwtAlg> parse_alg(std::string_view name) {
  if (name == "HS256") return JwtAlg::hs256;
  if (name == "RS256") return JwtAlg::rs256;
  if (name == "ES256") return JwtAlg::es256;
  return std::nullopt;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return sys_error("cannot read " + path, errno);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return data;
}

// JOSE ES256 signature (r||s, 32 bytes each) to the DER form OpenSSL verifies.
std::optional<std::vector<unsigned char>> es256_raw_to_der(std::string_view raw) {
  if (raw.size() != 64) return std::nullopt;
  std::unique_ptr<ECDSA_SIG, SigDeleter> sig(ECDSA_SIG_new());
  if (!sig) return std::nullopt;
  auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  BIGNUM* r = BN_bin2bn(bytes, 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes + 32, 32, nullptr);
  if (r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return std::nullopt;
  }
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return std::nullopt;
  std::vector<unsigned char> der(static_cast<std::size_t>(len));
  unsigned char* p = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &p) != len) return std::nullopt;
  return der;
}

struct ClaimRules {
  std::int64_t leeway = 0;
  std::int64_t max_lifetime = 0;  // 0 = no limit
  const std::string& issuer;
  const std::string& audience;
};

// Seconds as a JSON number to an integer, clamped (a signed token may still
// carry exp = 1e300).
std::int64_t clamp_seconds(double v) {
  if (v >= 9.0e18) return INT64_MAX;
  if (v <= -9.0e18) return INT64_MIN;
  return static_cast<std::int64_t>(v);
}

Status check_lifetime(const nlohmann::json& claims, double exp_value, std::int64_t now, const ClaimRules& rules) {
  double start = static_cast<double>(now);
  if (auto iat = claims.find("iat"); iat != claims.end()) {
    if (!iat->is_number()) return invalid("token iat claim is not a number");
    double iat_value = iat->get<double>();
    // A future iat would let exp - iat hide any lifetime.
    if (iat_value > static_cast<double>(now + rules.leeway)) return invalid("token iat is in the future");
    start = iat_value;
  }
  if (rules.max_lifetime > 0 && exp_value - start > static_cast<double>(rules.max_lifetime))
    return invalid("token lifetime exceeds the maximum of " + std::to_string(rules.max_lifetime) +
                   " s (max_token_lifetime); mint a shorter-lived token");
  return {};
}

Status check_iss_aud(const nlohmann::json& claims, const ClaimRules& rules) {
  if (!rules.issuer.empty()) {
    auto iss = claims.find("iss");
    if (iss == claims.end() || !iss->is_string()) return invalid("token has no iss claim");
    if (iss->get_ref<const std::string&>() != rules.issuer) return invalid("token iss is not accepted");
  }
  if (!rules.audience.empty()) {
    auto aud = claims.find("aud");
    if (aud == claims.end()) return invalid("token has no aud claim");
    bool found = false;
    if (aud->is_string()) {
      found = aud->get_ref<const std::string&>() == rules.audience;
    } else if (aud->is_array()) {
      for (const auto& a : *aud) {
        if (!a.is_string()) return invalid("token aud claim must hold strings");
        if (a.get_ref<const std::string&>() == rules.audience) found = true;
      }
    } else {
      return invalid("token aud claim must be a string or an array of strings");
    }
    if (!found) return invalid("token aud does not include this server");
  }
  return {};
}

Result<Principal> principal_from_claims(const nlohmann::json& claims, std::int64_t now, const ClaimRules& rules) {
  const std::int64_t leeway = rules.leeway;
  auto exp = claims.find("exp");
  if (exp == claims.end()) return invalid("token has no exp claim");
  if (!exp->is_number()) return invalid("token exp claim is not a number");
  auto exp_value = exp->get<double>();
  if (static_cast<double>(now - leeway) >= exp_value) return invalid("token has expired");
  if (auto nbf = claims.find("nbf"); nbf != claims.end()) {
    if (!nbf->is_number()) return invalid("token nbf claim is not a number");
    if (static_cast<double>(now + leeway) < nbf->get<double>()) return invalid("token is not yet valid");
  }
  RV_TRY(check_lifetime(claims, exp_value, now, rules));
  RV_TRY(check_iss_aud(claims, rules));
  Principal p;
  p.expires_at = clamp_seconds(exp_value);
  auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string() || sub->get_ref<const std::string&>().empty())
    return invalid("token has no sub claim");
  p.subject = sub->get<std::string>();
  auto accounts = claims.find("accounts");
  if (accounts == claims.end()) return invalid("token has no accounts claim");
  if (accounts->is_string()) {
    if (accounts->get_ref<const std::string&>() != "*")
      return invalid("token accounts claim must be an array or \"*\"");
    p.all_accounts = true;
  } else if (accounts->is_array()) {
    for (const auto& a : *accounts) {
      if (!a.is_string()) return invalid("token accounts claim must hold strings");
      if (a.get_ref<const std::string&>() == "*")
        p.all_accounts = true;
      else
        p.accounts.push_back(a.get<std::string>());
    }
  } else {
    return invalid("token accounts claim must be an array or \"*\"");
  }
  auto scope = claims.find("scope");
  if (scope == claims.end() || !scope->is_string()) return invalid("token has no scope claim");
  const auto& s = scope->get_ref<const std::string&>();
  if (s == "admin")
    p.scope = Scope::admin;
  else if (s == "read")
    p.scope = Scope::read;
  else
    return invalid("token scope must be \"read\" or \"admin\"");
  return p;
}

}  // namespace

struct JwtVerifier::Key {
  JwtAlg alg;
  crypto::SecretBytes secret;  // hs256
  UniquePkey pkey;             // rs256 / es256

  bool verify(std::string_view signing_input, std::string_view signature) const {
    if (alg == JwtAlg::hs256) {
      auto mac = crypto::hmac_sha256(secret.span(), {crypto::as_bytes(signing_input)});
      return crypto::equal_ct(mac, crypto::as_bytes(signature));
    }
    std::vector<unsigned char> sig;
    if (alg == JwtAlg::es256) {
      auto der = es256_raw_to_der(signature);
      if (!der) return false;
      sig = std::move(*der);
    } else {
      sig.assign(signature.begin(), signature.end());
    }
    std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
    if (!ctx) return false;
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pkey.get()) != 1) return false;
    int rc = EVP_DigestVerify(ctx.get(), sig.data(), sig.size(),
                              reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size());
    return rc == 1;
  }
};

const char* jwt_alg_name(JwtAlg alg) noexcept {
  switch (alg) {
    case JwtAlg::hs256:
      return "HS256";
    case JwtAlg::rs256:
      return "RS256";
    case JwtAlg::es256:
      return "ES256";
  }
  return "?";
}

bool Principal::may_access(std::string_view account) const {
  return all_accounts || std::find(accounts.begin(), accounts.end(), account) != accounts.end();
}

JwtVerifier::JwtVerifier() = default;
JwtVerifier::~JwtVerifier() = default;
JwtVerifier::JwtVerifier(JwtVerifier&&) noexcept = default;
JwtVerifier& JwtVerifier::operator=(JwtVerifier&&) noexcept = default;

bool JwtVerifier::empty() const noexcept { return keys_.empty(); }

Status JwtVerifier::add_hs256_secret(crypto::SecretBytes secret) {
  if (secret.size() < kMinHmacSecret) return invalid("HS256 secret must be at least 32 bytes");
  auto key = std::make_unique<Key>();
  key->alg = JwtAlg::hs256;
  key->secret = std::move(secret);
  keys_.push_back(std::move(key));
  return {};
}

Status JwtVerifier::add_public_key_pem(JwtAlg alg, std::string_view pem) {
  if (alg == JwtAlg::hs256) return invalid("HS256 takes a secret, not a public key");
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return make_error(Errc::internal, "BIO_new_mem_buf failed");
  UniquePkey pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return invalid("not a PEM public key");
  if (alg == JwtAlg::rs256) {
    if (EVP_PKEY_base_id(pkey.get()) != EVP_PKEY_RSA) return invalid("RS256 needs an RSA public key");
    if (EVP_PKEY_get_bits(pkey.get()) < 2048) return invalid("RS256 key must have at least 2048 bits");
  } else {
    if (EVP_PKEY_base_id(pkey.get()) != EVP_PKEY_EC) return invalid("ES256 needs an EC public key");
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey.get(), "group", group, sizeof group, &len) != 1 ||
        std::string_view(group) != "prime256v1")
      return invalid("ES256 needs a P-256 key");
  }
  auto key = std::make_unique<Key>();
  key->alg = alg;
  key->pkey = std::move(pkey);
  keys_.push_back(std::move(key));
  return {};
}

Result<JwtVerifier> JwtVerifier::from_config(const AuthConfig& config) {
  JwtVerifier v;
  v.leeway_ = config.leeway;
  v.max_lifetime_ = config.max_lifetime;
  v.issuer_ = config.issuer;
  v.audience_ = config.audience;
  if (!config.hs256_secret_file.empty()) {
    RV_ASSIGN(auto secret, read_hs256_secret_file(config.hs256_secret_file));
    RV_TRY(v.add_hs256_secret(std::move(secret)));
  }
  for (const auto& [alg, files] :
       {std::pair{JwtAlg::rs256, &config.rs256_public_keys}, std::pair{JwtAlg::es256, &config.es256_public_keys}}) {
    for (const auto& file : *files) {
      RV_ASSIGN(auto pem, read_file(file));
      auto st = v.add_public_key_pem(alg, pem);
      if (!st) return make_error(st.error().code, file + ": " + st.error().message);
    }
  }
  if (v.empty()) return invalid("no JWT verification key configured");
  return v;
}

Result<Principal> JwtVerifier::verify(std::string_view token) const {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  return verify(token, now.count());
}

Result<Principal> JwtVerifier::verify(std::string_view token, std::int64_t now) const {
  if (token.size() > kMaxTokenSize) return invalid("token is too large");
  auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return invalid("malformed token");
  auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return invalid("malformed token");
  auto header_bytes = base64url_decode(token.substr(0, dot1));
  auto payload_bytes = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature_bytes = base64url_decode(token.substr(dot2 + 1));
  if (!header_bytes || !payload_bytes || !signature_bytes) return invalid("malformed token");
  const std::string header_text(header_bytes->begin(), header_bytes->end());
  const std::string payload_text(payload_bytes->begin(), payload_bytes->end());
  const std::string signature(signature_bytes->begin(), signature_bytes->end());

  auto header = nlohmann::json::parse(header_text, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return invalid("malformed token header");
  auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string()) return invalid("token header has no alg");
  if (header.contains("crit")) return invalid("token has unsupported critical headers");
  auto alg = parse_alg(alg_it->get_ref<const std::string&>());
  if (!alg) return invalid("token algorithm is not accepted");

  bool any_key = false;
  bool verified = false;
  const auto signing_input = token.substr(0, dot2);
  for (const auto& key : keys_) {
    if (key->alg != *alg) continue;
    any_key = true;
    if (key->verify(signing_input, signature)) {
      verified = true;
      break;
    }
  }
  if (!any_key) return invalid("token algorithm is not accepted");
  if (!verified) return invalid("token signature is invalid");

  auto claims = nlohmann::json::parse(payload_text, nullptr, false);
  if (claims.is_discarded() || !claims.is_object()) return invalid("malformed token claims");
  return principal_from_claims(claims, now, ClaimRules{leeway_.count(), max_lifetime_.count(), issuer_, audience_});
}

Result<std::string> mint_hs256(const crypto::SecretBytes& secret, const nlohmann::json& claims) {
  if (secret.size() < kMinHmacSecret) return invalid("HS256 secret must be at least 32 bytes");
  if (!claims.is_object()) return invalid("claims must be a JSON object");
  const std::string header = R"({"alg":"HS256","typ":"JWT"})";
  std::string input = base64url_encode(header) + "." + base64url_encode(claims.dump());
  auto mac = crypto::hmac_sha256(secret.span(), {crypto::as_bytes(input)});
  return input + "." + base64url_encode(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
}

Result<crypto::SecretBytes> read_hs256_secret_file(const std::string& path) {
  auto secret = sys::read_private_file(path, "JWT HS256 secret file", kMaxSecretFile);
  RV_TRY(secret);
  std::size_t n = secret->size();
  while (n > 0 && (secret->data()[n - 1] == '\n' || secret->data()[n - 1] == '\r' || secret->data()[n - 1] == ' ')) --n;
  secret->resize(n);
  if (secret->size() < kMinHmacSecret) return invalid(path + ": HS256 secret must be at least 32 bytes");
  return std::move(secret).value();
}

std::string base64url_encode(std::string_view data) { return recvault::base64url_encode(crypto::as_bytes(data)); }

}  // namespace recvault::control
