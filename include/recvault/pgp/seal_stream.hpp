// SealStream: one recording being encrypted to an OpenPGP public key as it is
// written, without the plaintext ever touching the disk.
//
//   FUSE writes --append()--> bounded in-memory pipe --read cb--> gpgme_op_encrypt
//   (worker thread, one gpg process) --write cb--> backing file at its end
//
// Memory is bounded by the pipe's capacity: append() blocks while the pipe is
// full (backpressure from gpg and the disk to the recorder). The pipe is wiped
// when the stream is destroyed.
//
// Contract: the plaintext is an append-only stream. append(offset, ...) with
// offset == accepted() appends; an offset beyond it waits briefly for the
// writes before it (concurrent writers), then fails; an offset before it
// (an overwrite) fails with EINVAL at once.
//
// Thread safety: append/accepted/ciphertext_size/finish may be called from
// any thread; finish() is idempotent and returns the same result each time.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "recvault/pgp/gpgme.hpp"
#include "recvault/util/result.hpp"

namespace recvault::pgp {

struct SealOptions {
  bool armor = false;                    // ASCII armor instead of binary
  std::size_t pipe_bytes = 1024 * 1024;  // the in-memory pipe's capacity
  std::uint32_t reorder_wait_ms = 2000;  // how long a write ahead of the end waits
  // How far ahead of the end a write may be and still wait for the writes
  // before it (reordered by the FUSE threads: at most a few max_write
  // requests); farther is a hole, refused at once.
  std::uint64_t reorder_window = 16u << 20;
};

class SealStream {
 public:
  // Starts encrypting to `key` (a key in GNUPGHOME `home`) into `fd`, which
  // must be an empty regular file open for writing; the stream writes at
  // offsets 0, 1, ... with pwrite and does not own `fd`, which must stay open
  // until finish() returned or the stream is destroyed.
  static Result<std::unique_ptr<SealStream>> start(int fd, UniqueKey key, const std::string& home,
                                                   const SealOptions& options);
  // Aborts an unfinished stream: gpg sees a read error, the worker is joined,
  // and the file keeps an incomplete message.
  ~SealStream();
  SealStream(const SealStream&) = delete;
  SealStream& operator=(const SealStream&) = delete;

  Status append(std::uint64_t offset, std::span<const std::uint8_t> data);
  // Plaintext bytes accepted so far (the size the writer sees).
  std::uint64_t accepted() const;
  // Ciphertext bytes written to the file so far.
  std::uint64_t ciphertext_size() const;
  // End of input: waits for gpg to write the rest of the message.
  Status finish();
  bool finished() const;

 private:
  SealStream(int fd, const SealOptions& options);
  void run(UniqueCtx ctx, UniqueKey key);
  static ssize_t read_cb(void* self, void* buffer, std::size_t size);
  static ssize_t write_cb(void* self, const void* buffer, std::size_t size);

  const int fd_;
  const SealOptions options_;
  mutable std::mutex m_;        // guards everything below
  std::condition_variable cv_;  // any change of state
  std::vector<std::uint8_t> ring_;
  std::size_t head_ = 0;  // next byte for gpg
  std::size_t used_ = 0;
  std::uint64_t accepted_ = 0;
  std::uint64_t written_ = 0;  // ciphertext
  bool input_closed_ = false;
  bool aborted_ = false;
  bool done_ = false;             // the worker has returned
  std::optional<Error> failure_;  // the worker's error, if any
  std::mutex join_mutex_;         // serialises joining the worker
  std::thread worker_;
};

}  // namespace recvault::pgp
