#pragma once
// Configuration of the DPDK driver: the EAL (once per process) and each rail.
// Plain structs and pure checks with no DPDK include, so config parsing and
// `railctl config check` work in builds without DPDK (kHaveDpdk false).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/nic/rail.h"

namespace railyard::nic {

/// EAL start-up, once per process (DpdkEnv::start).
struct DpdkEnvConfig {
  std::string cores = "0";           // EAL -l: lcores; the first is the main lcore
  unsigned memory_mb = 0;            // -m; 0: the EAL's default
  bool no_huge = false;              // --no-huge: anonymous memory (tests, veth); no DMA to real NICs
  std::string file_prefix;           // --file-prefix: required, unique per daemon on a host
  bool no_pci = false;               // --no-pci: vdevs only
  std::vector<std::string> allow;    // -a: PCI devices the EAL may take (empty: all bound to vfio/uio)
  std::vector<std::string> vdevs;    // --vdev (rails usually name their own vdev instead: see DpdkRailConfig::device)
  std::vector<std::string> extra_args;  // appended verbatim
  std::string log_level = "notice";  // --log-level
  bool telemetry = false;            // DPDK's telemetry socket (off: --no-telemetry)
  /// rte_eal_init pins the calling thread to the main lcore; by default its
  /// previous CPU affinity is restored, so the daemon's control thread is not
  /// stuck on one core. Pin data-plane threads explicitly (see README).
  bool keep_caller_affinity = true;
};

/// One neighbour of a DPDK rail: the peer's address on this rail.
struct DpdkPeer {
  PeerSlot slot = kUnknownPeer;
  std::string address;  // IPv4, dotted quad
  uint16_t port = 0;    // its UDP port
  std::string mac;      // "02:00:00:00:00:01": static; empty: resolved by ARP
};

struct DpdkRailConfig {
  std::string name;     // rail name, for logs and errors ("r0")
  /// The DPDK port: a PCI address ("0000:3b:00.0") or a vdev string
  /// ("net_af_xdp0,iface=r0", "net_af_packet0,iface=r0"); vdev names are
  /// unique in a process (net_af_xdp0, net_af_xdp1, ...).
  std::string device;
  std::string address;  // the rail's IPv4 address, owned by DPDK (not configured on a kernel interface)
  uint16_t port = 0;    // the rail's UDP port (required: there is no kernel to pick one)
  std::vector<DpdkPeer> peers;
  uint16_t mtu = 0;     // 0: the kernel interface's MTU (vdevs) or the port's current MTU (PCI)
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  uint32_t mbufs = 0;   // mempool size; 0: sized from the descriptor counts
  uint16_t burst = 32;  // most frames per rte_eth_rx_burst / tx_burst, 1..512
  uint8_t dscp = 0;     // DSCP for outgoing datagrams; ECN is always ECT(0)
  /// Attach payloads as external buffers (no copy) where the PMD takes
  /// multi-segment TX; otherwise the payload is copied once into the mbuf.
  bool zero_copy_tx = true;
  /// Offer a wait_fd (RX interrupts, or the vdev's kernel socket) for sleeping when idle.
  bool rx_wait_fd = true;
  bool verify_rx_checksums = true;  // in software when the port does not check them
  /// Accept UDP checksums that are only the pseudo-header sum: what a kernel
  /// sender on the same host (veth) hands over unfinished. Counted apart.
  bool accept_partial_checksums = true;
  bool udp_checksum = true;         // false sends UDP checksum 0 ("none", legal on IPv4) when not offloaded
  uint32_t arp_retry_ms = 100;      // first ARP retry; doubles up to arp_retry_max_ms
  uint32_t arp_retry_max_ms = 2000;
  uint32_t arp_refresh_ms = 60000;  // resolved neighbours are asked again this often
  uint32_t link_poll_ms = 100;      // rte_eth_link_get_nowait and the kernel interface's flags
};

/// A parsed DpdkRailConfig::device.
struct PortSpec {
  enum class Kind : uint8_t { pci, vdev } kind = Kind::vdev;
  std::string name;    // "0000:3b:00.0" (normalised with the domain) or "net_af_xdp0"
  std::string args;    // after the first comma ("iface=r0,queue=0"), may be empty
  std::string driver;  // vdev: "net_af_xdp", "net_af_packet", ... (name without its trailing digits)
  std::string iface;   // vdev: the iface= argument, empty when absent
};

/// Parses a port string; on failure returns nullopt and says what is wrong
/// and what a valid one looks like in `error`.
std::optional<PortSpec> parse_port_spec(std::string_view text, std::string& error);

/// Every problem with a rail config (empty: fine), each naming the key.
std::vector<std::string> check_rail_config(const DpdkRailConfig& config);

/// The argv rte_eal_init gets (argv[0] included). Throws std::invalid_argument
/// when the file prefix is missing or contains '/' or spaces.
std::vector<std::string> eal_arguments(const DpdkEnvConfig& config);

}  // namespace railyard::nic
