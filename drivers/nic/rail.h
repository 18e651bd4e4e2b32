#pragma once
// A rail: one NIC path between this host and its peers. The fabric drives
// rails only through this burst interface, so a virtual call is paid per
// burst, never per packet (eRPC's Transport, Seastar's qp). Drivers: udp
// (kernel sockets), dpdk, verbs.
//
// Threading: a rail is owned by one data-plane thread; every method but
// name()/driver() is called from that thread only.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace railyard::nic {

enum class LinkState : uint8_t { unknown, up, down };

/// Index of a peer in the rail's neighbour table (set up from config).
using PeerSlot = uint16_t;
inline constexpr PeerSlot kUnknownPeer = 0xffff;

/// One datagram to send: the fabric header, built in the caller's buffer, and
/// the payload, which points into a registered region. The driver gathers the
/// two (iovec, mbuf chain, external buffer): the payload is never copied by
/// the fabric. Both spans stay valid until tx_burst returns.
struct TxFrame {
  std::span<const std::byte> header;
  std::span<const std::byte> payload;
  PeerSlot peer = kUnknownPeer;
};

/// ECN in the IPv4 header's TOS byte (RFC 3168), as the rails write and read
/// it: ECT(0) on what they send, CE reported in RxFrame::ecn_ce.
inline constexpr uint8_t kEcnMask = 0x03;
inline constexpr uint8_t kEct0 = 0x02;
inline constexpr uint8_t kEcnCe = 0x03;

/// One received datagram (fabric header and payload), in a driver-owned
/// buffer valid until the next rx_burst on this rail.
struct RxFrame {
  std::span<const std::byte> bytes;
  PeerSlot peer = kUnknownPeer;  // kUnknownPeer: the source is no configured peer
  bool ecn_ce = false;           // the IP header carried a Congestion Experienced mark
};

struct RailCounters {
  uint64_t tx_frames = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_would_block = 0;  // frames refused because the NIC/socket queue was full
  uint64_t tx_errors = 0;
  uint64_t rx_frames = 0;
  uint64_t rx_bytes = 0;
  uint64_t rx_errors = 0;
  uint64_t rx_unknown_source = 0;  // datagrams from addresses that are no peer of this rail
  uint64_t rx_ecn_ce = 0;
};

class Rail {
 public:
  virtual ~Rail() = default;

  virtual std::string_view name() const = 0;
  virtual std::string_view driver() const = 0;

  /// Sends as many of `frames` as the device takes now, in order; returns that
  /// count. The rest should be offered again later (or on another rail).
  virtual size_t tx_burst(std::span<const TxFrame> frames) = 0;

  /// Receives up to frames.size() datagrams without blocking; returns the count.
  virtual size_t rx_burst(std::span<RxFrame> frames) = 0;

  virtual LinkState link_state() const = 0;

  /// Largest datagram (fabric header + payload) this rail carries unfragmented.
  virtual size_t max_datagram() const = 0;

  virtual RailCounters counters() const = 0;

  /// A descriptor that polls readable when rx_burst has work, for sleeping
  /// when idle; -1 when the driver cannot offer one.
  virtual int wait_fd() const = 0;
};

}  // namespace railyard::nic
