#pragma once
// Retry timing for the Redfish client: exponential backoff with jitter, and
// the HTTP Retry-After header. Pure: no clock is read here (the caller passes
// "now"), and the random source is seeded by the caller.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace railyard::redfish {

struct BackoffPolicy {
  /// Delay after the first failure.
  std::chrono::milliseconds initial{500};
  /// Never wait longer than this between attempts.
  std::chrono::milliseconds max{30000};
  double multiplier = 2.0;
  /// Fraction of each delay drawn at random: the delay lies in
  /// [d * (1 - jitter), d], so BMCs restarted together do not get their
  /// clients back in lockstep, and the ceiling still bounds it.
  double jitter = 0.5;
};

class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {}, std::uint64_t seed = 0x9e3779b97f4a7c15ULL);

  /// One more failure: the delay before the next attempt.
  std::chrono::milliseconds next();
  /// A success: the next failure starts again from `initial`.
  void reset() { failures_ = 0; }
  unsigned failures() const { return failures_; }
  /// The delay before jitter after `failures` consecutive failures (>= 1):
  /// initial * multiplier^(failures-1), capped at max.
  std::chrono::milliseconds ceiling(unsigned failures) const;
  const BackoffPolicy& policy() const { return policy_; }

 private:
  double uniform();  // [0, 1)

  BackoffPolicy policy_;
  std::uint64_t state_;
  unsigned failures_ = 0;
};

/// Retry-After (RFC 9110 10.2.3): delay-seconds ("120") or an HTTP-date
/// ("Sun, 06 Nov 1994 08:49:37 GMT", also the obsolete RFC 850 and asctime
/// forms). A date in the past gives 0. Nullopt when the value is neither.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

}  // namespace railyard::redfish
