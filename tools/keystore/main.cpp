// recvault-keystore: operator tool for the keystore (backup, restore, check,
// dump-config, migrate, init-master-key), on an LMDB store (--store DIR) or a
// cluster keystore on etcd (--etcd URL,... [--prefix P]). Never prints key
// material unless asked with dump-config --show-keys.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>

#include "recvault/keystore/master_key.hpp"
#include "recvault/keystore/store.hpp"
#include "recvault/util/version.hpp"

namespace ks = recvault::keystore;

namespace {

using MasterSource = ks::MasterKeySource;

int fail(const recvault::Error& e) {
  std::cerr << "recvault-keystore: " << e.message << "\n";
  return 1;
}

// Where a store is: an LMDB directory or an etcd prefix.
struct Location {
  std::string dir;
  std::vector<std::string> endpoints;
  ks::EtcdOptions etcd;
};

void add_location_options(CLI::App* cmd, Location& l, bool store_required = false) {
  auto* store = cmd->add_option("--store", l.dir, "LMDB keystore directory");
  auto* etcd =
      cmd->add_option("--etcd", l.endpoints, "etcd endpoints (http(s)://host:port), comma-separated")->delimiter(',');
  cmd->add_option("--prefix", l.etcd.prefix, "etcd key prefix (default /recvault/)");
  cmd->add_option("--etcd-ca", l.etcd.ca_file, "CA file for the etcd members' TLS certificates");
  cmd->add_option("--etcd-cert", l.etcd.cert_file, "TLS client certificate for etcd");
  cmd->add_option("--etcd-key", l.etcd.key_file, "TLS client key for etcd");
  if (store_required) {
    store->required();
  } else {
    store->excludes(etcd);
    etcd->excludes(store);
  }
}

recvault::Result<std::unique_ptr<ks::Store>> open_at(const Location& l, const MasterSource& m, bool read_only,
                                                     bool use_etcd) {
  auto master = m.load();
  RV_TRY(master);
  ks::StoreOptions o;
  o.read_only = read_only;
  if (!use_etcd) {
    if (l.dir.empty())
      return recvault::make_error(recvault::Errc::invalid_argument, "give --store DIR or --etcd URL,...");
    return ks::Store::open(l.dir, std::move(master).value(), o);
  }
  ks::EtcdOptions e = l.etcd;
  e.endpoints = l.endpoints;
  e.watch = false;  // one-shot: the prefix is read once
  return ks::Store::open_etcd(e, std::move(master).value(), o);
}

recvault::Result<std::unique_ptr<ks::Store>> open_store(const Location& l, const MasterSource& m) {
  return open_at(l, m, true, !l.endpoints.empty());
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
  Location where;
  std::string store_dir, out, backup_file, account, to;
  bool force = false, show_keys = false;

  auto* backup = app.add_subcommand("backup", "consistent online copy of a keystore into a new (LMDB) file");
  add_location_options(backup, where);
  backup->add_option("output", out, "backup file to create (must not exist)")->required();
  add_master_options(backup, master);

  auto* restore = app.add_subcommand("restore", "restore a backup file into a keystore directory");
  restore->add_option("backup", backup_file, "backup file")->required();
  restore->add_option("--store", store_dir, "keystore directory to restore into")->required();
  restore->add_flag("--force", force, "replace an existing (closed) keystore; the old one is kept beside it");
  add_master_options(restore, master);

  auto* check = app.add_subcommand("check", "verify every record of a keystore");
  add_location_options(check, where);
  add_master_options(check, master);

  auto* migrate = app.add_subcommand("migrate", "copy every record between an LMDB store and etcd, verifying each");
  add_location_options(migrate, where, true);
  migrate->add_option("--to", to, "direction: \"etcd\" (LMDB -> etcd) or \"lmdb\" (etcd -> a new LMDB store)")
      ->required()
      ->check(CLI::IsMember({"etcd", "lmdb"}));
  add_master_options(migrate, master);

  auto* dump = app.add_subcommand("dump-config", "print an account's configuration");
  add_location_options(dump, where);
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
  if (*migrate) {
    if (where.endpoints.empty())
      return fail(recvault::make_error(recvault::Errc::invalid_argument, "migrate needs --etcd"));
    const bool to_etcd = to == "etcd";
    auto from = open_at(where, master, true, !to_etcd);
    if (!from) return fail(from.error());
    auto dest = open_at(where, master, false, to_etcd);
    if (!dest) return fail(dest.error());
    auto n = (*from)->copy_into(**dest);
    if (!n) return fail(n.error());
    auto r = (*dest)->check();
    if (!r) return fail(r.error());
    if (!r->ok()) {
      for (const auto& p : r->problems) std::cout << "problem: " << p << "\n";
      return 2;
    }
    std::cout << "migrated " << r->accounts << " accounts, " << *n << " key versions (each verified), "
              << r->public_keys << " public keys to " << (to_etcd ? "etcd" : where.dir) << "\n";
    return 0;
  }
  auto store = open_store(where, master);
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
