// recvault-fsck: checks the backing files of one account or of a whole
// backing dir offline, and with --seal seals recordings a crash left open.
//
// Exit status (bits, like fsck(8)):
//   0  every file is sealed or plain (or being written by a live writer
//      that holds its lock: shared storage)
//   1  unterminated files were found and sealed (--seal)
//   2  unterminated files remain (run again with --seal)
//   4  damaged files: tampered, truncated, wrong key, no key, unreadable
//   8  operational error: bad arguments, keystore not usable, dir in use
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <iostream>
#include <map>

#include "fsck.hpp"
#include "recvault/daemon/config.hpp"
#include "recvault/keystore/key_cache.hpp"
#include "recvault/keystore/master_key.hpp"
#include "recvault/keystore/store.hpp"
#include "recvault/util/version.hpp"

using namespace recvault;

namespace {

constexpr int kSealed = 1, kUnterminated = 2, kDamaged = 4, kOperational = 8;

int fail(const std::string& message) {
  std::cerr << "recvault-fsck: " << message << "\n";
  return kOperational;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"recvault-fsck - offline check of recvault backing files; seals recordings left open by a crash"};
  std::string config_path, keystore_dir, account, dir;
  keystore::MasterKeySource master_source;
  bool seal = false, json = false, force = false, quiet = false;
  app.add_option("dir", dir, "backing dir (each subdirectory an account), or one account's dir with --account");
  app.add_option("-c,--config", config_path, "recvault.toml: takes the keystore, master key and backing dir from it");
  app.add_option("--keystore", keystore_dir, "keystore directory (opened read-only)");
  app.add_option("--master-key", master_source.file, "master key file of the keystore")
      ->excludes(app.add_option("--credential", master_source.credential, "systemd credential holding the master key"));
  app.add_option("--account", account, "DIR is this account's directory");
  app.add_flag("--seal", seal, "seal unterminated recordings (drops a torn last chunk); the daemon must be stopped");
  app.add_flag("--force", force, "--seal even though a process holds the directory (dangerous)");
  app.add_flag("--json", json, "machine-readable report on stdout");
  app.add_flag("-q,--quiet", quiet, "list only files that are not sealed or plain");
  app.set_version_flag("--version", std::string("recvault-fsck ") + recvault::version());
  CLI11_PARSE(app, argc, argv);

  bool shared = false;
  if (!config_path.empty()) {
    auto cfg = daemon::load_config_file(config_path);
    if (!cfg) return fail(cfg.error().message);
    shared = cfg->shared;
    if (keystore_dir.empty()) keystore_dir = cfg->keystore_dir.string();
    master_source = master_source.or_else({cfg->master_key_file, cfg->master_key_credential});
    if (dir.empty()) dir = cfg->backing_dir.string();
  }
  if (dir.empty()) return fail("give a directory to check, or --config");
  if (keystore_dir.empty()) return fail("give --keystore DIR and --master-key FILE, or --config");
  auto master = master_source.load();
  if (!master) return fail("master key: " + master.error().message);
  keystore::StoreOptions so;
  so.read_only = true;
  auto store = keystore::Store::open(keystore_dir, std::move(master).value(), so);
  if (!store) return fail("keystore " + keystore_dir + ": " + store.error().message);
  keystore::KeyCacheOptions key_options;
  key_options.prefetch_threads = 0;
  keystore::KeyCache keys(**store, key_options);

  // Shared storage: the daemons lock what they write and fsck honours the
  // locks (a file being written is reported as `writing` and left alone), so
  // daemons may serve the directory meanwhile.
  if (auto users = shared ? std::vector<pid_t>{} : fsck::in_use(dir); !users.empty()) {
    std::string pids;
    for (pid_t p : users) pids += (pids.empty() ? "" : ", ") + std::to_string(p);
    if (seal && !force) {
      return fail(dir + " is in use by process " + pids +
                  " (a running recvaultd?): stop the daemon before --seal, or it may overwrite what fsck writes");
    }
    std::cerr << "recvault-fsck: warning: " << dir << " is in use by process " << pids
              << "; files being recorded show as unterminated\n";
  }

  fsck::Options options;
  options.seal = seal;
  // Encrypted names: the version key of the name's version, by the salt the
  // keystore holds for it (names record their version, not their salt).
  std::map<std::pair<std::string, std::uint32_t>, std::shared_ptr<const format::NameKey>> name_keys;
  options.name_key = [&](const std::string& acct,
                         std::uint32_t version) -> Result<std::shared_ptr<const format::NameKey>> {
    if (auto it = name_keys.find({acct, version}); it != name_keys.end()) return it->second;
    auto kv = (*store)->get_version(acct, version);
    RV_TRY(kv);
    auto vk = keys.version_key(acct, version, kv->salt);
    RV_TRY(vk);
    auto nk = format::NameKey::derive(**vk, version);
    RV_TRY(nk);
    auto shared = std::make_shared<const format::NameKey>(std::move(nk).value());
    name_keys.emplace(std::make_pair(acct, version), shared);
    return shared;
  };
  auto reports = fsck::check_tree(
      dir, account,
      [&keys](const std::string& acct) -> format::KeyResolver {
        return [&keys, acct](const format::Header& h) { return keys.version_key(acct, h.key_version, h.salt); };
      },
      options);
  if (!reports) return fail(reports.error().message);

  int code = 0;
  std::map<std::string, std::size_t> counts;
  nlohmann::json files = nlohmann::json::array();
  for (const auto& r : *reports) {
    ++counts[fsck::status_name(r.status)];
    if (r.sealed_now) code |= kSealed;
    if (r.status == fsck::Status::unterminated || r.status == fsck::Status::torn_tail) code |= kUnterminated;
    if (fsck::is_damage(r.status)) code |= kDamaged;
    const bool clean = (r.status == fsck::Status::sealed || r.status == fsck::Status::plain ||
                        (r.status == fsck::Status::openpgp && r.detail.empty())) &&
                       !r.sealed_now;
    if (json) {
      nlohmann::json f = {{"path", r.path.string()},   {"account", r.account}, {"status", fsck::status_name(r.status)},
                          {"size", r.plaintext_size},  {"chunks", r.chunks},   {"holes", r.holes},
                          {"sealed_now", r.sealed_now}};
      if (!r.detail.empty()) f["detail"] = r.detail;
      if (r.shown_path != r.path) f["name"] = r.shown_path.string();
      files.push_back(std::move(f));
    } else if (!quiet || !clean) {
      std::cout << fsck::status_name(r.status) << (r.sealed_now ? " (sealed now)" : "") << "\t" << r.path.string()
                << "\t" << r.plaintext_size << " bytes" << (r.detail.empty() ? "" : "\t" + r.detail)
                << (r.shown_path != r.path ? "\tname=" + r.shown_path.string() : "") << "\n";
    }
  }
  if (json) {
    nlohmann::json out = {{"files", files}, {"summary", counts}, {"exit_code", code}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << reports->size() << " file(s):";
    for (const auto& [name, n] : counts) std::cout << " " << n << " " << name;
    std::cout << "\n";
  }
  return code;
}
