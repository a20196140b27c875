// The JWT verifier: good tokens of each algorithm and every rejection rule.
#include <catch2/catch.hpp>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include "recvault/control/jwt.hpp"
#include "recvault/crypto/primitives.hpp"
#include "test_support.hpp"

using namespace recvault;
using namespace recvault::control;
using namespace recvault::control::testing;
using nlohmann::json;

namespace {

struct Pkey {
  EVP_PKEY* p;
  explicit Pkey(EVP_PKEY* k) : p(k) {}
  ~Pkey() { EVP_PKEY_free(p); }
  Pkey(const Pkey&) = delete;
  Pkey& operator=(const Pkey&) = delete;
};

std::string public_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return pem;
}

std::string sign_der(EVP_PKEY* key, const std::string& input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  std::size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  return sig;
}

std::string der_to_raw(const std::string& der) {
  auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  unsigned char raw[64] = {};
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + 32, 32);
  ECDSA_SIG_free(sig);
  return std::string(reinterpret_cast<char*>(raw), 64);
}

std::string token_with(const json& header, const json& claims,
                       const std::function<std::string(const std::string&)>& sign) {
  std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  return input + "." + base64url_encode(sign(input));
}

std::string hmac(const std::string& secret, const std::string& input) {
  auto mac = crypto::hmac_sha256(crypto::as_bytes(secret), {crypto::as_bytes(input)});
  return std::string(reinterpret_cast<const char*>(mac.data()), mac.size());
}

json good_claims() {
  return {{"sub", "alice"}, {"accounts", {"acc1", "acc2"}}, {"scope", "admin"}, {"exp", now_s() + 300}};
}

JwtVerifier hs_verifier() {
  JwtVerifier v;
  REQUIRE(v.add_hs256_secret(crypto::SecretBytes::from_view(kTestSecret)));
  return v;
}

}  // namespace

TEST_CASE("base64url round trip and strictness", "[jwt]") {
  for (std::string s : {"", "f", "fo", "foo", "foob", "\xff\xfe\xfd"})
    CHECK(base64url_decode(base64url_encode(s)) == std::vector<std::uint8_t>(s.begin(), s.end()));
  CHECK(base64url_encode("\xfb\xff") == "-_8");
  CHECK_FALSE(base64url_decode("Zm9v="));  // padding
  CHECK_FALSE(base64url_decode("+/8"));    // standard alphabet
  CHECK_FALSE(base64url_decode("Zm9vY"));  // impossible length
  CHECK_FALSE(base64url_decode("Zh"));     // non-canonical trailing bits
}

TEST_CASE("HS256: a minted token verifies and yields the principal", "[jwt]") {
  auto v = hs_verifier();
  auto p = v.verify(mint(good_claims()));
  REQUIRE(p);
  CHECK(p->subject == "alice");
  CHECK(p->scope == Scope::admin);
  CHECK(p->may_access("acc1"));
  CHECK_FALSE(p->may_access("acc3"));
  auto all = v.verify(mint({{"sub", "x"}, {"accounts", "*"}, {"scope", "read"}, {"exp", now_s() + 60}}));
  REQUIRE(all);
  CHECK(all->all_accounts);
  CHECK(all->may_access("anything"));
  CHECK(all->scope == Scope::read);
}

