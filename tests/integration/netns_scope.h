#pragma once
// What the rail integration tests share: their settings from the
// environment, and a scope that moves the calling thread into a named
// network namespace (created by the test's shell script) and back.

#include <string>

namespace railyard::test {

/// The variable's value, or "" when unset.
std::string env(const char* name);

/// Enters /run/netns/NAME for the scope; a failure to enter is a test failure.
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
