#include "cli_support.hpp"

#include <cstring>
#include <iostream>

#include "recvault/crypto/secret.hpp"

namespace recvault::tools {

void scrub_argv(int argc, char** argv, const char* name) {
  const std::size_t len = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    char* a = argv[i];
    if (std::strcmp(a, name) == 0 && i + 1 < argc) {
      crypto::secure_wipe(argv[i + 1], std::strlen(argv[i + 1]));
      ++i;
    } else if (std::strncmp(a, name, len) == 0 && a[len] == '=') {
      crypto::secure_wipe(a + len + 1, std::strlen(a + len + 1));
    }
  }
}

void scrub_option(const CLI::Option* opt) {
  // results() is a const view of CLI11's own (non-const) strings.
  for (const std::string& s : opt->results()) crypto::secure_wipe(const_cast<char*>(s.data()), s.size());
}

std::optional<int> parse_scrubbing_key(CLI::App& app, int argc, char** argv, const char* tool,
                                       const CLI::Option* key_opt) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help or --version
    std::cerr << tool << ": " << e.what() << " (see --help)\n";
    return 1;
  }
  scrub_argv(argc, argv, "--key");
  scrub_option(key_opt);
  return std::nullopt;
}

}  // namespace recvault::tools
