#pragma once
// Device, port and GID selection for one verbs rail. Pure functions over what
// VerbsOps reports, so every rule is unit-tested without hardware.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "drivers/nic/verbs/verbs_ops.h"

namespace railyard::verbs {

/// One `[[rail]] driver = "verbs"` entry (see docs/VERBS.md).
struct RailDeviceConfig {
  std::string name;        ///< the rail's name in logs and counters
  std::string device;      ///< e.g. "mlx5_0", "rxe0"; empty: the only device present
  uint8_t port = 1;
  int gid_index = -1;      ///< -1: choose by netdev (RoCE v2, IPv4-mapped)
  std::string netdev;      ///< the rail's interface, for GID selection on RoCE
  uint32_t netdev_ifindex = 0;  ///< resolved from netdev by the caller (if_nametoindex)
};

struct GidChoice {
  uint32_t index = 0;
  Gid gid{};
  GidType type = GidType::other;
};

/// True for ::ffff:a.b.c.d.
bool is_ipv4_mapped(const Gid& gid);

/// Picks the GID of a port. InfiniBand: the configured index, else 0.
/// Ethernet (RoCE): the configured index if it is present in the table;
/// otherwise the RoCE v2 entry attached to `netdev_ifindex` whose GID is an
/// IPv4-mapped address (lowest index first); with no ifindex, the first RoCE
/// v2 IPv4-mapped entry of the port. On failure returns nullopt and says why,
/// listing the table.
std::optional<GidChoice> select_gid(const PortInfo& port, std::span<const GidEntry> gids, int gid_index,
                                    uint32_t netdev_ifindex, std::string& why);

/// Picks the device by name (or the only one when `wanted` is empty).
std::optional<std::string> select_device(std::span<const DeviceInfo> devices, const std::string& wanted,
                                         std::string& why);

std::string format_gid(const Gid& gid);

}  // namespace railyard::verbs
