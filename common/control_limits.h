#pragma once
// Bounds of control requests' numbers, shared by railctl (which refuses
// beyond them before sending) and railyardd (which refuses them from any
// client): a request is checked before anything is sized from it.

#include <cstdint>

namespace railyard::control {

/// `railctl send`: transfers in one probe (the daemon keeps a latency for
/// each: 8 MB at most) and transfers in flight at once.
inline constexpr uint32_t kMaxProbeTransfers = 1'000'000;
inline constexpr uint32_t kMaxProbeConcurrency = 1024;

/// `railctl watch --interval`, in milliseconds.
inline constexpr uint32_t kMinWatchIntervalMs = 50;
inline constexpr uint32_t kMaxWatchIntervalMs = 60'000;

}  // namespace railyard::control
