// The one version number of recvault: meson's project version, reported by
// every program's --version and carried by the Debian package.
#pragma once

namespace recvault {

// "0.1.0": meson.build's project(version : ...). Only src/util_version.cpp
// is compiled with it, so a version bump rebuilds one file.
const char* version() noexcept;

}  // namespace recvault
