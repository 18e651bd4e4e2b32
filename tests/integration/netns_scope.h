#pragma once
// What the rail integration tests and dpdk_rail_bench share: their settings
// from the environment, and a scope that moves the calling thread into a
// named network namespace (created by the caller's shell script) and back.

#include <string>

namespace railyard::test {

/// The variable's value, or "" when unset.
std::string env(const char* name);

/// Enters /run/netns/NAME for the scope. Throws std::system_error when it
/// cannot (in a test, that fails the test where it stands).
class InNamespace {
 public:
  explicit InNamespace(const std::string& name);
  ~InNamespace();
  InNamespace(const InNamespace&) = delete;
  InNamespace& operator=(const InNamespace&) = delete;

 private:
  int home_ = -1;
};

}  // namespace railyard::test
