// recvault-decrypt --tree: restores a whole backing directory (an account's,
// or any directory below it) to a destination, offline: encrypted names and
// symlink targets decrypted (docs/FORMAT.md §12), every recording verified
// and decrypted as run_decrypt does, plain files and names copied as they
// are.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "decrypt_ops.hpp"
#include "recvault/format/names.hpp"

namespace recvault::tools {

// The name key of a key version (names carry their version, not their salt).
using NameKeyFor = std::function<Result<std::shared_ptr<const format::NameKey>>(std::uint32_t version)>;

// A NameKeyFor from the tool's file-key resolver and the salt of each
// version (nullopt: not known; names of that version cannot be read).
NameKeyFor name_keys_from(const format::KeyResolver& resolve,
                          std::function<std::optional<std::string>(std::uint32_t version)> salt_for);

struct TreeOptions {
  std::string source;       // a backing directory
  std::string destination;  // created if absent; must not hold what the tree restores
  bool strict = false;      // an unterminated recording is an error
  const format::KeyResolver* resolve = nullptr;
  const ResolveNotes* notes = nullptr;
  NameKeyFor name_key;
};

// Restores everything it can, reporting each failure on stderr; returns the
// exit status of the first failure (exit_codes.hpp), 0 when all went well.
// Never writes outside `destination`; never follows a symlink of the source.
int run_tree(const TreeOptions& o);

}  // namespace recvault::tools
