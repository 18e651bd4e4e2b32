#pragma once
// CLOCK_MONOTONIC in nanoseconds: the one time base of the data plane, the
// fabric engines, the peer channels and the systemd notifications.

#include <time.h>

#include <cstdint>

namespace railyard {

inline uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

/// A duration in nanoseconds as ppoll's timeout.
inline timespec to_timespec(uint64_t ns) {
  return timespec{.tv_sec = static_cast<time_t>(ns / 1'000'000'000u), .tv_nsec = static_cast<long>(ns % 1'000'000'000u)};
}

}  // namespace railyard
