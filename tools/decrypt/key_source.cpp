#include "key_source.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "recvault/sys/fd.hpp"

namespace recvault::tools {
namespace {

constexpr std::size_t kMaxSecretFile = 1 << 20;

Result<crypto::SecretBytes> read_secret_file(const std::string& path) {
  sys::UniqueFd owned;
  int fd = STDIN_FILENO;
  if (path != "-") {
    owned.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!owned.valid()) {
      int e = errno;
      return sys_error("open " + path, e);
    }
    fd = owned.get();
  }
  crypto::SecretBytes out;
  std::uint8_t buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      crypto::secure_wipe(buf, sizeof buf);
      return sys_error("read " + path, e);
    }
    if (n == 0) break;
    out.append(std::span<const std::uint8_t>(buf, static_cast<std::size_t>(n)));
    if (out.size() > kMaxSecretFile) {
      crypto::secure_wipe(buf, sizeof buf);
      return make_error(Errc::invalid_argument, path + " is too large for a key or config file");
    }
  }
  crypto::secure_wipe(buf, sizeof buf);
  return out;
}

// Overwrites every string value in `j` (recursively) before it is freed.
void wipe_strings(nlohmann::json& j) {
  if (j.is_string()) {
    auto& s = j.get_ref<std::string&>();
    crypto::secure_wipe(s.data(), s.size());
  } else if (j.is_structured()) {
    for (auto& v : j) wipe_strings(v);
  }
}

struct JsonWiper {
  nlohmann::json& j;
  ~JsonWiper() { wipe_strings(j); }
};

std::optional<std::uint32_t> parse_version(std::string_view s) {
  if (s.empty() || s.size() > 9) return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return v;
}

Error bad_config(const std::string& what) { return make_error(Errc::invalid_argument, "config: " + what); }

// Derived version keys, cached: scrypt costs tens of milliseconds and a
// decrypt opens the file twice (verify, then output).
class KeyCache {
 public:
  Result<format::VersionKeyPtr> get(std::uint32_t version, const crypto::SecretBytes& key, const std::string& salt,
                                    crypto::ScryptParams params) {
    auto id = std::make_tuple(version, salt, params.log2_n, params.r, params.p);
    if (auto it = cache_.find(id); it != cache_.end()) return it->second;
    RV_ASSIGN(auto derived, format::VersionKey::derive(key.view(), salt, params));
    auto ptr = std::make_shared<const format::VersionKey>(std::move(derived));
    cache_.emplace(id, ptr);
    return ptr;
  }

 private:
  std::map<std::tuple<std::uint32_t, std::string, int, int, int>, format::VersionKeyPtr> cache_;
};

}  // namespace

Result<crypto::SecretBytes> read_key_file(const std::string& path) {
  auto text = read_secret_file(path);
  if (!text) return text;
  crypto::SecretBytes key = std::move(text).value();
  std::size_t n = key.size();
  if (n > 0 && key.data()[n - 1] == '\n') {
    --n;
    if (n > 0 && key.data()[n - 1] == '\r') --n;
  }
  if (n == 0) return make_error(Errc::invalid_argument, "key file " + path + " is empty");
  crypto::SecretBytes trimmed = key.slice(0, n);
  return trimmed;
}

Result<KeyConfig> KeyConfig::load(const std::string& path) {
  RV_ASSIGN(auto text, read_secret_file(path));
  auto cfg = parse(text);
  if (!cfg) return make_error(cfg.error().code, path + ": " + cfg.error().message);
  return cfg;
}

