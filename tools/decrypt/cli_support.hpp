// Command-line support shared by the recvault tools: a man-page --help
// layout and scrubbing of key text that CLI11 or argv still hold.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>

namespace recvault::tools {

// Lays --help out like a man page: the app's description carries NAME,
// SYNOPSIS and DESCRIPTION, CLI11 lists the OPTIONS, and the footer carries
// EXIT STATUS and EXAMPLES.
class ManFormatter : public CLI::Formatter {
 public:
  ManFormatter() {
    label("Options", "OPTIONS");
    label("Positionals", "ARGUMENTS");
    column_width(30);
  }
  std::string make_usage(const CLI::App*, std::string) const override { return ""; }
  std::string make_description(const CLI::App* app) const override { return app->get_description() + "\n"; }
};

// Overwrites the value of `--name VALUE` / `--name=VALUE` in argv, so the key
// does not stay visible in /proc/<pid>/cmdline for the life of the process.
// (It was visible until now: prefer --key-file.)
void scrub_argv(int argc, char** argv, const char* name);
// Wipes the copies of an option's value that CLI11 keeps after parsing.
void scrub_option(const CLI::Option* opt);

// Parses argv, then scrubs the key option from argv and from CLI11. Returns
// nullopt to go on, or the exit code: 0 after printing --help, 1 (usage)
// after a one-line "<tool>: <reason> (see --help)" on stderr.
std::optional<int> parse_scrubbing_key(CLI::App& app, int argc, char** argv, const char* tool,
                                       const CLI::Option* key_opt);

}  // namespace recvault::tools
