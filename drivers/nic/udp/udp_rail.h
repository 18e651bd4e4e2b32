#pragma once
// The kernel UDP rail: one non-blocking UDP socket bound to the rail's
// interface and address, driven with one sendmmsg/recvmmsg per burst, UDP GSO
// on the way out and UDP GRO on the way in (a peer's same-size datagrams come
// up as one buffer, cut here). The portable driver, and the fallback in
// production where DPDK or verbs are not available.
//
// Data path (tx_burst, rx_burst): no allocation, no locks, no exceptions, one
// syscall per burst; failures are counted in RailCounters. Opening throws
// std::runtime_error naming the rail, interface and address and what to fix.

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "drivers/nic/rail.h"

namespace railyard::nic {

class LinkMonitor;

/// One neighbour of a UDP rail: the peer's address on this rail.
struct UdpPeer {
  PeerSlot slot = kUnknownPeer;  // the fabric's index of the peer (any value but kUnknownPeer)
  std::string address;           // IPv4, dotted quad
  uint16_t port = 0;
};

struct UdpRailConfig {
  std::string name;       // rail name, for logs and errors ("r0")
  std::string interface;  // the socket is bound to it (SO_BINDTODEVICE)
  std::string address;    // local IPv4 address; must be on `interface`
  uint16_t port = 0;      // local UDP port; 0 lets the kernel pick (see UdpRail::local_port)
  std::vector<UdpPeer> peers;
  int send_buffer = 0;     // SO_SNDBUF bytes; 0 keeps the kernel default
  int receive_buffer = 0;  // SO_RCVBUF bytes; 0 keeps the kernel default
  uint16_t burst = 32;     // most datagrams per sendmmsg/recvmmsg, 1..1024
  uint8_t dscp = 0;        // DSCP for outgoing datagrams; ECN is always ECT(0)
  /// UDP GSO: consecutive same-size frames to one peer leave as one
  /// UDP_SEGMENT super-datagram (the kernel or NIC cuts it). Turned off at run
  /// time if the device refuses it.
  bool gso = true;
  /// UDP GRO: the kernel may deliver a peer's consecutive same-size datagrams
  /// as one buffer (a GSO super-datagram that crossed a veth whole, or what a
  /// NIC's GRO merged), which rx_burst cuts back into datagrams: one copy and
  /// one socket queue entry for up to 64 datagrams. Off where the kernel lacks it.
  bool gro = true;
};

/// The syscalls of the data path, replaceable in tests (a constructor
/// argument rather than a testing flag); production uses the defaults.
struct UdpSyscalls {
  int (*sendmmsg)(int fd, mmsghdr* msgs, unsigned count, int flags) = &::sendmmsg;
  int (*recvmmsg)(int fd, mmsghdr* msgs, unsigned count, int flags, timespec* timeout) = &::recvmmsg;
};

/// Extra counters beside RailCounters.
struct UdpRailStats {
  uint64_t tx_gso_messages = 0;  // super-datagrams sent with UDP_SEGMENT
  uint64_t tx_syscalls = 0;      // sendmmsg calls that were made
  uint64_t rx_truncated = 0;     // datagrams larger than max_datagram() (also in rx_errors)
  uint64_t rx_gro_messages = 0;  // receives that held several datagrams (UDP_GRO)
  uint64_t rx_syscalls = 0;      // recvmmsg calls that returned datagrams
  bool gso_active = false;
  bool gro_active = false;
};

class UdpRail final : public Rail {
 public:
  /// Opens the socket. `links` (optional) supplies link_state(); without it
  /// link_state() is LinkState::unknown. Throws std::runtime_error.
  explicit UdpRail(const UdpRailConfig& config, LinkMonitor* links = nullptr, UdpSyscalls calls = {});
  ~UdpRail() override;
  UdpRail(const UdpRail&) = delete;
  UdpRail& operator=(const UdpRail&) = delete;

  std::string_view name() const override { return name_; }
  std::string_view driver() const override { return "udp"; }
  size_t tx_burst(std::span<const TxFrame> frames) override;
  size_t rx_burst(std::span<RxFrame> frames) override;
  LinkState link_state() const override;
  size_t max_datagram() const override { return max_datagram_; }
  RailCounters counters() const override { return counters_; }
  int wait_fd() const override { return fd_; }

  /// The bound port (useful when the config asked for port 0).
  uint16_t local_port() const { return local_port_; }
  int ifindex() const { return ifindex_; }
  UdpRailStats stats() const;

 private:
  struct SourceKey {
    uint64_t key;  // address << 16 | port, host order
    PeerSlot slot;
  };
  const sockaddr_in* peer_address(PeerSlot slot) const;
  PeerSlot peer_of(const sockaddr_in& from) const;
  void open_socket(const UdpRailConfig& config, in_addr local);
  /// Reads what the kernel said of receive `j`: its source, CE mark and GRO segment size.
  void take_message(unsigned j);

  std::string name_;
  std::string interface_;
  int fd_ = -1;
  int ifindex_ = 0;
  uint16_t local_port_ = 0;
  size_t max_datagram_ = 0;
  unsigned burst_ = 0;
  bool gso_ = false;
  bool gro_ = false;
  UdpSyscalls calls_;
  const std::atomic<LinkState>* link_ = nullptr;

  // Neighbours: dense by slot for sending, sorted by source for receiving.
  std::vector<sockaddr_in> peer_by_slot_;  // sin_family == 0: no such peer
  std::vector<SourceKey> slot_by_source_;

  // Preallocated per-burst state, reused on every call.
  std::vector<mmsghdr> tx_msgs_;
  std::vector<iovec> tx_iov_;
  std::vector<size_t> tx_first_;  // first frame index of each message
  std::vector<uint32_t> tx_segments_;
  std::vector<size_t> tx_bytes_;
  std::unique_ptr<std::byte[]> tx_control_;

  std::vector<mmsghdr> rx_msgs_;
  std::vector<iovec> rx_iov_;
  std::vector<sockaddr_in> rx_from_;
  std::unique_ptr<std::byte[]> rx_control_;
  std::unique_ptr<std::byte[]> rx_ring_;  // rx_slots_ × rx_slot_ bytes
  size_t rx_slot_ = 0;    // max_datagram(), or a whole UDP payload with GRO
  unsigned rx_slots_ = 0; // receives per recvmmsg
  // Datagrams of the last recvmmsg not yet handed out (GRO buffers can hold
  // more than a caller's burst): message `rx_next_` from byte `rx_offset_`.
  unsigned rx_got_ = 0;
  unsigned rx_next_ = 0;
  size_t rx_offset_ = 0;
  struct RxMessage {
    size_t length = 0;
    size_t segment = 0;  // GRO segment size; the whole length when not coalesced
    PeerSlot peer = kUnknownPeer;
    bool ce = false;
    bool truncated = false;
  } rx_current_;

  RailCounters counters_;
  UdpRailStats stats_;
};

}  // namespace railyard::nic
