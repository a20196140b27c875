// recvault-decrypt: the auditor's offline decryption tool.
#include <csignal>
#include <cstring>
#include <iostream>

#include "cli_support.hpp"
#include "decrypt_ops.hpp"
#include "exit_codes.hpp"
#include "key_source.hpp"
#include "recvault/crypto/secret.hpp"
#include "recvault/util/version.hpp"
#include "tree.hpp"

namespace {

constexpr const char* kDescription = R"(NAME
  recvault-decrypt - verify and decrypt recvault call-recording backing files offline

SYNOPSIS
  recvault-decrypt (--key TEXT | --key-file PATH) [--salt TEXT] [--out PATH] [--strict] FILE
  recvault-decrypt --config CONFIG.json [--out PATH] [--strict] FILE
  recvault-decrypt (--key ... | --key-file ... | --config ...) --verify [--strict] FILE
  recvault-decrypt --info FILE
  recvault-decrypt (--key ... --salt TEXT | --config CONFIG.json) --tree DEST [--strict] DIR

DESCRIPTION
  Decrypts one backing file (as stored on the backing disk, or a copy of it:
  xattrs are not needed, the authenticated header names the algorithm, key
  version, key id and salt) and writes the plaintext to standard output or to
  --out. Nothing is written until every chunk has been authenticated; --out
  is written to a temporary file that is renamed into place only on success,
  so a failed decrypt never leaves an output file. If the backing file
  changes while it is streamed to standard output, a prefix may already have
  been written and the exit status is non-zero.

  The key and salt are the text the config API returns, used exactly as
  given (no base64 or hex decoding). --key-file strips one trailing newline.
  --key is visible to other local users while the process starts: prefer
  --key-file (or --key-file - to read standard input). With --config, the
  key and salt of the file's key_version are taken from a JSON export of the
  account's encryption config (the API response, bare or wrapped as
  {"success":true,"config":{...}}), including historical_keys and
  historical_salts. Without --salt the salt recorded in the file is used.

  An unterminated file (its writer never closed it) decrypts up to its last
  complete chunk with a warning on stderr; --strict makes it exit 4 instead.
  A file without a recvault header is refused (exit 6) unless --allow-plain
  copies it through unchanged. The backing file is never modified.

  --tree DEST restores the whole backing directory DIR into DEST: names and
  symlink targets that were stored encrypted (an account with
  name_encryption) are decrypted, every recording is verified and decrypted
  as above, plain files and names are copied as they are. Encrypted names
  need the salt of their key version: --config gives it, with --key give
  --salt. A failure is reported per file; the rest is still restored, and
  the exit status is that of the first failure.
)";

constexpr const char* kFooter = R"(
EXIT STATUS
  0  success (also an unterminated file without --strict)
  1  usage error: bad options, no key given, unreadable key or config file
  2  wrong key: the key or salt does not open this file
  3  tampered: header, chunk or metadata (xattr) authentication failed
  4  unterminated: the file was never sealed (only with --strict)
  5  truncated: a sealed file lost chunks at its end
  6  not a recvault file (plain/unencrypted), or an unsupported format version
  7  the file's key_version is not in the --config export
  8  I/O error (cannot open, read or write a file)

EXAMPLES
  recvault-decrypt --key-file acct.key call-0001.wav > call-0001.wav.plain
  recvault-decrypt --config acct-config.json --out call.wav backing/call.wav
  recvault-decrypt --config acct-config.json --verify --strict backing/call.wav
  recvault-decrypt --info backing/call.wav
  recvault-decrypt --config acct-config.json --tree restored/ backing/acct

