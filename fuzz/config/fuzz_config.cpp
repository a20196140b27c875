// libFuzzer target: arbitrary text through the TOML configuration loader.
// Must never crash or hang; every rejection is an error value.
#include <string_view>

#include "recvault/daemon/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = recvault::daemon::parse_config(text, "/nonexistent-fuzz-base");
  if (c) (void)c->owner_of("acme");
  return 0;
}
