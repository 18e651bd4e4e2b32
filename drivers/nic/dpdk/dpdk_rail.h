#pragma once
// The DPDK rail: one DPDK port (a PCI NIC, or an af_xdp / af_packet vdev on a
// kernel interface) with one RX and one TX queue, carrying the fabric's
// datagrams in Ethernet/IPv4/UDP exactly as the kernel UDP rail does, so DPDK
// hosts and UDP-driver hosts share rails. A drop-in nic::Rail; see
// drivers/nic/dpdk/README.md for PMD support, idle behaviour and lcore pinning.
//
// Data path (tx_burst, rx_burst): no allocation, no locks, no exceptions, no
// system calls except what the PMD makes (af_packet/af_xdp kick the kernel);
// failures are counted. ARP (answers, requests with retries), link polling and
// the neighbour table run inside rx_burst, on the data-plane thread.
//
// Opening throws std::runtime_error naming the rail and device and what to fix.
// DPDK headers stay out of this header: the daemon includes it freely.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "drivers/nic/dpdk/dpdk_config.h"
#include "drivers/nic/dpdk/frames.h"
#include "drivers/nic/dpdk/neighbours.h"
#include "drivers/nic/rail.h"

struct rte_mbuf;
struct rte_mempool;
struct rte_mbuf_ext_shared_info;

namespace railyard::nic {

class DpdkEnv;
class LinkMonitor;

/// How an idle data plane can sleep on this rail (wait_fd()).
enum class DpdkWaitMode : uint8_t {
  none,          // wait_fd() is -1: poll rx_burst with an adaptive sleep
  rx_interrupt,  // the PMD's RX queue interrupt (PCI NICs with interrupt support)
  pmd_socket,    // the vdev's own kernel socket (AF_XDP / AF_PACKET ring), readable when frames wait
};
std::string_view wait_mode_name(DpdkWaitMode mode);

/// Counters beside RailCounters, and what the port turned out to offer.
struct DpdkRailStats {
  uint64_t tx_zero_copy = 0;    // frames whose payload went as an external buffer (no copy)
  uint64_t tx_copied = 0;       // frames whose payload was copied into the mbuf
  uint64_t tx_unresolved = 0;   // frames refused (not taken) because the peer's MAC is unknown
  uint64_t tx_no_mbuf = 0;      // bursts cut short by an empty mempool (frames also in tx_would_block)
  uint64_t arp_received = 0;
  uint64_t arp_requests_sent = 0;
  uint64_t arp_replies_sent = 0;
  uint64_t arp_tx_failed = 0;
  uint64_t rx_not_for_us = 0;     // IPv4/UDP to another address or port
  uint64_t rx_other = 0;          // other EtherTypes or protocols (IPv6, LLDP, ICMP, ...)
  uint64_t rx_bad_checksum = 0;   // also counted in rx_errors
  uint64_t rx_partial_checksum = 0;  // accepted with the pseudo-header sum only (a local kernel sender on veth)
  uint64_t rx_malformed = 0;      // truncated, bad headers, fragments, multi-segment; also in rx_errors
  uint64_t port_imissed = 0, port_ierrors = 0, port_rx_nombuf = 0, port_oerrors = 0;  // rte_eth_stats
  bool zero_copy_tx = false;        // the port takes multi-segment TX and zero_copy_tx is on
  bool tx_checksum_offload = false; // IPv4 and UDP checksums computed by the port
  bool rx_checksum_offload = false; // the port reports IPv4/UDP checksum status on RX
  DpdkWaitMode wait_mode = DpdkWaitMode::none;
  size_t unresolved_neighbours = 0;
};

struct DpdkXstat {
  std::string name;
  uint64_t value = 0;
};

class DpdkRail final : public Rail {
 public:
  /// Probes (or finds) the port, configures and starts it. `links` (optional)
  /// supplies the kernel interface's state for vdevs; without it the rail
  /// reads the interface flags itself every link_poll_ms. Throws
  /// std::runtime_error. The calling thread must be in the network namespace
  /// of the vdev's interface.
  DpdkRail(std::shared_ptr<DpdkEnv> env, const DpdkRailConfig& config, LinkMonitor* links = nullptr);
  ~DpdkRail() override;
  DpdkRail(const DpdkRail&) = delete;
  DpdkRail& operator=(const DpdkRail&) = delete;

  std::string_view name() const override { return name_; }
  std::string_view driver() const override { return "dpdk"; }
  size_t tx_burst(std::span<const TxFrame> frames) override;
  size_t rx_burst(std::span<RxFrame> frames) override;
  LinkState link_state() const override;
  size_t max_datagram() const override { return max_datagram_; }
  RailCounters counters() const override;
  int wait_fd() const override { return wait_fd_; }

