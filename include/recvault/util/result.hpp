// Result<T>: the value of an operation or the reason it failed.
//
// Expected outcomes (wrong key, tampered data, not found, validation failures)
// are values, not exceptions. An Error's message is for humans and logs: it
// must never contain key material or plaintext.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace recvault {

enum class Errc {
  io,                 // a system call failed; see sys_errno
  not_found,          // the thing asked for does not exist
  invalid_argument,   // the caller's input is malformed or out of range
  wrong_key,          // the key (or salt) does not open this file
  tampered,           // authentication failed: data, header or metadata changed
  truncated,          // a sealed file lost chunks at its end
  not_recvault,       // not a recvault backing file (e.g. a plain file)
  unsupported,        // a format version or algorithm this build does not know
  metadata_mismatch,  // xattrs disagree with the authenticated header
  key_unavailable,    // the keystore has no key for the file's version
  conflict,           // the request conflicts with current state
  not_permitted,      // a policy refuses it (EACCES through the mount)
  refused,            // the object does not allow it by its nature: a sealed
                      // recording, a key on a non-account directory (EPERM)
  too_large,          // past the largest size a file may have (EFBIG)
  unavailable,        // a service it needs (the etcd keystore) cannot be reached now; retry later
  internal,           // a bug or a library failure that has no better name
};

const char* errc_name(Errc code) noexcept;

struct Error {
  Errc code = Errc::internal;
  int sys_errno = 0;  // meaningful for Errc::io
  std::string message;

  // The errno a FUSE handler should answer with.
  int to_errno() const noexcept;
};

inline Error make_error(Errc code, std::string message) { return Error{code, 0, std::move(message)}; }
// Whether `code` says the data or the keys are not what they should be
// (tampering, truncation, a wrong or missing key, ...) rather than a refusal
// or a system failure: such errors are always logged as errors.
bool is_integrity_failure(Errc code) noexcept;
// Captures errno: call it on the line after the failing system call.
Error sys_error(std::string what, int saved_errno);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), failed_(true) {}  // NOLINT
  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const& { return err_; }
  Error&& error() && { return std::move(err_); }

 private:
  Error err_;
  bool failed_ = false;
};

using Status = Result<void>;

}  // namespace recvault

// Propagates a failed Result from the enclosing function.
//   RV_TRY(store.put(x));
#define RV_TRY(expr)                                                    \
  do {                                                                  \
    auto&& rv_try_result_ = (expr);                                     \
    if (!rv_try_result_.ok()) return std::move(rv_try_result_).error(); \
  } while (0)

// Declares `decl` from the value of a Result, or propagates its error:
//   RV_ASSIGN(auto header, read_header(fd));
#define RV_ASSIGN(decl, expr) RV_ASSIGN_IMPL_(RV_CONCAT_(rv_assign_result_, __LINE__), decl, expr)
#define RV_CONCAT_(a, b) RV_CONCAT_IMPL_(a, b)
#define RV_CONCAT_IMPL_(a, b) a##b
#define RV_ASSIGN_IMPL_(tmp, decl, expr)        \
  auto tmp = (expr);                            \
  if (!tmp.ok()) return std::move(tmp).error(); \
  decl = std::move(tmp).value()
