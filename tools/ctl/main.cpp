// recvaultctl: the command-line client of the recvault control API.
// Usage and exit codes: docs/API.md ("recvaultctl").
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "client.hpp"
#include "job_view.hpp"
#include "recvault/control/jwt.hpp"
#include "recvault/crypto/primitives.hpp"
#include "recvault/util/encoding.hpp"
#include "recvault/util/version.hpp"
#include "status_view.hpp"

namespace recvault::ctl {
namespace {

using nlohmann::json;
constexpr const char* kConfigPath = "/api/v2/config/call_recording_encryption";
constexpr const char* kKeysPath = "/v3/security/public-keys";

struct Options {
  std::string socket = "/run/recvault/control.sock";
  std::string account;
  std::string token;
  std::string token_file;
  bool json = false;
  bool show_secrets = false;
};

struct Failure {
  Exit exit;
  std::string message;
};

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string read_file_or_stdin(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Failure{kLocalError, "cannot read " + path};
  ss << in.rdbuf();
  return ss.str();
}

std::string token_of(const Options& o) {
  std::string t = o.token;
  if (t.empty() && !o.token_file.empty()) t = read_file_or_stdin(o.token_file);
  if (t.empty()) t = env_or("RECVAULT_TOKEN", "");
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
  if (t.empty()) throw Failure{kUsage, "no token: use --token, --token-file or RECVAULT_TOKEN"};
  return t;
}

HttpReply request(const Options& o, Call call, bool needs_account) {
  call.headers.push_back("Authorization: Bearer " + token_of(o));
  if (needs_account) {
    if (o.account.empty()) throw Failure{kUsage, "no account: use --account/-a or RECVAULT_ACCOUNT"};
    call.headers.push_back("X-Account-ID: " + o.account);
  }
  auto [reply, error] = perform(o.socket, call);
  if (error) throw Failure{error->exit, error->message};
  if (reply->status >= 400) {
    std::string message = "HTTP " + std::to_string(reply->status);
    auto j = json::parse(reply->body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("message") && j["message"].is_string())
      message += ": " + j["message"].get<std::string>();
    if (o.json) std::cout << reply->body;
    throw Failure{kServerError, "server refused: " + message};
  }
  return *reply;
}

json parse_json(const HttpReply& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) throw Failure{kLocalError, "the server's reply is not JSON"};
  return j;
}

std::string secret(const Options& o, const json& v) {
  if (!v.is_string()) return "-";
  return o.show_secrets ? v.get<std::string>() : std::string("******** (--show-secrets to see)");
}

void print_config(const Options& o, const json& reply) {
  if (o.json) {
    std::cout << reply.dump(2) << "\n";
    return;
  }
  if (reply.contains("message")) std::cout << reply["message"].get<std::string>() << "\n";
  const json& c = reply["config"];
  if (c.empty()) {
    std::cout << "account " << o.account << ": encryption never configured\n";
    return;
  }
  const bool masked = reply.value("keys_masked", false);
  auto key_line = [&](const json& v) {
    return masked ? std::string("(masked: this token's scope does not see keys; use an admin token)") : secret(o, v);
  };
  auto field = [&](const char* name) { return c.contains(name) ? c[name].dump() : std::string("-"); };
  std::cout << "account:        " << o.account << "\n"
            << "enabled:        " << field("enabled") << "\n"
            << "algorithm:      " << c.value("algorithm", "-") << "\n"
            << "key_version:    " << field("key_version") << "\n"
            << "key_id:         " << c.value("key_id", "-") << "\n"
            << "key:            " << key_line(c.value("key", json())) << "\n"
            << "salt:           " << secret(o, c.value("salt", json())) << "\n"
            << "history:        " << (c.contains("historical_keys") ? c["historical_keys"].size() : 0)
            << " earlier version(s)" << (masked ? " (keys masked)" : "") << "\n";
  if (c.contains("public_key_id")) std::cout << "public_key_id:  " << c["public_key_id"].get<std::string>() << "\n";
  if (c.value("name_encryption", false)) std::cout << "name_encryption: true\n";
  for (const char* f : {"min_decryption_version", "legal_hold", "destroyed_versions", "scheduled_destruction"})
    if (c.contains(f)) std::printf("%-15s %s\n", (std::string(f) + ":").c_str(), c[f].dump().c_str());
}

json put_config(const Options& o, const json& body) {
  return parse_json(request(o, {"PUT", kConfigPath, {"Content-Type: application/json"}, body.dump()}, true));
}

std::string random_hex(std::size_t n) {
  std::vector<std::uint8_t> b(n);
  if (!crypto::random_bytes(b)) throw Failure{kLocalError, "the CSPRNG failed"};
  auto s = hex_encode(b);
  crypto::secure_wipe(b.data(), b.size());
  return s;
}
std::string random_b64(std::size_t n) {
  std::vector<std::uint8_t> b(n);
  if (!crypto::random_bytes(b)) throw Failure{kLocalError, "the CSPRNG failed"};
  return base64_encode(b);
}

// Option storage of the subcommands; lives in run() for the whole parse.
struct ConfigArgs {
  bool enabled = true;
  std::string algorithm, key, key_file, salt, public_key_id;
  bool name_encryption = false;
};
struct KeyArgs {
  std::string file, id;
};
struct MintArgs {
  std::string secret_file, sub, accounts, scope = "read", issuer;
  std::vector<std::string> audience;
  long ttl = 3600;
};
using Action = std::function<void()>;

void add_config_commands(CLI::App& app, const Options& o, ConfigArgs& a, Action& action) {
  auto* config = app.add_subcommand("config", "per-account encryption configuration")->require_subcommand(1);
  config->add_subcommand("get", "show the configuration")->callback([&] {
    action = [&] { print_config(o, parse_json(request(o, {"GET", kConfigPath, {}, {}}, true))); };
  });
  auto* set = config->add_subcommand("set", "update the configuration (PUT)");
  set->add_option("--enabled", a.enabled, "true or false");
  set->add_option("--algorithm", a.algorithm, "AES-256-GCM or AES-256-CBC");
  auto* key_opt = set->add_option("--key", a.key, "key text (>= 32 characters); prefer --key-file");
  set->add_option("--key-file", a.key_file, "file holding the key text ('-' = stdin)")->excludes(key_opt);
  set->add_option("--salt", a.salt, "salt (not \"default_salt\")");
  set->add_option("--public-key-id", a.public_key_id, "seal new recordings to this uploaded OpenPGP key (\"\" clears)");
  set->add_option("--name-encryption", a.name_encryption,
                  "true: store new file and directory names encrypted (recommended for PHI); false: in clear");
  set->callback([&, set] {
    action = [&, set] {
      json body = {{"enabled", a.enabled}};
      if (!a.algorithm.empty()) body["algorithm"] = a.algorithm;
      std::string key = a.key;
      if (!a.key_file.empty()) {
        key = read_file_or_stdin(a.key_file);
        while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
      }
      if (!key.empty()) body["key"] = key;
      if (!a.salt.empty()) body["salt"] = a.salt;
      if (set->count("--public-key-id") > 0) body["public_key_id"] = a.public_key_id;
      if (set->count("--name-encryption") > 0) body["name_encryption"] = a.name_encryption;
      print_config(o, put_config(o, body));
    };
  });
  config->add_subcommand("enable", "enable encryption (keys are generated on first use, kept afterwards)")
      ->callback([&] { action = [&] {
                         print_config(o, put_config(o, {{"enabled", true}}));
                       }; });
  config->add_subcommand("disable", "disable encryption for new recordings (keys are kept)")->callback([&] {
    action = [&] { print_config(o, put_config(o, {{"enabled", false}})); };
  });
  config->add_subcommand("rotate", "new random key and salt (made here from the CSPRNG); old ones move to history")
      ->callback([&] {
        action = [&] {
          auto current = parse_json(request(o, {"GET", kConfigPath, {}, {}}, true))["config"];
          if (current.empty())
            throw Failure{kServerError, "account " + o.account + " is not configured; use 'config enable'"};
          json body = {{"enabled", current.value("enabled", true)}, {"key", random_hex(32)}, {"salt", random_b64(16)}};
          if (current.contains("algorithm")) body["algorithm"] = current["algorithm"];
          print_config(o, put_config(o, body));
        };
      });
}

void add_key_commands(CLI::App& app, const Options& o, KeyArgs& a, Action& action) {
  auto* keys = app.add_subcommand("keys", "client-supplied OpenPGP public keys")->require_subcommand(1);
  auto* upload = keys->add_subcommand("upload", "upload an ASCII-armored public key");
  upload->add_option("file", a.file, "key file ('-' = stdin)")->required();
  upload->callback([&] {
    action = [&] {
      auto r = parse_json(request(
          o, {"POST", kKeysPath, {"Content-Type: application/octet-stream"}, read_file_or_stdin(a.file)}, true));
      if (o.json)
        std::cout << r.dump(2) << "\n";
      else
        std::cout << r.value("publicKeyId", "") << "\n";
    };
  });
  keys->add_subcommand("list", "list the account's public keys")->callback([&] {
    action = [&] {
      auto r = parse_json(request(o, {"GET", kKeysPath, {}, {}}, true));
      if (o.json) {
        std::cout << r.dump(2) << "\n";
        return;
      }
      for (const auto& k : r["publicKeys"]) {
        std::string href = k.value("href", "");
        std::cout << href.substr(href.rfind('/') + 1) << "\n";
      }
    };
  });
  auto* show = keys->add_subcommand("show", "print a public key exactly as uploaded");
  show->add_option("id", a.id, "publicKeyId")->required();
  show->callback([&] {
    action = [&] { std::cout << request(o, {"GET", std::string(kKeysPath) + "/" + a.id, {}, {}}, true).body; };
  });
  auto* del = keys->add_subcommand("delete", "delete a public key (refused while a config uses it)");
  del->add_option("id", a.id, "publicKeyId")->required();
  del->callback([&] {
    action = [&] {
      auto r = parse_json(request(o, {"DELETE", std::string(kKeysPath) + "/" + a.id, {}, {}}, true));
      if (o.json)
        std::cout << r.dump(2) << "\n";
      else
        std::cout << r.value("message", "deleted") << "\n";
    };
  });
}

void mint_token(const MintArgs& a) {
  auto secret = control::read_hs256_secret_file(a.secret_file);
  if (!secret) throw Failure{kLocalError, secret.error().message};
  json accounts = json::array();
  if (a.accounts == "*") {
    accounts = "*";
  } else {
    std::stringstream ss(a.accounts);
    for (std::string acc; std::getline(ss, acc, ',');)
      if (!acc.empty()) accounts.push_back(acc);
  }
  auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  // iat is always set: the daemon then checks exp - iat against its
  // max_token_lifetime once, not the remaining life at each use.
  json claims = {{"sub", a.sub}, {"accounts", accounts}, {"scope", a.scope}, {"iat", now}, {"exp", now + a.ttl}};
  if (!a.issuer.empty()) claims["iss"] = a.issuer;
  if (a.audience.size() == 1)
    claims["aud"] = a.audience.front();
  else if (!a.audience.empty())
    claims["aud"] = a.audience;
  auto t = control::mint_hs256(*secret, claims);
  if (!t) throw Failure{kLocalError, t.error().message};
  std::cout << *t << "\n";
}

void add_token_commands(CLI::App& app, MintArgs& a, Action& action) {
  auto* token = app.add_subcommand("token", "JWTs")->require_subcommand(1);
  auto* mint = token->add_subcommand("mint", "mint an HS256 token (needs the server's secret file)");
  mint->add_option("--secret-file", a.secret_file, "HS256 secret file")->required();
  mint->add_option("--sub", a.sub, "subject (who)")->required();
  mint->add_option("--accounts", a.accounts, "comma-separated account ids, or *")->required();
  mint->add_option("--scope", a.scope, "read or admin")->check(CLI::IsMember({"read", "admin"}));
  mint->add_option("--ttl", a.ttl,
                   "lifetime in seconds; the daemon refuses tokens living longer than its "
                   "[control] max_token_lifetime (default 86400)")
      ->check(CLI::Range(1L, 366L * 24 * 3600));
  mint->add_option("--iss", a.issuer, "issuer claim (needed when the daemon sets [control] jwt_issuer)");
  mint->add_option("--aud", a.audience,
                   "audience claim, repeatable (needed when the daemon sets [control] jwt_audience)");
  mint->callback([&] { action = [&] { mint_token(a); }; });
}

struct LifecycleArgs {
  std::uint32_t version = 0;
  bool force = false;
  std::string hold, what;
  std::uint32_t below = 0;
  double mb_per_s = 0;
  bool wait = false, cancel = false;
};

// The account's job (GET .../jobs); null when there was none.
json current_job(const Options& o) {
  auto r = parse_json(request(o, {"GET", std::string(kConfigPath) + "/jobs", {}, {}}, true));
  const json jobs = r.value("jobs", json::array());
  return jobs.empty() ? json() : jobs[0];
}

// Follows the job until it ends: a bar redrawn in place on a terminal, a
// line every few seconds otherwise. Exit 1 when it did not finish cleanly.
void wait_for_job(const Options& o) {
  const bool tty = ::isatty(STDOUT_FILENO) == 1 && !o.json;
  auto last_line = std::chrono::steady_clock::time_point{};
  for (;;) {
    const json job = current_job(o);
    if (job.is_null()) throw Failure{kServerError, "the daemon has no job for this account"};
    const bool running = job.value("state", "") == "running";
    if (tty) {
      std::cout << "\r" << format_job_progress(job, true) << "\x1b[K" << std::flush;
    } else if (!o.json && (!running || std::chrono::steady_clock::now() - last_line >= std::chrono::seconds(5))) {
      std::cout << format_job_progress(job, false) << "\n" << std::flush;
      last_line = std::chrono::steady_clock::now();
    }
    if (!running) {
      if (tty) std::cout << "\n";
      std::cout << (o.json ? job.dump(2) : format_job_summary(job)) << "\n";
      if (job.value("state", "") != "finished" || job.value("errors", 0) > 0)
        throw Failure{kServerError, "the re-encryption did not finish cleanly"};
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

void print_census(const Options& o, const json& reply) {
  if (o.json) {
    std::cout << reply.dump(2) << "\n";
    return;
  }
  const json& c = reply["census"];
  auto line = [](const std::string& label, const json& n) {
    std::printf("  %-16s %10llu recordings %16llu bytes\n", label.c_str(),
                static_cast<unsigned long long>(n.value("recordings", 0ULL)),
                static_cast<unsigned long long>(n.value("bytes", 0ULL)));
  };
  std::cout << "account " << c.value("account", o.account) << ": key_version " << c.value("key_version", json()).dump()
            << ", min_decryption_version " << c.value("min_decryption_version", 0) << "\n";
  line("total", c);
  std::cout << " by key version:\n";
  for (const auto& [v, n] : c["versions"].items()) line("v" + v, n);
  std::cout << " by kind:\n";
  for (const auto& [k, n] : c["kinds"].items()) line(k, n);
}

void print_lifecycle(const Options& o, const json& reply) {
  if (o.json) {
    std::cout << reply.dump(2) << "\n";
    return;
  }
  std::cout << reply.value("message", "") << "\n";
  const json& l = reply["lifecycle"];
  std::cout << "legal_hold:             " << l.value("legal_hold", false) << "\n"
            << "min_decryption_version: " << l.value("min_decryption_version", 0) << "\n"
            << "destroyed_versions:     " << l.value("destroyed_versions", json::array()).dump() << "\n"
            << "scheduled_destruction:  " << l.value("scheduled_destruction", json()).dump() << "\n";
}

// The key lifecycle (docs/API.md "Key lifecycle").
void add_lifecycle_commands(CLI::App& app, const Options& o, LifecycleArgs& a, Action& action) {
  app.add_subcommand("census", "recordings and bytes per key version and kind")->callback([&] {
    action = [&] {
      print_census(o, parse_json(request(o, {"GET", std::string(kConfigPath) + "/census", {}, {}}, true)));
    };
  });
  auto* retire = app.add_subcommand("retire", "set min_decryption_version: older recordings are refused");
  retire->add_option("version", a.version, "the lowest key version still readable")->required();
  retire->add_flag("--force", a.force, "even though the census finds recordings below it (they become unreadable)");
  retire->callback([&] {
    action = [&] {
      auto current = parse_json(request(o, {"GET", kConfigPath, {}, {}}, true))["config"];
      json body = {{"enabled", current.value("enabled", true)}, {"min_decryption_version", a.version}};
      if (a.force) body["force"] = true;
      print_config(o, put_config(o, body));
    };
  });
  auto* hold = app.add_subcommand("hold", "legal hold: while on, no key of the account can be destroyed");
  hold->add_option("state", a.hold, "on or off")->required()->check(CLI::IsMember({"on", "off"}));
  hold->callback([&] {
    action = [&] {
      json body = {{"legal_hold", a.hold == "on"}};
      print_lifecycle(
          o, parse_json(request(
                 o, {"PUT", std::string(kConfigPath) + "/legal_hold", {"Content-Type: application/json"}, body.dump()},
                 true)));
    };
  });
  auto* reencrypt =
      app.add_subcommand("reencrypt", "rewrite older recordings under the current key (a background job)");
  reencrypt->add_option("--below", a.below, "versions below this one (default: the current version)");
  reencrypt->add_option("--mb-per-s", a.mb_per_s, "this job's throttle (default: the daemon's reencrypt_mb_per_s)");
  reencrypt->add_flag("--wait", a.wait, "follow the job until it ends (a progress bar on a terminal)");
  reencrypt->add_flag("--cancel", a.cancel, "cancel the account's running job");
  reencrypt->callback([&] {
    action = [&] {
      const std::string path = std::string(kConfigPath) + "/reencrypt";
      if (a.cancel) {
        auto r = parse_json(request(o, {"DELETE", path, {}, {}}, true));
        std::cout << (o.json ? r.dump(2) : r.value("message", std::string())) << "\n";
        return;
      }
      json body = json::object();
      if (a.below > 0) body["below_version"] = a.below;
      if (a.mb_per_s > 0) body["mb_per_s"] = a.mb_per_s;
      auto r = parse_json(request(o, {"POST", path, {"Content-Type: application/json"}, body.dump()}, true));
      if (!a.wait) {
        std::cout << (o.json ? r.dump(2)
                             : r.value("message", std::string()) + " (job " + r["job"].value("id", "") + ")")
                  << "\n";
        return;
      }
      wait_for_job(o);
    };
  });
  auto* jobs = app.add_subcommand("jobs", "the account's re-encryption job and its progress");
  jobs->add_flag("--wait", a.wait, "follow the running job until it ends");
  jobs->callback([&] {
    action = [&] {
      if (a.wait) return wait_for_job(o);
      const json job = current_job(o);
      if (o.json) {
        std::cout << (job.is_null() ? json::array() : json::array({job})).dump(2) << "\n";
      } else if (job.is_null()) {
        std::cout << "no re-encryption job\n";
      } else {
        std::cout << (job.value("state", "") == "running" ? format_job_progress(job, false) : format_job_summary(job))
                  << "\n";
      }
    };
  });
  auto* destroy = app.add_subcommand("destroy", "schedule (or cancel) the destruction of keys: crypto-shredding");
  destroy->add_option("what", a.what, "versions (below min_decryption_version), account (every key), or cancel")
      ->required()
      ->check(CLI::IsMember({"versions", "account", "cancel"}));
  destroy->callback([&] {
    action = [&] {
      const std::string sub = a.what == "versions" ? "/versions" : a.what == "account" ? "/keys" : "/destruction";
      print_lifecycle(o, parse_json(request(o, {"DELETE", std::string(kConfigPath) + sub, {}, {}}, true)));
    };
  });
}

int run(int argc, char** argv) {
  Options o;
  o.socket = env_or("RECVAULT_SOCKET", o.socket);
  o.account = env_or("RECVAULT_ACCOUNT", "");
  CLI::App app{"recvaultctl: manage recvault encryption keys over the control socket"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("recvaultctl ") + recvault::version());
  app.fallthrough();  // global options may follow the subcommand
  app.option_defaults()->always_capture_default();
  app.add_option("--socket", o.socket, "control socket (env RECVAULT_SOCKET)");
  app.add_option("-a,--account", o.account, "account id, sent as X-Account-ID (env RECVAULT_ACCOUNT)");
  auto* tok = app.add_option("--token", o.token, "bearer JWT (env RECVAULT_TOKEN)");
  app.add_option("--token-file", o.token_file, "file holding the bearer JWT")->excludes(tok);
  app.add_flag("--json", o.json, "print the server's raw JSON");
  app.add_flag("--show-secrets", o.show_secrets, "print keys and salts in human output");

  Action action;
  ConfigArgs config_args;
  KeyArgs key_args;
  MintArgs mint_args;
  add_config_commands(app, o, config_args, action);
  add_key_commands(app, o, key_args, action);
  add_token_commands(app, mint_args, action);
  LifecycleArgs lifecycle_args;
  add_lifecycle_commands(app, o, lifecycle_args, action);
  app.add_subcommand("status", "the daemon at a glance (--json: the GET /v1/status object)")->callback([&] {
    action = [&] {
      auto r = parse_json(request(o, {"GET", "/v1/status", {}, {}}, false));
      const json& status = r.contains("status") ? r["status"] : r;
      if (o.json)
        std::cout << status.dump(2) << "\n";
      else
        std::cout << ctl::format_status(status);
    };
  });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  if (!action) return kUsage;
  try {
    action();
  } catch (const Failure& f) {
    std::cerr << "recvaultctl: " << f.message << "\n";
    return f.exit;
  } catch (const std::exception& e) {
    std::cerr << "recvaultctl: " << e.what() << "\n";
    return kLocalError;
  }
  return kOk;
}

}  // namespace
}  // namespace recvault::ctl

int main(int argc, char** argv) { return recvault::ctl::run(argc, argv); }
