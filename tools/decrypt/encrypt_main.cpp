// recvault-encrypt: writes a recvault backing file from a plaintext file.
// A testing and migration tool (golden files, demos, importing recordings
// made while encryption was off); the daemon does not use it.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <iostream>
#include <vector>

#include "cli_support.hpp"
#include "exit_codes.hpp"
#include "key_source.hpp"
#include "recvault/format/encrypted_file.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/util/version.hpp"

namespace {

constexpr const char* kDescription = R"(NAME
  recvault-encrypt - write a recvault backing file from a plaintext file (testing/migration tool)

SYNOPSIS
  recvault-encrypt (--key TEXT | --key-file PATH) --salt TEXT [--key-version N] [--key-id ID]
                   [--algorithm AES-256-GCM|AES-256-CBC] [--chunk-size BYTES] [--write-size BYTES]
                   [--sparse] [--no-seal] [--force] INPUT OUTPUT

DESCRIPTION
  Encrypts INPUT (- = standard input) into the backing file OUTPUT exactly as
  the daemon would, through the same format library: header, chunked records,
  user.recvault.* xattrs (where the file system has them). The file is sealed
  at the end unless --no-seal leaves it unterminated, as if its writer had
  died. --write-size sets the size of each write, to mimic a recorder's small
  appends. --sparse turns every whole chunk of zeros in INPUT (except the
  last) into a hole: no record, no disk blocks, read back as zeros (format
  version 2; it reads and writes a chunk at a time). Used to make the golden
  test files and by the demo; not part of the daemon. OUTPUT is removed
  again if encryption fails.
)";

constexpr const char* kFooter = R"(
EXIT STATUS
  0 success, 1 usage error, 8 I/O or library error

EXAMPLES
  recvault-encrypt --key-file acct.key --salt "$SALT" --key-version 2 call.wav backing/call.wav
)";

// One read, or with `fill` as many as it takes to fill `buf` up to EOF.
recvault::Result<std::size_t> read_up_to(int fd, std::vector<std::uint8_t>& buf, bool fill) {
  std::size_t done = 0;
  while (done < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + done, buf.size() - done);
    if (n < 0) {
      int e = errno;
      if (e == EINTR) continue;
      return recvault::sys_error("read", e);
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
    if (!fill) break;
  }
  return done;
}

int fail(const std::string& what, const recvault::Error& e) {
  std::cerr << "recvault-encrypt: " << what << ": " << e.message << '\n';
  return e.code == recvault::Errc::invalid_argument ? recvault::tools::exit_usage : recvault::tools::exit_io;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace recvault;
  using namespace recvault::tools;
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app(kDescription, "recvault-encrypt");
  app.formatter(std::make_shared<ManFormatter>());
  app.footer(kFooter);
  app.option_defaults()->group("OPTIONS");
  app.set_version_flag("--version", std::string("recvault-encrypt ") + version(), "print the version and exit");
  app.set_help_flag("-h,--help", "print this help and exit");
  std::string key_text, key_file, salt, key_id = "key_auto_dev", algorithm = "AES-256-GCM", input, output;
  std::uint32_t key_version = 1, chunk_size = format::kDefaultChunkSize, write_size = 64 * 1024;
  bool no_seal = false, force = false, sparse = false;
  auto* key_opt = app.add_option("--key", key_text, "the account key (text)");
  auto* file_opt =
      app.add_option("--key-file", key_file, "read the key from PATH (- = standard input)")->type_name("PATH");
  app.add_option("--salt", salt, "the salt (text)")->required();
  app.add_option("--key-version", key_version, "key_version recorded in the header (default 1)");
  app.add_option("--key-id", key_id, "key_id recorded in the header (default key_auto_dev)");
  app.add_option("--algorithm", algorithm, "AES-256-GCM (default) or AES-256-CBC");
  app.add_option("--chunk-size", chunk_size, "plaintext bytes per chunk: power of two, 4096..1048576 (default 65536)");
  app.add_option("--write-size", write_size, "bytes per write call (default 65536)")->check(CLI::Range(1u, 1u << 24));
  app.add_flag("--sparse", sparse, "whole chunks of zeros become holes");
  app.add_flag("--no-seal", no_seal, "leave the file unterminated (its last chunk not marked final)");
  app.add_flag("--force", force, "overwrite OUTPUT if it exists");
  app.add_option("INPUT", input, "plaintext file (- = standard input)")->required();
  app.add_option("OUTPUT", output, "backing file to create")->required();
  key_opt->excludes(file_opt);
  if (auto done = parse_scrubbing_key(app, argc, argv, "recvault-encrypt", key_opt)) return *done;  // 0 help, 1 usage

  auto alg = format::parse_algorithm(algorithm);
  if (!alg) {
    std::cerr << "recvault-encrypt: unknown algorithm (use AES-256-GCM or AES-256-CBC)\n";
    return exit_usage;
  }
  crypto::SecretBytes key;
  if (*key_opt) {
    key = crypto::SecretBytes::from_view(key_text);
    crypto::secure_wipe(key_text.data(), key_text.size());
  } else if (*file_opt) {
    auto k = read_key_file(key_file);
    if (!k) return fail("key file", k.error());
    key = std::move(k).value();
  }
  if (key.empty()) {
    std::cerr << "recvault-encrypt: a key is needed: --key or --key-file\n";
    return exit_usage;
  }

  sys::UniqueFd in(input == "-" ? ::dup(STDIN_FILENO) : ::open(input.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) {
    int e = errno;
    return fail(input, sys_error("open", e));
  }
  sys::UniqueFd out(::open(output.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0600));
  if (!out.valid()) {
    int e = errno;
    return fail(output, sys_error("create", e));
  }
  auto fail_and_remove = [&](const Error& e) {
    ::unlink(output.c_str());
    return fail(output, e);
  };

  auto vk = format::VersionKey::derive(key.view(), salt);
  if (!vk) return fail_and_remove(vk.error());
  format::KeySpec spec;
  spec.algorithm = *alg;
  spec.key_version = key_version;
  spec.key_id = key_id;
  spec.salt = salt;
  spec.key = std::make_shared<const format::VersionKey>(std::move(vk).value());
  auto file = format::EncryptedFile::create(out.get(), spec, chunk_size);
  if (!file) return fail_and_remove(file.error());

  std::vector<std::uint8_t> buf(sparse ? chunk_size : write_size);
  std::uint64_t offset = 0;
  for (;;) {
    auto got = read_up_to(in.get(), buf, sparse);
    if (!got) return fail_and_remove(sys_error("read " + input, got.error().sys_errno));
    const std::size_t n = *got;
    if (n == 0) break;
    const auto piece = std::span(buf).first(n);
    // A whole chunk of zeros is skipped: the next write (or the final
    // truncate) past it makes it part of a hole.
    const bool hole =
        sparse && n == buf.size() && std::all_of(piece.begin(), piece.end(), [](auto b) { return b == 0; });
    if (!hole) {
      if (auto st = (*file)->write(offset, piece); !st) return fail_and_remove(st.error());
    }
    offset += n;
  }
  crypto::secure_wipe(buf.data(), buf.size());
  if ((*file)->size() < offset) {
    if (auto st = (*file)->truncate(offset); !st) return fail_and_remove(st.error());
  }
  auto st = no_seal ? (*file)->flush() : (*file)->seal();
  if (!st) return fail_and_remove(st.error());
  if (::fsync(out.get()) != 0) {
    int e = errno;
    return fail_and_remove(sys_error("fsync", e));
  }
  return exit_ok;
}
