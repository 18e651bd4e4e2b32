#include "drivers/nic/verbs/device.h"

#include <fmt/format.h>

namespace railyard::verbs {
namespace {

std::string_view type_name(GidType t) {
  switch (t) {
    case GidType::ib: return "IB";
    case GidType::roce_v1: return "RoCEv1";
    case GidType::roce_v2: return "RoCEv2";
    case GidType::other: break;
  }
  return "other";
}

std::string describe(std::span<const GidEntry> gids) {
  if (gids.empty()) return "the GID table is empty";
  std::string s = "GID table:";
  for (const GidEntry& g : gids)
    s += fmt::format(" [{}] {} {} ifindex {};", g.index, format_gid(g.gid), type_name(g.type), g.netdev_ifindex);
  s.pop_back();
  return s;
}

}  // namespace

bool is_ipv4_mapped(const Gid& g) {
  for (int i = 0; i < 10; ++i)
    if (g[static_cast<size_t>(i)] != 0) return false;
  return g[10] == 0xff && g[11] == 0xff;
}

std::string format_gid(const Gid& g) {
  if (is_ipv4_mapped(g)) return fmt::format("::ffff:{}.{}.{}.{}", g[12], g[13], g[14], g[15]);
  std::string s;
  for (size_t i = 0; i < g.size(); i += 2) {
    if (i) s += ':';
    s += fmt::format("{:02x}{:02x}", g[i], g[i + 1]);
  }
  return s;
}

std::optional<GidChoice> select_gid(const PortInfo& port, std::span<const GidEntry> gids, int gid_index,
                                    uint32_t netdev_ifindex, std::string& why) {
  if (gid_index >= 0) {
    for (const GidEntry& g : gids)
      if (g.index == static_cast<uint32_t>(gid_index)) return GidChoice{g.index, g.gid, g.type};
    why = fmt::format("gid_index {} is not a valid entry of the port ({} entries); {}", gid_index,
                      port.gid_table_len, describe(gids));
    return std::nullopt;
  }
  if (port.link_layer == LinkLayer::infiniband) {
    for (const GidEntry& g : gids)
      if (g.index == 0) return GidChoice{g.index, g.gid, g.type};
    why = fmt::format("InfiniBand port has no GID 0; {}", describe(gids));
    return std::nullopt;
  }
  for (const GidEntry& g : gids) {
    if (g.type != GidType::roce_v2 || !is_ipv4_mapped(g.gid)) continue;
    if (netdev_ifindex != 0 && g.netdev_ifindex != netdev_ifindex) continue;
    return GidChoice{g.index, g.gid, g.type};
  }
  why = netdev_ifindex != 0
            ? fmt::format("no RoCE v2 GID with an IPv4 address on ifindex {} (give the netdev an IPv4 address or "
                          "set gid_index); {}",
                          netdev_ifindex, describe(gids))
            : fmt::format("no RoCE v2 GID with an IPv4 address on the port (set netdev or gid_index); {}",
                          describe(gids));
  return std::nullopt;
}

std::optional<std::string> select_device(std::span<const DeviceInfo> devices, const std::string& wanted,
                                         std::string& why) {
  std::string names;
  for (const DeviceInfo& d : devices) names += (names.empty() ? "" : ", ") + d.name;
  if (devices.empty()) {
    why = "no RDMA device: ibv_get_device_list returned 0 devices";
    return std::nullopt;
  }
  if (wanted.empty()) {
    if (devices.size() == 1) return devices[0].name;
    why = fmt::format("several RDMA devices ({}): set device", names);
    return std::nullopt;
  }
  for (const DeviceInfo& d : devices)
    if (d.name == wanted) return d.name;
  why = fmt::format("no RDMA device named {} (present: {})", wanted, names);
  return std::nullopt;
}

}  // namespace railyard::verbs
