#include "tests/integration/netns_scope.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <system_error>

namespace railyard::test {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

InNamespace::InNamespace(const std::string& name) {
  home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const int target = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  const bool entered = home_ >= 0 && target >= 0 && ::setns(target, CLONE_NEWNET) == 0;
  const int error = errno;
  if (target >= 0) ::close(target);
  if (!entered) {
    if (home_ >= 0) ::close(home_);  // a constructor that throws runs no destructor
    throw std::system_error(error, std::generic_category(), "cannot enter network namespace " + name);
  }
}

InNamespace::~InNamespace() {
  ::setns(home_, CLONE_NEWNET);
  ::close(home_);
}

}  // namespace railyard::test