  /// The rail's link to one peer: down while its MAC is unresolved (frames to
  /// it are refused), else link_state(). The data plane can feed this to the
  /// peer's sender per rail, so traffic avoids the rail instead of bouncing.
  LinkState peer_link(PeerSlot slot) const;
  std::vector<dpdk::NeighbourInfo> neighbours() const { return neighbours_.snapshot(); }
  DpdkRailStats stats() const;
  /// The port's extended statistics (rte_eth_xstats), name and value.
  std::vector<DpdkXstat> xstats() const;

  uint16_t port_id() const { return port_; }
  std::string_view device() const { return device_; }
  std::string_view pmd() const { return pmd_; }  // "net_af_xdp", "net_af_packet", "net_ice", ...
  const dpdk::MacAddress& mac() const { return mac_; }
  uint16_t mtu() const { return mtu_; }
  uint32_t address() const { return ip_; }
  uint16_t local_port() const { return udp_port_; }

  /// PCI ports: makes payloads inside `region` eligible for zero-copy TX by
  /// registering it with the EAL and DMA-mapping it for the device (IOVA as
  /// VA only). Not needed for vdevs (their PMDs copy with the CPU). False,
  /// with a log line, when the port or the EAL cannot. Control thread, while
  /// the data plane is not sending from the region.
  bool add_dma_region(std::span<std::byte> region);
  void remove_dma_region(std::span<std::byte> region);

 private:
  struct DmaRegion {
    uintptr_t begin, end;
  };
  void open(const DpdkRailConfig& config);
  void release();
  void housekeeping(uint64_t now);
  void poll_link();
  void handle_arp(const dpdk::ArpPacket& arp, uint64_t now);
  bool send_arp(const dpdk::MacAddress& eth_dst, const dpdk::ArpPacket& arp);
  bool zero_copy_eligible(std::span<const std::byte> payload) const;

  std::shared_ptr<DpdkEnv> env_;
  std::string name_;
  std::string device_;
  std::string pmd_;
  std::string iface_;  // vdevs on a kernel interface
  uint16_t port_ = 0;
  uint64_t owner_ = 0;
  bool probed_ = false;   // this rail hot-plugged the device (and removes it)
  bool started_ = false;
  bool pci_ = false;
  uint16_t mtu_ = 0;
  size_t max_datagram_ = 0;
  unsigned burst_ = 0;
  dpdk::MacAddress mac_;
  uint32_t ip_ = 0;
  uint16_t udp_port_ = 0;
  uint8_t tos_ = kEct0;
  uint16_t ip_id_ = 0;
  bool zero_copy_ = false;
  bool rx_offload_ = false;
  dpdk::ChecksumMode tx_checksum_ = dpdk::ChecksumMode::software;  // offload when the port computes them
  dpdk::ParseOptions rx_parse_;  // before the port's RX checksum flags are applied
  DpdkWaitMode wait_mode_ = DpdkWaitMode::none;
  int wait_fd_ = -1;
  std::vector<DmaRegion> dma_regions_;  // sorted, PCI only

  rte_mempool* pool_ = nullptr;      // RX, headers, copied payloads, ARP
  rte_mempool* ext_pool_ = nullptr;  // data-less mbufs that carry external payloads
  std::unique_ptr<rte_mbuf_ext_shared_info> shinfo_;

  dpdk::NeighbourTable neighbours_;

  // Link: the PMD's view and, for vdevs, the kernel interface's.
  const std::atomic<LinkState>* kernel_link_monitored_ = nullptr;  // from the LinkMonitor, if given
  int ioctl_fd_ = -1;
  LinkState pmd_link_ = LinkState::unknown;
  LinkState kernel_link_ = LinkState::unknown;
  uint64_t link_poll_ns_ = 0;
  uint64_t next_link_poll_ = 0;
  uint64_t next_housekeeping_ = 0;
  bool announced_ = false;

  // Preallocated per-burst state.
  std::vector<rte_mbuf*> rx_mbufs_;
  std::vector<rte_mbuf*> held_;  // mbufs behind the last rx_burst's frames
  size_t held_count_ = 0;
  std::vector<rte_mbuf*> tx_mbufs_;
  std::vector<rte_mbuf*> tx_ext_;
  std::vector<uint32_t> tx_frame_of_;  // frame index of each built mbuf

  std::vector<std::string> xstat_names_;

  RailCounters counters_;
  DpdkRailStats stats_;
};

}  // namespace railyard::nic