SEE ALSO
  recvault-encrypt(1), docs/FORMAT.md
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace recvault;
  using namespace recvault::tools;
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe is an I/O error (exit 8), not a silent death

  CLI::App app(kDescription, "recvault-decrypt");
  app.formatter(std::make_shared<ManFormatter>());
  app.footer(kFooter);
  app.option_defaults()->group("OPTIONS");
  app.set_help_flag("-h,--help", "print this help and exit");
  app.set_version_flag("--version", std::string("recvault-decrypt ") + version(), "print the version and exit");
  std::string key_text, key_file, config_file, salt, out, input, tree;
  bool verify = false, info = false, strict = false, allow_plain = false;
  auto* key_opt =
      app.add_option("--key", key_text, "the account key (text, as the config API returns it)")->type_name("TEXT");
  auto* file_opt =
      app.add_option("--key-file", key_file, "read the key from PATH (- = standard input)")->type_name("PATH");
  auto* config_opt = app.add_option("--config", config_file,
                                    "account config export (JSON); picks key and salt by the file's key_version")
                         ->type_name("FILE.json");
  auto* salt_opt = app.add_option("--salt", salt, "the salt (text); default: the salt in the file's header");
  auto* out_opt =
      app.add_option("-o,--out", out, "write the plaintext to PATH (atomically) instead of stdout")->type_name("PATH");
  auto* verify_opt = app.add_flag("--verify", verify, "only authenticate every chunk and print a one-line report");
  auto* info_opt = app.add_flag("--info", info, "print the header and xattr metadata; needs no key");
  auto* tree_opt = app.add_option("--tree", tree, "restore the backing directory FILE into DEST (names decrypted)")
                       ->type_name("DEST");
  app.add_flag("--strict", strict, "treat an unterminated file as an error (exit 4)");
  app.add_flag("--allow-plain", allow_plain, "copy a file without a recvault header through unchanged");
  app.add_option("FILE", input, "the backing file")->required()->type_name("");
  key_opt->excludes(file_opt)->excludes(config_opt);
  file_opt->excludes(config_opt);
  verify_opt->excludes(out_opt)->excludes(info_opt);
  tree_opt->excludes(out_opt)->excludes(verify_opt);
  info_opt->excludes(tree_opt);
  info_opt->excludes(out_opt)->excludes(key_opt)->excludes(file_opt)->excludes(config_opt)->excludes(salt_opt);

  if (auto done = parse_scrubbing_key(app, argc, argv, "recvault-decrypt", key_opt)) return *done;  // 0 help, 1 usage

  auto notes = std::make_shared<ResolveNotes>();
  std::optional<std::string> salt_arg;
  if (*salt_opt) salt_arg = salt;
  format::KeyResolver resolve;
  std::function<std::optional<std::string>(std::uint32_t)> salt_for = [salt_arg](std::uint32_t) { return salt_arg; };
  if (*key_opt || *file_opt) {
    crypto::SecretBytes key;
    if (*key_opt) {
      key = crypto::SecretBytes::from_view(key_text);
      crypto::secure_wipe(key_text.data(), key_text.size());
    } else {
      auto k = read_key_file(key_file);
      if (!k) {
        std::cerr << "recvault-decrypt: key file: " << k.error().message << '\n';
        return exit_usage;
      }
      key = std::move(k).value();
    }
    if (key.empty()) {
      std::cerr << "recvault-decrypt: the key is empty\n";
      return exit_usage;
    }
    resolve = fixed_resolver(std::make_shared<const crypto::SecretBytes>(std::move(key)), salt_arg, notes);
  } else if (*config_opt) {
    auto cfg = KeyConfig::load(config_file);
    if (!cfg) {
      std::cerr << "recvault-decrypt: " << cfg.error().message << '\n';
      return exit_usage;
    }
    auto shared = std::make_shared<const KeyConfig>(std::move(cfg).value());
    resolve = config_resolver(shared, salt_arg, notes);
    salt_for = [shared, salt_arg](std::uint32_t v) -> std::optional<std::string> {
      if (salt_arg) return salt_arg;
      const VersionEntry* e = shared->find(v);
      return e != nullptr ? e->salt : std::nullopt;
    };
  }

  RunOptions o;
  o.input = input;
  if (*out_opt) o.out = out;
  o.strict = strict;
  o.allow_plain = allow_plain;
  o.resolve = resolve ? &resolve : nullptr;
  o.notes = notes.get();
  if (*tree_opt) {
    if (!resolve) {
      std::cerr << "recvault-decrypt: --tree needs a key: --key, --key-file or --config\n";
      return exit_usage;
    }
    TreeOptions t;
    t.source = input;
    t.destination = tree;
    t.strict = strict;
    t.resolve = &resolve;
    t.notes = notes.get();
    t.name_key = name_keys_from(resolve, salt_for);
    return run_tree(t);
  }
  if (info) return run_info(o);
  if (verify) return run_verify(o);
  return run_decrypt(o);
}
