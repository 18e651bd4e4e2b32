#pragma once
// libprotobuf logs an ERROR line of its own for every message it refuses
// (a string field with invalid UTF-8, for one) before the parse call returns
// false to code that counts and reports the refusal itself. Every parser of
// outside input in the daemon (peer messages, control and workload
// requests) goes through it, so a sender of bad messages could write one
// journal line each. install_protobuf_log() routes those lines through a
// gate: at most one a minute, with the count of those it held back.

#include <atomic>
#include <cstdint>
#include <optional>

namespace railyard::daemon {

/// At most one line per `period_s`. Thread-safe (protobuf logs from
/// whichever thread parses).
class LogGate {
 public:
  explicit LogGate(std::int64_t period_s) : period_s_(period_s) {}

  /// Empty: hold this line back. Otherwise log it, with the number of lines
  /// held back since the last one logged.
  std::optional<std::uint64_t> admit(std::int64_t now_s);

 private:
  const std::int64_t period_s_;
  std::atomic<std::int64_t> last_s_{INT64_MIN / 2};
  std::atomic<std::uint64_t> held_{0};
};

/// Routes libprotobuf's log lines through a one-a-minute LogGate (FATAL
/// ones always pass). Called once at start-up.
void install_protobuf_log();

}  // namespace railyard::daemon
