// recvault-keystore: operator tool for the keystore (backup, restore, check,
// dump-config, init-master-key). Never prints key material unless asked with
// dump-config --show-keys.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "recvault/util/version.hpp"
#include "recvault/keystore/master_key.hpp"
#include "recvault/keystore/store.hpp"

namespace ks = recvault::keystore;

namespace {

using MasterSource = ks::MasterKeySource;

int fail(const recvault::Error& e) {
  std::cerr << "recvault-keystore: " << e.message << "\n";
  return 1;
}

recvault::Result<std::unique_ptr<ks::Store>> open_store(const std::string& dir, const MasterSource& m) {
  auto master = m.load();
  RV_TRY(master);
  ks::StoreOptions o;
  o.read_only = true;
  return ks::Store::open(dir, std::move(master).value(), o);
}

void add_master_options(CLI::App* cmd, MasterSource& m) {
  auto* f = cmd->add_option("--master-key", m.file, "master key file (0600, 32 raw bytes or 64 hex)");
  auto* c = cmd->add_option("--credential", m.credential, "systemd credential name holding the master key");
  f->excludes(c);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"recvault keystore maintenance"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("recvault-keystore ") + recvault::version());
  MasterSource master;
  std::string store_dir, out, backup_file, account;
  bool force = false, show_keys = false;

  auto* backup = app.add_subcommand("backup", "consistent online copy of a keystore into a new file");
  backup->add_option("--store", store_dir, "keystore directory")->required();
  backup->add_option("output", out, "backup file to create (must not exist)")->required();
  add_master_options(backup, master);

  auto* restore = app.add_subcommand("restore", "restore a backup file into a keystore directory");
  restore->add_option("backup", backup_file, "backup file")->required();
  restore->add_option("--store", store_dir, "keystore directory to restore into")->required();
  restore->add_flag("--force", force, "replace an existing (closed) keystore; the old one is kept beside it");
  add_master_options(restore, master);

  auto* check = app.add_subcommand("check", "verify every record of a keystore");
  check->add_option("--store", store_dir, "keystore directory")->required();
  add_master_options(check, master);

  auto* dump = app.add_subcommand("dump-config", "print an account's configuration");
  dump->add_option("--store", store_dir, "keystore directory")->required();
  dump->add_option("account", account, "account id")->required();
  dump->add_flag("--show-keys", show_keys, "include key material (the API's response shape)");
  add_master_options(dump, master);

  auto* init = app.add_subcommand("init-master-key", "create a new master key file (0600)");
  init->add_option("file", out, "file to create (must not exist)")->required();

  CLI11_PARSE(app, argc, argv);

  if (*init) {
    if (auto s = ks::create_master_key_file(out); !s) return fail(s.error());
    std::cout << "created " << out << "\n";
    return 0;
  }
  if (*restore) {
    auto m = master.load();
    if (!m) return fail(m.error());
    if (auto s = ks::restore_backup(backup_file, store_dir, *m, force); !s) return fail(s.error());
    std::cout << "restored " << backup_file << " into " << store_dir << "\n";
    return 0;
  }
  auto store = open_store(store_dir, master);
  if (!store) return fail(store.error());
  if (*backup) {
    if (auto s = (*store)->backup(out); !s) return fail(s.error());
    std::cout << "backup written to " << out << "\n";
    return 0;
  }
  if (*check) {
    auto r = (*store)->check();
    if (!r) return fail(r.error());
    for (const auto& p : r->problems) std::cout << "problem: " << p << "\n";
    std::cout << r->accounts << " accounts, " << r->key_versions << " key versions, " << r->public_keys
              << " public keys: " << (r->ok() ? "OK" : "DAMAGED") << "\n";
    return r->ok() ? 0 : 2;
  }
  auto cfg = (*store)->get_config(account);
  if (!cfg) return fail(cfg.error());
  if (!*cfg) {
    std::cout << "{}\n";
    return 0;
  }
  nlohmann::json j = ks::metadata_json(**cfg);
  if (show_keys) j["config"] = ks::to_json(**cfg);
  j["algorithm"] = std::string(recvault::format::algorithm_name((*cfg)->algorithm));
  j["key_id"] = (*cfg)->key_id;
  std::cout << j.dump(2) << "\n";
  return 0;
}
