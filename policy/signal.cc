#include "policy/signal.h"

#include <algorithm>

namespace railyard::policy {

namespace {
constexpr std::array<std::string_view, kSignalCount> kNames = {
    "coolant_supply_c", "gpu_temp_c", "gpu_power_w", "chassis_power_w",
    "leak",             "congestion", "tokens_per_s", "peer_headroom",
};

std::optional<double> lower_of(const std::optional<double>& a, const std::optional<double>& b) {
  if (a && b) return std::min(*a, *b);
  return a ? a : b;
}
}  // namespace

std::string_view to_string(Signal signal) { return kNames[index(signal)]; }

std::optional<Signal> parse_signal(std::string_view name) {
  for (std::size_t i = 0; i < kSignalCount; ++i) {
    if (kNames[i] == name) return static_cast<Signal>(i);
  }
  return std::nullopt;
}

Limits resolve_limits(const LimitConfig& config, const BmcThresholds& bmc, double fallback_margin) {
  Limits out;
  std::optional<double> critical = config.critical;
  if (!critical) critical = lower_of(bmc.upper_critical, bmc.upper_critical_user);
  if (!critical) critical = bmc.upper_fatal;
  std::optional<double> limit = config.limit;
  if (!limit) limit = lower_of(bmc.upper_caution, bmc.upper_caution_user);
  if (!limit && critical) limit = *critical - fallback_margin;
  if (critical) out.critical = *critical;
  if (limit) out.limit = std::min(*limit, out.critical);
  return out;
}

}  // namespace railyard::policy
