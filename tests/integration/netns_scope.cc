#include "tests/integration/netns_scope.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>

#include <gtest/gtest.h>

namespace railyard::test {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

InNamespace::InNamespace(const std::string& name) {
  home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (home_ < 0 || target < 0 || ::setns(target, CLONE_NEWNET) != 0) {
    ADD_FAILURE() << "cannot enter network namespace " << name;
  }
  if (target >= 0) ::close(target);
}

InNamespace::~InNamespace() {
  if (home_ >= 0) {
    ::setns(home_, CLONE_NEWNET);
    ::close(home_);
  }
}

}  // namespace railyard::test