TEST_CASE("HS256 rejections", "[jwt]") {
  auto v = hs_verifier();
  auto reason = [&](const std::string& token) {
    auto r = v.verify(token);
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  auto claims = good_claims();
  SECTION("expired") {
    claims["exp"] = now_s() - 120;
    CHECK(reason(mint(claims)) == "token has expired");
  }
  SECTION("expiry within the leeway is accepted") {
    claims["exp"] = now_s() - 5;
    CHECK(v.verify(mint(claims)));
  }
  SECTION("nbf in the future") {
    claims["nbf"] = now_s() + 600;
    CHECK(reason(mint(claims)) == "token is not yet valid");
  }
  SECTION("nbf in the past is fine") {
    claims["nbf"] = now_s() - 10;
    CHECK(v.verify(mint(claims)));
  }
  SECTION("missing exp") {
    claims.erase("exp");
    CHECK(reason(mint(claims)) == "token has no exp claim");
  }
  SECTION("a huge exp is clamped, not undefined behaviour") {
    claims["exp"] = 1e300;
    v.set_max_lifetime(std::chrono::seconds(0));  // no lifetime limit: reach the clamp
    auto p = v.verify(mint(claims));
    REQUIRE(p);
    CHECK(p->expires_at == INT64_MAX);
  }
  SECTION("exp of the wrong type") {
    claims["exp"] = "tomorrow";
    CHECK_FALSE(v.verify(mint(claims)));
  }
  SECTION("wrong secret") {
    CHECK(reason(mint(claims, "another-secret-that-is-long-enough-000000")) == "token signature is invalid");
  }
  SECTION("tampered payload") {
    auto t = mint(claims);
    auto dot = t.find('.');
    auto dot2 = t.find('.', dot + 1);
    json evil = claims;
    evil["scope"] = "admin";
    evil["accounts"] = "*";
    std::string forged = t.substr(0, dot) + "." + base64url_encode(evil.dump()) + t.substr(dot2);
    CHECK(reason(forged) == "token signature is invalid");
  }
  SECTION("alg none") {
    auto t = token_with({{"alg", "none"}, {"typ", "JWT"}}, claims, [](const std::string&) { return std::string(); });
    CHECK(reason(t) == "token algorithm is not accepted");
    CHECK(reason(t.substr(0, t.size())) == "token algorithm is not accepted");
  }
  SECTION("alg None / HS512 / missing") {
    for (json h : {json{{"alg", "None"}}, json{{"alg", "HS512"}}, json{{"typ", "JWT"}}}) {
      auto t = token_with(h, claims, [](const std::string& in) { return hmac(kTestSecret, in); });
      CHECK_FALSE(v.verify(t));
    }
  }
  SECTION("crit header") {
    auto t = token_with({{"alg", "HS256"}, {"crit", {"exp"}}}, claims,
                        [](const std::string& in) { return hmac(kTestSecret, in); });
    CHECK_FALSE(v.verify(t));
  }
  SECTION("malformed") {
    for (std::string t :
         std::vector<std::string>{"", "abc", "a.b", "a.b.c.d", "..", "e30.e30.", "!!!.e30.e30", std::string(9000, 'a')})
      CHECK_FALSE(v.verify(t));
  }
  SECTION("claims") {
    for (const char* drop : {"sub", "accounts", "scope"}) {
      auto c = claims;
      c.erase(drop);
      CHECK_FALSE(v.verify(mint(c)));
    }
    auto c = claims;
    c["scope"] = "root";
    CHECK(reason(mint(c)) == "token scope must be \"read\" or \"admin\"");
    c = claims;
    c["accounts"] = "acc1";
    CHECK_FALSE(v.verify(mint(c)));
    c["accounts"] = {1, 2};
    CHECK_FALSE(v.verify(mint(c)));
  }
  SECTION("payload not an object") {
    auto t =
        token_with({{"alg", "HS256"}}, json::array({1}), [](const std::string& in) { return hmac(kTestSecret, in); });
    CHECK(reason(t) == "malformed token claims");
  }
}

TEST_CASE("HS256 secrets must be long enough; minting needs a secret", "[jwt]") {
  JwtVerifier v;
  CHECK_FALSE(v.add_hs256_secret(crypto::SecretBytes::from_view("short")));
  CHECK_FALSE(mint_hs256(crypto::SecretBytes::from_view("short"), good_claims()));
}

TEST_CASE("RS256 and ES256 verify; algorithm confusion is rejected", "[jwt]") {
  Pkey rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  Pkey ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  REQUIRE(rsa.p);
  REQUIRE(ec.p);
  const std::string rsa_pem = public_pem(rsa.p);
  const std::string ec_pem = public_pem(ec.p);
  JwtVerifier v;
  REQUIRE(v.add_public_key_pem(JwtAlg::rs256, rsa_pem));
  REQUIRE(v.add_public_key_pem(JwtAlg::es256, ec_pem));
  auto claims = good_claims();

  SECTION("RS256") {
    auto t = token_with({{"alg", "RS256"}, {"typ", "JWT"}}, claims,
                        [&](const std::string& in) { return sign_der(rsa.p, in); });
    CHECK(v.verify(t));
  }
  SECTION("ES256 with a raw r||s signature") {
    auto t =
        token_with({{"alg", "ES256"}}, claims, [&](const std::string& in) { return der_to_raw(sign_der(ec.p, in)); });
    CHECK(v.verify(t));
  }
  SECTION("ES256 with a DER signature is rejected") {
    auto t = token_with({{"alg", "ES256"}}, claims, [&](const std::string& in) { return sign_der(ec.p, in); });
    CHECK_FALSE(v.verify(t));
  }
  SECTION("RS256 header on an ES256 signature") {
    auto t =
        token_with({{"alg", "RS256"}}, claims, [&](const std::string& in) { return der_to_raw(sign_der(ec.p, in)); });
    CHECK_FALSE(v.verify(t));
  }
  SECTION("HS256 signed with the RSA public key as the secret") {
    auto t = token_with({{"alg", "HS256"}}, claims, [&](const std::string& in) { return hmac(rsa_pem, in); });
    auto r = v.verify(t);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "token algorithm is not accepted");
  }
  SECTION("... also when an HS256 secret is configured too") {
    REQUIRE(v.add_hs256_secret(crypto::SecretBytes::from_view(kTestSecret)));
    auto t = token_with({{"alg", "HS256"}}, claims, [&](const std::string& in) { return hmac(rsa_pem, in); });
    CHECK_FALSE(v.verify(t));
    CHECK(v.verify(mint(claims)));
  }
  SECTION("key type checks") {
    JwtVerifier w;
    CHECK_FALSE(w.add_public_key_pem(JwtAlg::rs256, ec_pem));
    CHECK_FALSE(w.add_public_key_pem(JwtAlg::es256, rsa_pem));
    CHECK_FALSE(w.add_public_key_pem(JwtAlg::hs256, rsa_pem));
    CHECK_FALSE(w.add_public_key_pem(JwtAlg::rs256, "not a pem"));
    Pkey small(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024)));
    CHECK_FALSE(w.add_public_key_pem(JwtAlg::rs256, public_pem(small.p)));
    CHECK(w.empty());
  }
}

