#include "drivers/nic/verbs/conn_data.h"

#include <cassert>
#include <cstring>

#include "fabric/checksum.h"

namespace railyard::verbs {
namespace {

constexpr std::byte kMagic[4] = {std::byte{'R'}, std::byte{'Y'}, std::byte{'V'}, std::byte{'C'}};

void put(std::vector<std::byte>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}

uint64_t get(std::span<const std::byte> in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | std::to_integer<uint64_t>(in[at + static_cast<size_t>(i)]);
  return v;
}

bool all_zero(const Gid& g) {
  for (uint8_t b : g)
    if (b != 0) return false;
  return true;
}

}  // namespace

std::string_view conn_error_name(ConnError e) {
  switch (e) {
    case ConnError::ok: return "ok";
    case ConnError::too_short: return "message too short";
    case ConnError::too_long: return "message too long";
    case ConnError::bad_magic: return "bad magic";
    case ConnError::bad_version: return "unsupported version";
    case ConnError::bad_kind: return "unknown message kind";
    case ConnError::bad_flags: return "reserved bits set";
    case ConnError::bad_length: return "length does not match the region count";
    case ConnError::bad_checksum: return "checksum mismatch";
    case ConnError::bad_qpn: return "QP number out of range";
    case ConnError::bad_psn: return "PSN out of range";
    case ConnError::bad_mtu: return "path MTU out of range";
    case ConnError::bad_link_layer: return "unknown link layer";
    case ConnError::bad_address: return "no usable address (zero GID on Ethernet or zero LID on InfiniBand)";
    case ConnError::bad_region: return "invalid region entry";
    case ConnError::wrong_sender: return "not from the expected peer";
    case ConnError::wrong_receiver: return "addressed to another node";
    case ConnError::wrong_rail: return "for another rail";
    case ConnError::stale_epoch: return "stale epoch";
    case ConnError::unexpected: return "not expected in the connection's state";
  }
  return "unknown";
}

void encode(const ConnectionData& d, std::vector<std::byte>& out) {
  assert(d.qpn <= kMaxQpn && d.psn <= kMaxPsn && d.regions.size() <= kMaxConnRegions);
  out.clear();
  out.reserve(kConnHeaderSize + d.regions.size() * kConnRegionSize + kConnTrailerSize);
  for (std::byte b : kMagic) out.push_back(b);
  put(out, kConnVersion, 1);
  put(out, static_cast<uint8_t>(d.kind), 1);
  put(out, d.rail, 1);
  put(out, 0, 1);
  put(out, d.sender_node, 8);
  put(out, d.receiver_node, 8);
  put(out, d.epoch, 8);
  put(out, d.peer_epoch, 8);
  const bool qp = d.kind == ConnKind::connect;
  put(out, qp ? d.qpn : 0, 4);
  put(out, qp ? d.psn : 0, 4);
  for (uint8_t b : d.gid) put(out, qp ? b : 0, 1);
  put(out, qp ? d.lid : 0, 2);
  put(out, qp ? static_cast<uint8_t>(d.mtu) : 0, 1);
  put(out, qp ? (d.link_layer == LinkLayer::ethernet ? 1 : 0) : 0, 1);
  put(out, d.regions.size(), 2);
  put(out, 0, 2);
  uint32_t prev = 0;
  for (const RemoteRegion& r : d.regions) {
    assert(r.id > prev && r.id <= kMaxRegionId);
    prev = r.id;
    put(out, r.id, 4);
    put(out, r.rkey, 4);
    put(out, r.addr, 8);
    put(out, r.length, 8);
  }
  put(out, fabric::crc32c(out), 4);
}

ConnError decode(std::span<const std::byte> in, ConnectionData& d) {
  if (in.size() < kConnHeaderSize + kConnTrailerSize) return ConnError::too_short;
  if (in.size() > kMaxConnMessage) return ConnError::too_long;
  if (std::memcmp(in.data(), kMagic, sizeof kMagic) != 0) return ConnError::bad_magic;
  if (get(in, 4, 1) != kConnVersion) return ConnError::bad_version;
  const uint64_t kind = get(in, 5, 1);
  if (kind != static_cast<uint8_t>(ConnKind::connect) && kind != static_cast<uint8_t>(ConnKind::regions))
    return ConnError::bad_kind;
  if (get(in, 7, 1) != 0 || get(in, 70, 2) != 0) return ConnError::bad_flags;
  const size_t count = get(in, 68, 2);
  if (count > kMaxConnRegions || in.size() != kConnHeaderSize + count * kConnRegionSize + kConnTrailerSize)
    return ConnError::bad_length;
  const size_t body = in.size() - kConnTrailerSize;
  if (fabric::crc32c(in.first(body)) != get(in, body, 4)) return ConnError::bad_checksum;

  d.kind = static_cast<ConnKind>(kind);
  d.rail = static_cast<uint8_t>(get(in, 6, 1));
  d.sender_node = get(in, 8, 8);
  d.receiver_node = get(in, 16, 8);
  d.epoch = get(in, 24, 8);
  d.peer_epoch = get(in, 32, 8);
  const uint64_t qpn = get(in, 40, 4);
  const uint64_t psn = get(in, 44, 4);
  for (size_t i = 0; i < d.gid.size(); ++i) d.gid[i] = static_cast<uint8_t>(get(in, 48 + i, 1));
  d.lid = static_cast<uint16_t>(get(in, 64, 2));
  const uint64_t mtu = get(in, 66, 1);
  const uint64_t link = get(in, 67, 1);
  if (d.kind == ConnKind::connect) {
    if (qpn == 0 || qpn > kMaxQpn) return ConnError::bad_qpn;
    if (psn > kMaxPsn) return ConnError::bad_psn;
    if (mtu < 1 || mtu > 5) return ConnError::bad_mtu;
    if (link > 1) return ConnError::bad_link_layer;
    d.link_layer = link == 1 ? LinkLayer::ethernet : LinkLayer::infiniband;
    if (d.link_layer == LinkLayer::ethernet ? all_zero(d.gid) : d.lid == 0) return ConnError::bad_address;
    d.mtu = static_cast<PathMtu>(mtu);
  } else {
    // A regions update carries no QP: every QP field must be zero.
    if (qpn != 0) return ConnError::bad_qpn;
    if (psn != 0) return ConnError::bad_psn;
    if (mtu != 0) return ConnError::bad_mtu;
    if (link != 0) return ConnError::bad_link_layer;
    if (!all_zero(d.gid) || d.lid != 0) return ConnError::bad_address;
  }
  d.qpn = static_cast<uint32_t>(qpn);
  d.psn = static_cast<uint32_t>(psn);

  d.regions.clear();
  d.regions.reserve(count);
  uint32_t prev = 0;
  for (size_t i = 0; i < count; ++i) {
    const size_t at = kConnHeaderSize + i * kConnRegionSize;
    RemoteRegion r{.id = static_cast<uint32_t>(get(in, at, 4)),
                   .rkey = static_cast<uint32_t>(get(in, at + 4, 4)),
                   .addr = get(in, at + 8, 8),
                   .length = get(in, at + 16, 8)};
    if (r.id <= prev || r.id > kMaxRegionId || r.length == 0 || r.addr + r.length < r.addr)
      return ConnError::bad_region;
    prev = r.id;
    d.regions.push_back(r);
  }
  return ConnError::ok;
}

ConnError bind(const ConnectionData& d, const ConnBinding& e) {
  if (d.sender_node != e.peer_node) return ConnError::wrong_sender;
  if (d.receiver_node != e.local_node) return ConnError::wrong_receiver;
  if (d.rail != e.rail) return ConnError::wrong_rail;
  if (d.epoch == 0) return ConnError::stale_epoch;
  if (d.kind == ConnKind::regions && (e.connected_epoch == 0 || d.epoch != e.connected_epoch))
    return ConnError::stale_epoch;
  return ConnError::ok;
}

}  // namespace railyard::verbs
