#pragma once
// The DPDK rail's neighbours: each configured peer's IPv4 address and UDP
// port (which PeerSlot a datagram comes from) and its MAC address (where a
// datagram goes), static from config or resolved by ARP with retries.
// Pure logic with time passed in (nanoseconds, any monotonic origin); the rail
// sends the ARP requests this table asks for and feeds it the ARP it hears.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "drivers/nic/dpdk/frames.h"
#include "drivers/nic/rail.h"

namespace railyard::nic::dpdk {

struct NeighbourConfig {
  PeerSlot slot = kUnknownPeer;
  uint32_t ip = 0;  // host order
  uint16_t port = 0;
  std::optional<MacAddress> mac;  // static: never resolved by ARP, never replaced
};

enum class NeighbourState : uint8_t {
  absent,      // no such slot on this rail
  static_mac,  // from config
  resolving,   // ARP requests sent, no answer yet (fewer than unresolved_after)
  unresolved,  // unresolved_after requests went unanswered; still retried
  resolved,    // learned from ARP
};

struct NeighbourTiming {
  uint64_t first_retry_ns = 100'000'000;   // the second request, 100 ms after the first
  uint64_t max_retry_ns = 2'000'000'000;   // retries back off (doubling) to this
  uint64_t refresh_ns = 60'000'000'000;    // a resolved entry is asked again this often
  uint32_t unresolved_after = 3;           // requests without an answer before the state says unresolved
};

struct NeighbourInfo {
  PeerSlot slot = kUnknownPeer;
  uint32_t ip = 0;
  uint16_t port = 0;
  NeighbourState state = NeighbourState::absent;
  MacAddress mac;           // zero while unknown
  uint32_t requests = 0;    // ARP requests sent for this address since it last answered
};

class NeighbourTable {
 public:
  /// Throws std::invalid_argument for a slot listed twice, kUnknownPeer as a
  /// slot, two slots with the same address and port, a zero address or port,
  /// or two different static MACs for one address.
  explicit NeighbourTable(std::span<const NeighbourConfig> peers, NeighbourTiming timing = {});

  NeighbourState state(PeerSlot slot) const;
  /// The MAC to send to, or nullptr while unresolved (or no such slot).
  const MacAddress* mac(PeerSlot slot) const;
  /// Where frames to `slot` go; ip 0 when there is no such slot, mac nullptr
  /// while the MAC is not known.
  struct Destination {
    uint32_t ip = 0;
    uint16_t port = 0;
    const MacAddress* mac = nullptr;
  };
  Destination destination(PeerSlot slot) const;
  /// The peer a datagram from ip:port belongs to, or kUnknownPeer.
  PeerSlot slot_of(uint32_t ip, uint16_t port) const;

  /// Any ARP packet from `ip` (request or reply) tells its MAC; static entries
  /// keep theirs. Returns true when an entry changed.
  bool learn(uint32_t ip, const MacAddress& mac, uint64_t now);

  /// Addresses that need an ARP request now (each once, however many slots
  /// share it), written to `out`; their next request is scheduled.
  size_t due_requests(uint64_t now, std::span<uint32_t> out);
  /// When due_requests has something next (UINT64_MAX: never).
  uint64_t next_due() const { return next_due_; }
  /// Asks for `slot`'s address at the next due_requests, unless one was sent
  /// within first_retry_ns (a frame to it was just refused).
  void hurry(PeerSlot slot, uint64_t now);

  size_t unresolved_count() const;  // slots in resolving or unresolved
  std::vector<NeighbourInfo> snapshot() const;

 private:
  struct Host {  // one IPv4 address; several slots may share it (different ports)
    uint32_t ip = 0;
    MacAddress mac;
    NeighbourState state = NeighbourState::resolving;
    uint32_t requests = 0;
    uint64_t next_request = 0;  // 0: at once
    uint64_t last_request = 0;
    uint64_t backoff = 0;
  };
  struct Source {
    uint64_t key;  // ip << 16 | port
    PeerSlot slot;
  };
  void recompute_next_due();

  NeighbourTiming timing_;
  std::vector<Host> hosts_;
  std::vector<int32_t> host_of_slot_;  // -1: no such slot
  std::vector<uint16_t> port_of_slot_;
  std::vector<Source> sources_;        // sorted by key
  uint64_t next_due_ = 0;
};

}  // namespace railyard::nic::dpdk