TEST_CASE("token lifetime is bounded: exp - iat, or exp - now without iat", "[jwt][lifetime]") {
  auto v = hs_verifier();  // the default maximum: 24 h
  auto reason = [&](const json& c) {
    auto r = v.verify(mint(c));
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  const auto now = now_s();
  const std::string too_long = "token lifetime exceeds the maximum of 86400 s";
  auto claims = good_claims();
  SECTION("a 100-year token signed with the secret is refused") {
    claims["iat"] = now;
    claims["exp"] = now + 100LL * 365 * 24 * 3600;
    CHECK(reason(claims).find(too_long) == 0);
    claims.erase("iat");
    CHECK(reason(claims).find(too_long) == 0);
  }
  SECTION("exactly the maximum is accepted, one second more is not") {
    claims["iat"] = now - 10;
    claims["exp"] = now - 10 + 86400;
    CHECK(v.verify(mint(claims)));
    claims["exp"] = now - 10 + 86401;
    CHECK(reason(claims).find(too_long) == 0);
  }
  SECTION("with iat the whole lifetime counts, even if little is left") {
    claims["iat"] = now - 25 * 3600;
    claims["exp"] = now + 600;
    CHECK(reason(claims).find(too_long) == 0);
  }
  SECTION("without iat the remaining lifetime counts") {
    claims["exp"] = now + 23 * 3600;
    CHECK(v.verify(mint(claims)));
    claims["exp"] = now + 25 * 3600;
    CHECK(reason(claims).find(too_long) == 0);
  }
  SECTION("an iat in the future cannot stretch the lifetime") {
    claims["iat"] = now + 50LL * 365 * 24 * 3600;
    claims["exp"] = now + 50LL * 365 * 24 * 3600 + 60;
    CHECK(reason(claims) == "token iat is in the future");
    claims["iat"] = now + 10;  // within the leeway: clock skew
    claims["exp"] = now + 3600;
    CHECK(v.verify(mint(claims)));
    claims["iat"] = "yesterday";
    CHECK(reason(claims) == "token iat claim is not a number");
  }
  SECTION("the maximum is configurable; 0 means none") {
    v.set_max_lifetime(std::chrono::seconds(300));
    claims["iat"] = now;
    claims["exp"] = now + 600;
    CHECK(reason(claims).find("token lifetime exceeds the maximum of 300 s") == 0);
    v.set_max_lifetime(std::chrono::seconds(0));
    claims["exp"] = now + 100LL * 365 * 24 * 3600;
    CHECK(v.verify(mint(claims)));
  }
}

TEST_CASE("iss and aud are required when configured", "[jwt][iss]") {
  auto v = hs_verifier();
  auto claims = good_claims();
  SECTION("not configured: not checked") {
    claims["iss"] = "anyone";
    claims["aud"] = 42;
    CHECK(v.verify(mint(claims)));
  }
  v.set_issuer("https://idp.example.com");
  v.set_audience("recvaultd@host1");
  auto reason = [&](const json& c) {
    auto r = v.verify(mint(c));
    REQUIRE_FALSE(r);
    return r.error().message;
  };
  claims["iss"] = "https://idp.example.com";
  claims["aud"] = "recvaultd@host1";
  CHECK(v.verify(mint(claims)));
  SECTION("aud may be an array holding ours (RFC 7519 4.1.3)") {
    claims["aud"] = {"other", "recvaultd@host1"};
    CHECK(v.verify(mint(claims)));
    claims["aud"] = {"other", "recvaultd@host2"};
    CHECK(reason(claims) == "token aud does not include this server");
    claims["aud"] = json::array();
    CHECK(reason(claims) == "token aud does not include this server");
    claims["aud"] = {"recvaultd@host1", 7};
    CHECK(reason(claims) == "token aud claim must hold strings");
  }
  SECTION("wrong or missing aud") {
    claims["aud"] = "recvaultd@host2";
    CHECK(reason(claims) == "token aud does not include this server");
    claims["aud"] = 1;
    CHECK(reason(claims) == "token aud claim must be a string or an array of strings");
    claims.erase("aud");
    CHECK(reason(claims) == "token has no aud claim");
  }
  SECTION("wrong or missing iss") {
    claims["iss"] = "https://evil.example.com";
    CHECK(reason(claims) == "token iss is not accepted");
    claims["iss"] = json::array({"https://idp.example.com"});
    CHECK(reason(claims) == "token has no iss claim");
    claims.erase("iss");
    CHECK(reason(claims) == "token has no iss claim");
  }
}

TEST_CASE("from_config: a secret file others can read or write is refused", "[jwt][secret_file]") {
  TempDir dir;
  write_text(dir.file("secret"), kTestSecret + "\n");
  AuthConfig cfg;
  cfg.hs256_secret_file = dir.file("secret");
  for (auto mode : {0644, 0604, 0640, 0660, 0602}) {
    INFO(std::oct << mode);
    ::chmod(dir.file("secret").c_str(), static_cast<mode_t>(mode));
    auto v = JwtVerifier::from_config(cfg);
    REQUIRE_FALSE(v);
    CHECK(v.error().message.find("JWT HS256 secret file " + dir.file("secret")) == 0);
    CHECK(v.error().message.find("by group or others; run chmod 600 on it") != std::string::npos);
    CHECK(v.error().message.find(kTestSecret) == std::string::npos);
    CHECK_FALSE(read_hs256_secret_file(dir.file("secret")));
  }
  ::chmod(dir.file("secret").c_str(), 0400);
  CHECK(JwtVerifier::from_config(cfg));
  SECTION("a symlink is refused") {
    std::filesystem::create_symlink(dir.file("secret"), dir.file("link"));
    cfg.hs256_secret_file = dir.file("link");
    auto v = JwtVerifier::from_config(cfg);
    REQUIRE_FALSE(v);
    CHECK(v.error().message.find("symbolic link") != std::string::npos);
  }
  SECTION("lifetime, iss and aud come from the config") {
    cfg.max_lifetime = std::chrono::seconds(120);
    cfg.issuer = "ops";
    cfg.audience = "rv";
    auto v = JwtVerifier::from_config(cfg);
    REQUIRE(v);
    auto claims = good_claims();
    claims["iss"] = "ops";
    claims["aud"] = "rv";
    CHECK(v->verify(mint(claims)).error().message.find("maximum of 120 s") != std::string::npos);
    claims["exp"] = now_s() + 100;
    CHECK(v->verify(mint(claims)));
    claims.erase("aud");
    CHECK_FALSE(v->verify(mint(claims)));
  }
}

TEST_CASE("JwtVerifier::from_config loads files", "[jwt]") {
  TempDir dir;
  write_private(dir.file("secret"), kTestSecret + "\n");
  AuthConfig cfg;
  CHECK_FALSE(JwtVerifier::from_config(cfg));  // nothing configured
  cfg.hs256_secret_file = dir.file("secret");
  auto v = JwtVerifier::from_config(cfg);
  REQUIRE(v);
  CHECK(v->verify(mint(good_claims())));
  cfg.rs256_public_keys = {dir.file("missing.pem")};
  CHECK_FALSE(JwtVerifier::from_config(cfg));

  Pkey rsa(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048)));
  Pkey ec(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  write_text(dir.file("rs.pem"), public_pem(rsa.p));
  write_text(dir.file("es.pem"), public_pem(ec.p));
  AuthConfig pem_only;
  pem_only.rs256_public_keys = {dir.file("rs.pem")};
  pem_only.es256_public_keys = {dir.file("es.pem")};
  auto w = JwtVerifier::from_config(pem_only);
  REQUIRE(w);
  auto claims = good_claims();
  CHECK(w->verify(token_with({{"alg", "RS256"}}, claims, [&](const std::string& in) { return sign_der(rsa.p, in); })));
  CHECK(w->verify(
      token_with({{"alg", "ES256"}}, claims, [&](const std::string& in) { return der_to_raw(sign_der(ec.p, in)); })));
  CHECK_FALSE(w->verify(mint(claims)));               // no HS256 secret configured: HS256 tokens are refused
  pem_only.es256_public_keys = {dir.file("rs.pem")};  // an RSA key where an EC key belongs
  CHECK_FALSE(JwtVerifier::from_config(pem_only));
}
