#pragma once
// The connection data two daemons exchange for one RC QP (one peer, one
// rail): QP number, starting PSN, GID/LID, path MTU, and every region the
// sender lets this peer write, with its address and rkey on this rail's
// device. The daemon carries the encoded bytes inside its authenticated peer
// session (HMAC-SHA256 handshake, fabric/session_auth.h); this codec does not
// authenticate anything. It validates strictly, so a truncated, corrupted or
// inconsistent message is refused with the reason, never half-applied, and
// binds the message to (sender node, receiver node, rail, epoch) so one meant
// for another rail, another host or an older QP is refused.
//
// Wire layout (big-endian), version 1:
//   0  "RYVC"            4  version (1)     5  kind (1 connect, 2 regions)
//   6  rail              7  flags (0)       8  sender node id (u64)
//  16  receiver node id (u64)              24  epoch (u64): the sender's QP generation
//  32  peer epoch (u64): the receiver's QP generation the sender's QP is now
//      connected to (in RTR or RTS), 0 if none. It tells the receiver that it
//      may start writing, so no WRITE reaches a QP that is not yet in RTR.
//  40  qpn (u32, 24 bits)                  44  psn (u32, 24 bits)
//  48  gid (16 bytes)                      64  lid (u16)
//  66  path mtu (1..5)  67  link layer (0 InfiniBand, 1 Ethernet)
//  68  region count (u16)                  70  reserved (u16, 0)
//  72  regions: count x { id u32, rkey u32, address u64, length u64 } (24 bytes each,
//      ids strictly increasing)
//  end crc32c (u32) of everything before it: catches corruption, not forgery.
// A `regions` message updates the receiver's view of the sender's regions (and
// readiness) on an established QP; its QP fields (qpn .. link layer) are zero.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "drivers/nic/verbs/verbs_ops.h"

namespace railyard::verbs {

inline constexpr uint8_t kConnVersion = 1;
inline constexpr size_t kConnHeaderSize = 72;
inline constexpr size_t kConnRegionSize = 24;
inline constexpr size_t kConnTrailerSize = 4;
/// Region ids are 1..kMaxRegionId (the daemon's RegionTable holds 256 slots).
inline constexpr uint32_t kMaxRegionId = 255;
inline constexpr size_t kMaxConnRegions = kMaxRegionId;
inline constexpr size_t kMaxConnMessage = kConnHeaderSize + kMaxConnRegions * kConnRegionSize + kConnTrailerSize;
inline constexpr uint32_t kMaxQpn = 0xffffff;
inline constexpr uint32_t kMaxPsn = 0xffffff;

enum class ConnKind : uint8_t { connect = 1, regions = 2 };

struct RemoteRegion {
  uint32_t id = 0;
  uint32_t rkey = 0;
  uint64_t addr = 0;
  uint64_t length = 0;
};

struct ConnectionData {
  ConnKind kind = ConnKind::connect;
  uint8_t rail = 0;
  uint64_t sender_node = 0;
  uint64_t receiver_node = 0;
  uint64_t epoch = 0;
  uint64_t peer_epoch = 0;
  uint32_t qpn = 0;
  uint32_t psn = 0;
  Gid gid{};
  uint16_t lid = 0;
  PathMtu mtu = PathMtu::mtu1024;
  LinkLayer link_layer = LinkLayer::ethernet;
  std::vector<RemoteRegion> regions;  ///< sorted by id, unique
};

enum class ConnError : uint8_t {
  ok,
  too_short,
  too_long,
  bad_magic,
  bad_version,
  bad_kind,
  bad_flags,
  bad_length,        ///< size disagrees with the region count
  bad_checksum,
  bad_qpn,
  bad_psn,
  bad_mtu,
  bad_link_layer,
  bad_address,       ///< zero GID on Ethernet, zero LID on InfiniBand
  bad_region,        ///< id out of range or not increasing, empty, or address + length overflows
  wrong_sender,      ///< bind(): not from the peer this QP belongs to
  wrong_receiver,    ///< bind(): meant for another node
  wrong_rail,        ///< bind(): meant for another rail
  stale_epoch,       ///< bind(): epoch 0, or a regions update for another QP of that peer
  unexpected,        ///< valid, but not acceptable in the connection's current state
};
std::string_view conn_error_name(ConnError e);

/// Appends the encoded message to `out` (cleared first). The caller passes
/// valid data (sorted unique regions, 24-bit qpn/psn): encode asserts it.
void encode(const ConnectionData& data, std::vector<std::byte>& out);

/// Parses and validates `bytes` into `out`. On error `out` is unspecified.
ConnError decode(std::span<const std::byte> bytes, ConnectionData& out);

/// What the receiver expects of a message for (peer, rail).
struct ConnBinding {
  uint64_t local_node = 0;
  uint64_t peer_node = 0;
  uint8_t rail = 0;
  /// For a `regions` message: the epoch of the connect message accepted for
  /// the current QP (0: none yet, every `regions` message is stale).
  uint64_t connected_epoch = 0;
};
ConnError bind(const ConnectionData& data, const ConnBinding& expect);

}  // namespace railyard::verbs
