#include "recvault/util/version.hpp"

#ifndef RECVAULT_VERSION
#error "RECVAULT_VERSION must be defined by the build (src/meson.build)"
#endif

namespace recvault {

const char* version() noexcept { return RECVAULT_VERSION; }

}  // namespace recvault