Result<KeyConfig> KeyConfig::parse(const crypto::SecretBytes& text) {
  // Non-throwing parse: nlohmann's error messages quote the input, which may
  // be a key.
  nlohmann::json doc = nlohmann::json::parse(text.view().begin(), text.view().end(), nullptr, false);
  JsonWiper wiper{doc};
  if (doc.is_discarded() || !doc.is_object()) return bad_config("not a JSON object");
  if (auto m = doc.find("keys_masked"); m != doc.end() && m->is_boolean() && m->get<bool>())
    return bad_config(
        "its keys are masked (the config was read with a read-scope token); export it with an admin token");
  const nlohmann::json* cfg = &doc;
  if (auto it = doc.find("config"); it != doc.end()) {
    if (!it->is_object()) return bad_config("\"config\" is not an object");
    cfg = &*it;
  }
  KeyConfig out;
  auto text_field = [](const nlohmann::json& obj, const char* name) -> const std::string* {
    auto it = obj.find(name);
    return it != obj.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
  };

  if (auto hk = cfg->find("historical_keys"); hk != cfg->end() && !hk->is_null()) {
    if (!hk->is_object()) return bad_config("\"historical_keys\" is not an object");
    for (auto it = hk->begin(); it != hk->end(); ++it) {
      auto v = parse_version(it.key());
      if (!v || !it->is_string()) return bad_config("historical_keys entry \"" + it.key() + "\" is malformed");
      out.versions_[*v].key = crypto::SecretBytes::from_view(it->get_ref<const std::string&>());
    }
  }
  if (auto hs = cfg->find("historical_salts"); hs != cfg->end() && !hs->is_null()) {
    if (!hs->is_object()) return bad_config("\"historical_salts\" is not an object");
    for (auto it = hs->begin(); it != hs->end(); ++it) {
      auto v = parse_version(it.key());
      if (!v || !it->is_string()) return bad_config("historical_salts entry \"" + it.key() + "\" is malformed");
      auto entry = out.versions_.find(*v);
      if (entry != out.versions_.end()) entry->second.salt = it->get<std::string>();
    }
  }
  const std::string* key = text_field(*cfg, "key");
  if (key != nullptr) {
    auto kv = cfg->find("key_version");
    if (kv == cfg->end() || !kv->is_number_unsigned() || kv->get<std::uint64_t>() > 0xffffffffu) {
      return bad_config("\"key\" is present but \"key_version\" is missing or not a version number");
    }
    VersionEntry& current = out.versions_[kv->get<std::uint32_t>()];
    current.key = crypto::SecretBytes::from_view(*key);
    if (const std::string* salt = text_field(*cfg, "salt")) current.salt = *salt;
  }
  std::erase_if(out.versions_, [](const auto& e) { return e.second.key.empty(); });
  if (out.versions_.empty()) return bad_config("no keys (neither \"key\" nor \"historical_keys\")");
  return out;
}

const VersionEntry* KeyConfig::find(std::uint32_t version) const {
  auto it = versions_.find(version);
  return it == versions_.end() ? nullptr : &it->second;
}

std::string KeyConfig::versions() const {
  std::string s;
  for (const auto& [v, entry] : versions_) s += (s.empty() ? "" : ", ") + std::to_string(v);
  return s;
}

format::KeyResolver fixed_resolver(std::shared_ptr<const crypto::SecretBytes> key, std::optional<std::string> salt,
                                   std::shared_ptr<ResolveNotes> notes) {
  auto cache = std::make_shared<KeyCache>();
  return [key, salt, notes, cache](const format::Header& h) -> Result<format::VersionKeyPtr> {
    if (salt && *salt != h.salt) notes->hint = "--salt differs from the salt recorded in the file's header";
    return cache->get(h.key_version, *key, salt.value_or(h.salt), h.kdf);
  };
}

format::KeyResolver config_resolver(std::shared_ptr<const KeyConfig> config, std::optional<std::string> salt,
                                    std::shared_ptr<ResolveNotes> notes) {
  auto cache = std::make_shared<KeyCache>();
  return [config, salt, notes, cache](const format::Header& h) -> Result<format::VersionKeyPtr> {
    const VersionEntry* entry = config->find(h.key_version);
    if (entry == nullptr) {
      return make_error(Errc::key_unavailable, "key_version " + std::to_string(h.key_version) +
                                                   " is not in the config (it has " + config->versions() + ")");
    }
    std::string use = salt ? *salt : entry->salt.value_or(h.salt);
    if (use != h.salt) {
      notes->hint =
          std::string(salt ? "--salt" : "the config's salt for key_version " + std::to_string(h.key_version)) +
          " differs from the salt recorded in the file's header";
    }
    return cache->get(h.key_version, entry->key, use, h.kdf);
  };
}

}  // namespace recvault::tools
