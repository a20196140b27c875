// Side-by-side steps for the parity tests: the same steps run on the mount
// and on a plain directory, each recording a result; the results must match.
#pragma once

#include <catch2/catch.hpp>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

namespace recvault::test {

inline int err_of(long rc) { return rc < 0 ? errno : 0; }

// (step name, result) in the order the steps ran.
using Steps = std::vector<std::pair<std::string, std::string>>;

inline void compare_steps(const Steps& want, const Steps& got) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("step: " << want[i].first << " (plain " << want[i].second << ", mount " << got[i].second << ")");
    CHECK(got[i] == want[i]);
  }
}

}  // namespace recvault::test
