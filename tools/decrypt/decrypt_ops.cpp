#include "decrypt_ops.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <iostream>
#include <vector>

#include "exit_codes.hpp"
#include "output.hpp"
#include "recvault/crypto/secret.hpp"
#include "recvault/format/detect.hpp"
#include "recvault/format/encrypted_file.hpp"
#include "recvault/format/xattrs.hpp"
#include "recvault/sys/fd.hpp"
#include "recvault/util/encoding.hpp"

namespace recvault::tools {
namespace {

int fail(const RunOptions& o, const Error& e) {
  const int code = exit_code_for(e.code);
  std::cerr << "recvault-decrypt: " << o.input << ": " << exit_label(code) << ": " << e.message;
  if (code == exit_wrong_key && o.notes != nullptr && !o.notes->hint.empty()) std::cerr << " (" << o.notes->hint << ")";
  std::cerr << '\n';
  return code;
}

int fail_with(const RunOptions& o, int code, const std::string& message) {
  std::cerr << "recvault-decrypt: " << o.input << ": " << exit_label(code) << ": " << message << '\n';
  return code;
}

Result<sys::UniqueFd> open_input(const std::string& path) {
  sys::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    int e = errno;
    return sys_error("open", e);
  }
  return fd;
}

// The header, or Errc::not_recvault for a plain file (format::detect, the
// daemon's rule). A file without a header whose xattrs say it is encrypted
// was overwritten: Errc::tampered.
Result<format::Header> classify(int fd) {
  RV_ASSIGN(auto found, format::detect(fd));
  switch (found.kind) {
    case format::Detected::Kind::encrypted:
      return format::read_header(fd);
    case format::Detected::Kind::plain:
      return make_error(Errc::not_recvault, "no recvault header (a plain file)");
    case format::Detected::Kind::marked:
      break;
  }
  return make_error(Errc::unsupported, "the file is marked as format \"" + found.marker +
                                           "\" (an OpenPGP message is opened with gpg and the client's key)");
}

Status copy_plain(int fd, Output& out) {
  std::vector<std::uint8_t> buf(1 << 16);
  for (std::uint64_t off = 0;;) {
    RV_ASSIGN(auto n, sys::pread_full(fd, buf, off));
    if (n == 0) return {};
    RV_TRY(out.write(std::span(buf).first(n)));
    off += n;
  }
}

int plain_file(const RunOptions& o, int fd, bool copy) {
  if (!o.allow_plain) return fail_with(o, exit_not_recvault, "no recvault header (use --allow-plain to copy it)");
  if (!copy) return exit_ok;
  std::cerr << "recvault-decrypt: " << o.input << ": warning: not encrypted; copied through unchanged\n";
  auto out = o.out ? Output::to_file(*o.out) : Output::to_stdout();
  if (!out) return fail(o, out.error());
  if (auto st = copy_plain(fd, **out); !st) return fail(o, st.error());
  if (auto st = (*out)->commit(); !st) return fail(o, st.error());
  return exit_ok;
}

std::string state_name(const format::VerifyReport& r) {
  return r.state == format::FileState::sealed ? "sealed" : "unterminated";
}

bool all_zero(std::span<const std::uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

// Decrypts chunk by chunk into `out`; every byte read has been authenticated.
// A hole (format version 2) becomes a hole of a file output, so decrypting a
// file grown to a terabyte does not write a terabyte.
Status write_plaintext(format::EncryptedFile& f, Output& out) {
  std::vector<std::uint8_t> buf(f.header().chunk_size());
  Status st;
  for (std::uint64_t off = 0; off < f.size() && st.ok();) {
    auto n = f.read(off, buf);
    if (!n) {
      st = std::move(n).error();
      break;
    }
    if (*n == buf.size() && all_zero(buf)) {
      auto end = f.hole_end(off);
      if (!end) {
        st = std::move(end).error();
        break;
      }
      if (*end > off) {
        st = out.skip(*end - off);
        off = *end;
        continue;
      }
    }
    st = out.write(std::span(buf).first(*n));
    off += *n;
  }
  crypto::secure_wipe(buf.data(), buf.size());
  return st;
}

// True when `out` names the backing file itself (renaming over it would
// replace the ciphertext with plaintext).
bool same_file(int fd, const std::string& out) {
  struct stat a {
  }, b{};
  return ::fstat(fd, &a) == 0 && ::stat(out.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

}  // namespace

int run_info(const RunOptions& o) {
  auto fd = open_input(o.input);
  if (!fd) return fail(o, fd.error());
  auto h = classify(fd->get());
  if (!h) {
    if (h.error().code == Errc::not_recvault) {
      std::cout << "file: " << o.input << "\nformat: plain (no recvault header)\n";
      return plain_file(o, fd->get(), false);
    }
    return fail(o, h.error());
  }
  auto length = sys::file_size(fd->get());
  if (!length) return fail(o, length.error());
  std::cout << "file: " << o.input << '\n'
            << "format: recvault " << int{h->format_version} << '\n'
            << "algorithm: " << format::algorithm_name(h->algorithm) << '\n'
            << "chunk_size: " << h->chunk_size() << '\n'
            << "kdf: scrypt log2_n=" << int{h->kdf.log2_n} << " r=" << int{h->kdf.r} << " p=" << int{h->kdf.p} << '\n'
            << "key_version: " << h->key_version << '\n'
            << "key_id: " << h->key_id << '\n'
            << "salt: " << h->salt << '\n'
            << "file_id: " << hex_encode(h->file_id) << '\n'
            << "state: " << (h->sealed ? "sealed" : "unterminated") << " (not authenticated without the key)\n"
            << "header_bytes: " << h->encoded_size() << '\n'
            << "backing_bytes: " << *length << '\n';
  if (auto hint = format::EncryptedFile::plaintext_size_hint(*h, *length)) {
    std::cout << "plaintext_size: " << *hint << " (from the length; not authenticated)\n";
  } else {
    std::cout << "plaintext_size: unknown without the key\n";
  }
  auto present = sys::get_xattr(fd->get(), format::xattr::format);
  const bool has_xattrs = present && present->has_value();
  auto agree = format::check_xattrs(fd->get(), *h);
  std::cout << "xattrs: "
            << (!has_xattrs ? "absent"
                : agree     ? "agree with the header"
                            : "DISAGREE with the header")
            << '\n';
  if (!agree) return fail(o, agree.error());
  return exit_ok;
}

int run_verify(const RunOptions& o) {
  auto fd = open_input(o.input);
  if (!fd) return fail(o, fd.error());
  auto h = classify(fd->get());
  if (!h) {
    if (h.error().code != Errc::not_recvault) return fail(o, h.error());
    int code = plain_file(o, fd->get(), false);
    if (code == exit_ok) std::cout << "plain size=" << sys::file_size(fd->get()).value() << '\n';
    return code;
  }
  if (o.resolve == nullptr) return fail_with(o, exit_usage, "a key is needed: --key, --key-file or --config");
  auto r = format::verify_file(fd->get(), *o.resolve);
  if (!r) return fail(o, r.error());
  std::cout << "ok state=" << state_name(*r) << " size=" << r->plaintext_size << " chunks=" << r->chunks
            << " algorithm=" << format::algorithm_name(h->algorithm) << " key_version=" << h->key_version
            << " key_id=" << h->key_id << (r->torn_tail ? " torn_tail=yes" : "");
  if (r->holes > 0) std::cout << " holes=" << r->holes << " hole_chunks=" << r->hole_chunks;
  std::cout << '\n';
  if (r->state == format::FileState::open && o.strict) {
    return fail_with(o, exit_unterminated, "the file was never sealed (--strict)");
  }
  return exit_ok;
}

int run_decrypt(const RunOptions& o) {
  auto fd = open_input(o.input);
  if (!fd) return fail(o, fd.error());
  if (o.out && same_file(fd->get(), *o.out)) return fail_with(o, exit_usage, "--out names the input file itself");
  auto h = classify(fd->get());
  if (!h) {
    if (h.error().code != Errc::not_recvault) return fail(o, h.error());
    return plain_file(o, fd->get(), true);
  }
  if (o.resolve == nullptr) return fail_with(o, exit_usage, "a key is needed: --key, --key-file or --config");

  // Authenticate everything before the first plaintext byte leaves.
  auto report = format::verify_file(fd->get(), *o.resolve);
  if (!report) return fail(o, report.error());
  if (report->state == format::FileState::open) {
    if (o.strict) return fail_with(o, exit_unterminated, "the file was never sealed (--strict)");
    std::cerr << "recvault-decrypt: " << o.input << ": warning: unterminated (never sealed); decrypting the "
              << report->plaintext_size << " bytes of complete chunks"
              << (report->torn_tail ? ", a torn last record is skipped" : "") << '\n';
  }

  auto f = format::EncryptedFile::open(fd->get(), *o.resolve);
  if (!f) return fail(o, f.error());
  if ((*f)->size() != report->plaintext_size) {
    return fail_with(o, exit_tampered, "the file changed while it was being decrypted");
  }
  auto out = o.out ? Output::to_file(*o.out) : Output::to_stdout();
  if (!out) return fail(o, out.error());
  // A failure here means the file changed after verification; a file output
  // is discarded, standard output may already hold a prefix (exit != 0).
  if (auto st = write_plaintext(**f, **out); !st) return fail(o, st.error());
  if (auto st = (*out)->commit(); !st) return fail(o, st.error());
  return exit_ok;
}

}  // namespace recvault::tools
