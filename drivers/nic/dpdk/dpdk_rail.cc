#include "drivers/nic/dpdk/dpdk_rail.h"

#include <dirent.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_memory.h>
#include <rte_mempool.h>

#include "common/log.h"
#include "drivers/nic/dpdk/dpdk_env.h"
#include "drivers/nic/link_monitor.h"

#ifndef AF_XDP
#define AF_XDP 44
#endif

namespace railyard::nic {

using namespace dpdk;

namespace {

constexpr size_t kZeroCopyMinPayload = 256;  // below this a copy is cheaper than a second mbuf
constexpr uint32_t kFrameOverhead = kEthernetHeader + 4 /* VLAN, if the port inserts one */ + 4 /* FCS */;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

/// Everything that can go wrong at open names the rail and the device.
class OpenError {
 public:
  explicit OpenError(const DpdkRailConfig& config)
      : where_(fmt::format("dpdk rail {} (device {})", config.name, config.device)) {}
  /// Throws with the message and what DPDK itself logged about it, if anything.
  template <class... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    const std::string said = DpdkEnv::take_log_problems();
    throw std::runtime_error(fmt::format("{}: {}{}", where_, fmt::format(format, std::forward<Args>(args)...),
                                         said.empty() ? std::string() : fmt::format(" (DPDK said: {})", said)));
  }

 private:
  std::string where_;
};

std::string dpdk_error(int negative_or_positive) {
  const int e = negative_or_positive < 0 ? -negative_or_positive : negative_or_positive;
  return fmt::format("{} ({})", ::rte_strerror(e), e);
}

/// The process's open sockets of one address family (AF_PACKET, AF_XDP): the
/// vdev PMDs' kernel sockets are found by comparing this before and after
/// the port is set up.
std::set<int> sockets_of_family(int family) {
  std::set<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  while (const dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    struct stat st {};
    if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    int domain = 0;
    socklen_t length = sizeof domain;
    if (::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 && domain == family) {
      fds.insert(static_cast<int>(fd));
    }
  }
  ::closedir(dir);
  return fds;
}

ifreq interface_request(const std::string& iface) {
  ifreq request{};
  std::memcpy(request.ifr_name, iface.data(), std::min(iface.size(), sizeof request.ifr_name - 1));
  return request;
}

int kernel_mtu(int fd, const std::string& iface) {
  ifreq request = interface_request(iface);
  if (::ioctl(fd, SIOCGIFMTU, &request) != 0) return -1;
  return request.ifr_mtu;
}

/// Whether the kernel interface also carries the rail's address: then the
/// kernel answers ARP for it too and rejects our UDP port with ICMP.
bool kernel_has_address(int fd, const std::string& iface, uint32_t ip) {
  ifreq request = interface_request(iface);
  request.ifr_addr.sa_family = AF_INET;
  if (::ioctl(fd, SIOCGIFADDR, &request) != 0) return false;
  sockaddr_in address{};
  std::memcpy(&address, &request.ifr_addr, sizeof address);
  return ntohl(address.sin_addr.s_addr) == ip;
}

/// A PCI device the EAL can take: present, and bound to a userspace-I/O
/// driver (or a bifurcated one).
void check_pci_device(const OpenError& error, const std::string& address) {
  const std::filesystem::path dev = std::filesystem::path("/sys/bus/pci/devices") / address;
  std::error_code ec;
  if (!std::filesystem::exists(dev, ec)) {
    error.fail("there is no PCI device {} on this host (lspci -D lists them; fix the rail's device)", address);
  }
  const auto driver = std::filesystem::read_symlink(dev / "driver", ec);
  const std::string bound = ec ? std::string() : driver.filename().string();
  static constexpr std::string_view kUsable[] = {"vfio-pci", "uio_pci_generic", "igb_uio", "mlx5_core", "mlx4_core"};
  if (std::find(std::begin(kUsable), std::end(kUsable), bound) == std::end(kUsable)) {
    error.fail("PCI device {} is bound to {}: bind it to vfio-pci for DPDK (dpdk-devbind.py -b vfio-pci {})", address,
               bound.empty() ? "no driver" : bound, address);
  }
}

std::string probe_hint(const PortSpec& spec) {
  if (spec.driver == "net_af_xdp") {
    return fmt::format(
        "af_xdp needs the interface {} up in this network namespace, CAP_NET_ADMIN and CAP_BPF (or root), a kernel "
        "with XDP sockets, and a BPF filesystem (mount -t bpf bpf /sys/fs/bpf); no other XDP program or AF_XDP "
        "socket may use {} (`bpftool net` or `ip -d link show dev {}` shows an attached program: stop its owner, "
        "e.g. another daemon with a rail on {}, or ip link set dev {} xdp off), and this process must not have "
        "opened it with af_xdp before (DPDK 22.11 keeps the XDP socket after the port closes: restart the process)",
        spec.iface, spec.iface, spec.iface, spec.iface, spec.iface);
  }
  if (spec.driver == "net_af_packet") {
    return fmt::format("af_packet needs the interface {} in this network namespace and CAP_NET_RAW (or root)", spec.iface);
  }
  if (spec.kind == PortSpec::Kind::pci) {
    return "check the EAL allow list (dpdk.allow), that no_pci is off, and that the device is bound to vfio-pci";
  }
  return fmt::format("is {} a DPDK driver in this build? (dpdk-testpmd --vdev={}... checks it by hand)", spec.driver,
                     spec.name);
}

/// The ethdev port of a device: by ethdev name, then by the device's name
/// (PCI ports may be named differently from their address).
bool find_port(const std::string& name, uint16_t& port) {
  if (::rte_eth_dev_get_port_by_name(name.c_str(), &port) == 0) return true;
  uint16_t p = 0;
  RTE_ETH_FOREACH_DEV(p) {
    rte_eth_dev_info info{};
    if (::rte_eth_dev_info_get(p, &info) == 0 && info.device != nullptr && name == ::rte_dev_name(info.device)) {
      port = p;
      return true;
    }
  }
  return false;
}

/// An mbuf pool whose objects are exactly one page each (header, mbuf and
/// data room), in one virtually contiguous chunk: what the af_xdp PMD needs
/// to use the pool as its UMEM (see the caller). Returns nullptr with
/// rte_errno set when the memory is not there; fails with a message when the
/// EAL could only give it in pieces.
rte_mempool* make_page_pool(const OpenError& error, const std::string& name, uint32_t count, int socket,
                            uint32_t& data_room) {
  const auto page = static_cast<uint32_t>(::getpagesize());
  constexpr uint32_t kFlags = RTE_MEMPOOL_F_NO_SPREAD;  // no padding between objects: one page each
  data_room = page - static_cast<uint32_t>(sizeof(rte_mbuf));
  while (data_room > RTE_PKTMBUF_HEADROOM &&
         ::rte_mempool_calc_obj_size(static_cast<uint32_t>(sizeof(rte_mbuf)) + data_room, kFlags, nullptr) > page) {
    data_room -= RTE_CACHE_LINE_SIZE;
  }
  if (::rte_mempool_calc_obj_size(static_cast<uint32_t>(sizeof(rte_mbuf)) + data_room, kFlags, nullptr) != page) {
    error.fail("cannot size af_xdp mbufs to one {}-byte page", page);
  }
  rte_mempool* pool = ::rte_mempool_create_empty(name.c_str(), count, static_cast<uint32_t>(sizeof(rte_mbuf)) + data_room,
                                                 std::min(256u, count / 2), sizeof(rte_pktmbuf_pool_private), socket,
                                                 kFlags);
  if (pool == nullptr) return nullptr;
  rte_pktmbuf_pool_private priv{};
  priv.mbuf_data_room_size = static_cast<uint16_t>(data_room);
  priv.mbuf_priv_size = 0;
  if (::rte_mempool_set_ops_byname(pool, ::rte_mbuf_best_mempool_ops(), nullptr) != 0) {
    ::rte_mempool_free(pool);
    error.fail("rte_mempool_set_ops_byname({}) failed", ::rte_mbuf_best_mempool_ops());
  }
  ::rte_pktmbuf_pool_init(pool, &priv);
  if (const int r = ::rte_mempool_populate_default(pool); r < 0) {
    ::rte_mempool_free(pool);
    rte_errno = -r;
    return nullptr;
  }
  if (pool->nb_mem_chunks != 1) {
    const unsigned chunks = pool->nb_mem_chunks;
    ::rte_mempool_free(pool);
    error.fail("the af_xdp mbuf pool ({} pages) came in {} pieces; its UMEM must be one: raise the EAL's memory_mb "
               "(or use hugepages), or lower mbufs/descriptors",
               count, chunks);
  }
  ::rte_mempool_obj_iter(pool, ::rte_pktmbuf_init, nullptr);
  return pool;
}

void no_op_free(void* /*address*/, void* /*opaque*/) {
  // Payload memory belongs to the workload's registered region, pinned by the
  // daemon until the transfer completes: nothing to free here.
}

LinkState combine(LinkState pmd, LinkState kernel) {
  if (pmd == LinkState::down || kernel == LinkState::down) return LinkState::down;
  if (pmd == LinkState::up) return LinkState::up;
  return kernel;
}

}  // namespace

std::string_view wait_mode_name(DpdkWaitMode mode) {
  switch (mode) {
    case DpdkWaitMode::none: return "none (poll)";
    case DpdkWaitMode::rx_interrupt: return "rx-interrupt";
    case DpdkWaitMode::pmd_socket: return "pmd-socket";
  }
  return "?";
}

namespace {
std::vector<NeighbourConfig> neighbour_configs(const DpdkRailConfig& config) {
  std::vector<NeighbourConfig> out;
  for (const DpdkPeer& p : config.peers) {
    NeighbourConfig n{.slot = p.slot, .ip = parse_ipv4(p.address).value_or(0), .port = p.port};
    if (!p.mac.empty()) n.mac = parse_mac(p.mac);
    out.push_back(n);
  }
  return out;
}

NeighbourTable make_neighbours(const DpdkRailConfig& config) {
  const OpenError error(config);
  const auto problems = check_rail_config(config);
  if (!problems.empty()) error.fail("{}", fmt::join(problems, "; "));
  const auto peers = neighbour_configs(config);
  try {
    return NeighbourTable(peers, NeighbourTiming{.first_retry_ns = uint64_t{config.arp_retry_ms} * 1'000'000,
                                                 .max_retry_ns = uint64_t{config.arp_retry_max_ms} * 1'000'000,
                                                 .refresh_ns = uint64_t{config.arp_refresh_ms} * 1'000'000});
  } catch (const std::invalid_argument& e) {
    error.fail("{}", e.what());
  }
}
}  // namespace

DpdkRail::DpdkRail(std::shared_ptr<DpdkEnv> env, const DpdkRailConfig& config, LinkMonitor* links)
    : env_(std::move(env)),
      name_(config.name),
      device_(config.device),
      burst_(config.burst),
      udp_port_(config.port),
      tos_(static_cast<uint8_t>((config.dscp << 2) | kEct0)),
      rx_parse_{.verify_ip_checksum = config.verify_rx_checksums,
                .verify_udp_checksum = config.verify_rx_checksums,
                .accept_partial_udp_checksum = config.accept_partial_checksums},
      neighbours_(make_neighbours(config)) {
  if (!env_) OpenError(config).fail("no DPDK environment: start it first (DpdkEnv::start)");
  ip_ = parse_ipv4(config.address).value_or(0);
  link_poll_ns_ = uint64_t{config.link_poll_ms} * 1'000'000;
  try {
    open(config);
  } catch (...) {
    release();  // a constructor that throws runs no destructor
    throw;
  }
  if (links != nullptr && !iface_.empty()) {
    const unsigned index = ::if_nametoindex(iface_.c_str());
    if (index != 0) kernel_link_monitored_ = &links->state(static_cast<int>(index));
  }
  log::info("dpdk rail {}: port {} ({}, {}), {} {}:{}, MAC {}, MTU {}, max datagram {}, {} peers, burst {}, TX {}, "
            "checksums {}, idle wait {}",
            name_, port_, device_, pmd_, iface_.empty() ? "" : iface_, format_ipv4(ip_), udp_port_, format_mac(mac_),
            mtu_, max_datagram_, config.peers.size(), burst_, zero_copy_ ? "zero-copy (external buffers)" : "one copy",
            tx_checksum_ == ChecksumMode::offload ? "offloaded" : "software", wait_mode_name(wait_mode_));
}

void DpdkRail::open(const DpdkRailConfig& config) {
  const OpenError error(config);
  DpdkEnv::take_log_problems();  // only what this open makes DPDK say belongs in its errors
  std::string why;
  const auto spec = parse_port_spec(config.device, why);
  if (!spec) error.fail("{}", why);  // check_rail_config caught it already; kept for clarity
  pci_ = spec->kind == PortSpec::Kind::pci;
  iface_ = spec->iface;

  ioctl_fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (ioctl_fd_ < 0) error.fail("cannot open a socket for interface queries: {}", std::strerror(errno));
  if (!iface_.empty()) {
    if (::if_nametoindex(iface_.c_str()) == 0) {
      error.fail("interface {} does not exist in this network namespace (create it, or fix iface= in the device)",
                 iface_);
    }
    if (kernel_has_address(ioctl_fd_, iface_, ip_)) {
      log::warning("dpdk rail {}: the kernel also has {} on {}: it will answer ARP and reject the rail's UDP port "
                   "with ICMP; remove it (ip address del {}/PREFIX dev {})",
                   name_, format_ipv4(ip_), iface_, format_ipv4(ip_), iface_);
    }
  }
  if (pci_) check_pci_device(error, spec->name);
  if (pci_ && env_->config().no_pci) {
    error.fail("the EAL was started with no_pci = true: a PCI port needs no_pci = false (and the device in allow)");
  }

  // The vdev PMDs' kernel sockets, before the port exists (see wait_fd below).
  const int socket_family = spec->driver == "net_af_xdp" ? AF_XDP : spec->driver == "net_af_packet" ? AF_PACKET : -1;
  const std::set<int> sockets_before = socket_family >= 0 ? sockets_of_family(socket_family) : std::set<int>{};

  if (!find_port(spec->name, port_)) {
    const int r = ::rte_dev_probe(config.device.c_str());
    if (r == -EFAULT && spec->kind == PortSpec::Kind::vdev) {
      // The EAL's answer when no bus recognises the name: no such driver.
      error.fail("DPDK has no driver called {} in this process (no bus recognised '{}'): fix the rail's device "
                 "(net_af_packet0,iface=IF or net_af_xdp0,iface=IF on a kernel interface, a PCI address for a NIC), "
                 "or install the package with that PMD",
                 spec->driver, spec->name);
    }
    if (r < 0) {
      error.fail("DPDK could not attach the device: {}. {}", dpdk_error(r), probe_hint(*spec));
    }
    probed_ = true;
    if (!find_port(spec->name, port_)) {
      error.fail("the device attached but no ethdev port named {} appeared (is it a network device?)", spec->name);
    }
  }

  // Claim the port, so two rails (or anything else in the process) cannot share it.
  if (::rte_eth_dev_owner_new(&owner_) != 0) error.fail("no ethdev owner id left");
  rte_eth_dev_owner owner{};
  owner.id = owner_;
  fmt::format_to_n(owner.name, sizeof owner.name - 1, "railyard rail {}", name_);
  if (const int r = ::rte_eth_dev_owner_set(port_, &owner); r != 0) {
    rte_eth_dev_owner current{};
    ::rte_eth_dev_owner_get(port_, &current);
    owner_ = 0;
    error.fail("port {} is already used by '{}' ({}): each rail needs its own device (and vdev names are unique: "
               "net_af_xdp0, net_af_xdp1, ...)",
               port_, current.name, dpdk_error(r));
  }

  rte_eth_dev_info info{};
  if (const int r = ::rte_eth_dev_info_get(port_, &info); r != 0) error.fail("rte_eth_dev_info_get: {}", dpdk_error(r));
  pmd_ = info.driver_name != nullptr ? info.driver_name : "?";

  // MTU: the config's, else the kernel interface's (vdevs) or the port's.
  uint16_t port_mtu = RTE_ETHER_MTU;
  ::rte_eth_dev_get_mtu(port_, &port_mtu);
  const int iface_mtu = iface_.empty() ? -1 : kernel_mtu(ioctl_fd_, iface_);
  mtu_ = config.mtu != 0 ? config.mtu : iface_mtu > 0 ? static_cast<uint16_t>(std::min(iface_mtu, 65535)) : port_mtu;
  // The largest frame the port receives bounds the MTU as much as max_mtu
  // does (af_packet: 1518 bytes, so no jumbo frames; af_xdp: one page).
  constexpr uint32_t kL2Overhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
  const uint32_t port_max_mtu =
      std::min<uint32_t>(info.max_mtu, info.max_rx_pktlen > kL2Overhead ? info.max_rx_pktlen - kL2Overhead : 0);
  if (mtu_ > port_max_mtu || mtu_ < info.min_mtu) {
    error.fail("MTU {} is outside what {} takes ({}..{}){}; set the rail's mtu (and the interface's and the peers') "
               "to at most {}",
               mtu_, pmd_, info.min_mtu, port_max_mtu,
               config.mtu == 0 && iface_mtu > 0 ? fmt::format(" (it is interface {}'s MTU)", iface_) : std::string(),
               port_max_mtu);
  }
  if (iface_mtu > 0 && mtu_ > iface_mtu) {
    error.fail("mtu {} is larger than interface {}'s MTU {}: raise it (ip link set dev {} mtu {}) or lower the rail's",
               mtu_, iface_, iface_mtu, iface_, mtu_);
  }
  max_datagram_ = mtu_ - kIpv4Header - kUdpHeader;

  // Offloads.
  zero_copy_ = config.zero_copy_tx && (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) != 0;
  constexpr uint64_t kTxCsum = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  constexpr uint64_t kRxCsum = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  const bool tx_offload = (info.tx_offload_capa & kTxCsum) == kTxCsum;
  tx_checksum_ = tx_offload           ? ChecksumMode::offload
                 : config.udp_checksum ? ChecksumMode::software
                                       : ChecksumMode::ip_only;
  rx_offload_ = (info.rx_offload_capa & kRxCsum) == kRxCsum;

  rte_eth_conf conf{};
  conf.rxmode.mtu = mtu_;
  conf.rxmode.offloads = rx_offload_ ? kRxCsum : 0;
  conf.txmode.offloads = (zero_copy_ ? RTE_ETH_TX_OFFLOAD_MULTI_SEGS : 0) | (tx_offload ? kTxCsum : 0);
  // RX interrupts where the PMD has them (PCI NICs); the vdevs here have none.
  const bool try_interrupts = config.rx_wait_fd && pci_;
  conf.intr_conf.rxq = try_interrupts ? 1 : 0;
  int r = ::rte_eth_dev_configure(port_, 1, 1, &conf);
  if (r != 0 && try_interrupts) {
    conf.intr_conf.rxq = 0;
    r = ::rte_eth_dev_configure(port_, 1, 1, &conf);
  }
  if (r != 0) error.fail("rte_eth_dev_configure (MTU {}, offloads tx {:#x} rx {:#x}): {}", mtu_,
                         conf.txmode.offloads, conf.rxmode.offloads, dpdk_error(r));

  uint16_t rx_desc = config.rx_descriptors, tx_desc = config.tx_descriptors;
  if (const int a = ::rte_eth_dev_adjust_nb_rx_tx_desc(port_, &rx_desc, &tx_desc); a != 0) {
    error.fail("rte_eth_dev_adjust_nb_rx_tx_desc: {}", dpdk_error(a));
  }

  // Mempool: every RX descriptor holds one, the TX ring holds up to its size,
  // one burst is held by the fabric between rx_bursts, one is being built, and
  // the af_xdp fill ring takes its share from the same pool.
  const bool af_xdp = spec->driver == "net_af_xdp";
  uint32_t want = config.mbufs;
  if (want == 0) {
    want = 2u * rx_desc + 2u * tx_desc + 4u * burst_ + 2048u;
    uint32_t power = 1024;
    while (power - 1 < want) power <<= 1;
    want = power - 1;  // a ring's best size
  }
  const int socket = ::rte_eth_dev_socket_id(port_) < 0 ? static_cast<int>(SOCKET_ID_ANY) : ::rte_eth_dev_socket_id(port_);
  const std::string pool_name = fmt::format("ry_rx_{}", port_);
  uint32_t data_room = 0;
  if (af_xdp) {
    // The af_xdp PMD turns this pool into the XDP socket's UMEM: it registers
    // populated_size x object size bytes from the pool's first object, and
    // the kernel silently discards (and so leaks) any fill-ring buffer
    // outside that range or crossing a non-contiguous page. A default pool
    // on 4 KiB pages (--no-huge) puts one ~2.3 KiB object per page, so the
    // UMEM covered only about half of it and RX starved at ~2 k frames/s
    // (rx_fill_ring_empty_descs). Objects of exactly one page, in one chunk,
    // make the UMEM and the pool the same memory.
    pool_ = make_page_pool(error, pool_name, want, socket, data_room);
  } else {
    // At least DPDK's default data room: af_packet copies whole ring frames
    // (2016 bytes with its default framesz) into each RX mbuf.
    data_room = RTE_PKTMBUF_HEADROOM + std::max<uint32_t>(RTE_MBUF_DEFAULT_DATAROOM, (mtu_ + kFrameOverhead + 63u) & ~63u);
    pool_ = ::rte_pktmbuf_pool_create(pool_name.c_str(), want, std::min(256u, want / 2), 0,
                                      static_cast<uint16_t>(data_room), socket);
  }
  if (pool_ == nullptr) {
    error.fail("cannot create a mempool of {} mbufs of {} bytes ({} MiB): {}; raise the EAL's memory_mb or lower "
               "mbufs/descriptors",
               want, data_room, (uint64_t{want} * (data_room + 256)) >> 20, ::rte_strerror(rte_errno));
  }
  if (zero_copy_) {
    const uint32_t ext = ((2u * tx_desc + 4u * burst_ + 1023u) | 1023u);
    const std::string ext_name = fmt::format("ry_ext_{}", port_);
    ext_pool_ = ::rte_pktmbuf_pool_create(ext_name.c_str(), ext, std::min(256u, ext / 2), 0, 0, socket);
    if (ext_pool_ == nullptr) {
      log::warning("dpdk rail {}: no mempool for external payload mbufs ({}); copying payloads instead", name_,
                   ::rte_strerror(rte_errno));
      zero_copy_ = false;
    } else {
      shinfo_ = std::make_unique<rte_mbuf_ext_shared_info>();
      shinfo_->free_cb = &no_op_free;
      shinfo_->fcb_opaque = nullptr;
      ::rte_mbuf_ext_refcnt_set(shinfo_.get(), 1);  // the rail's own reference: never reaches 0 while it lives
    }
  }

  if (const int q = ::rte_eth_rx_queue_setup(port_, 0, rx_desc, static_cast<unsigned>(socket), nullptr, pool_); q != 0) {
    error.fail("RX queue setup ({} descriptors): {}{}", rx_desc, dpdk_error(q),
               spec->driver == "net_af_xdp" ? fmt::format(". {}", probe_hint(*spec)) : std::string());
  }
  if (const int q = ::rte_eth_tx_queue_setup(port_, 0, tx_desc, static_cast<unsigned>(socket), nullptr); q != 0) {
    error.fail("TX queue setup ({} descriptors): {}", tx_desc, dpdk_error(q));
  }
  if (const int s = ::rte_eth_dev_start(port_); s != 0) error.fail("rte_eth_dev_start: {}", dpdk_error(s));
  started_ = true;

  rte_ether_addr mac{};
  ::rte_eth_macaddr_get(port_, &mac);
  std::memcpy(mac_.bytes.data(), mac.addr_bytes, 6);

  // Idle wait: the RX interrupt's fd, or the vdev's own kernel socket (its
  // RX ring makes it readable; PMDs have no API for it, so it is found as the
  // one socket of its family that appeared while the port was set up).
  if (config.rx_wait_fd) {
    if (try_interrupts && conf.intr_conf.rxq == 1 && ::rte_eth_dev_rx_intr_enable(port_, 0) == 0) {
      wait_fd_ = ::rte_eth_dev_rx_intr_ctl_q_get_fd(port_, 0);
      if (wait_fd_ >= 0) wait_mode_ = DpdkWaitMode::rx_interrupt;
    } else if (socket_family >= 0) {
      std::vector<int> appeared;
      for (int fd : sockets_of_family(socket_family)) {
        if (!sockets_before.contains(fd)) appeared.push_back(fd);
      }
      if (appeared.size() == 1) {
        wait_fd_ = appeared.front();
        wait_mode_ = DpdkWaitMode::pmd_socket;
      } else {
        log::warning("dpdk rail {}: cannot tell {}'s socket ({} new); the data plane must poll this rail", name_, pmd_,
                     appeared.size());
      }
    }
  }

  // Extended statistics' names, read once.
  const int count = ::rte_eth_xstats_get_names(port_, nullptr, 0);
  if (count > 0) {
    std::vector<rte_eth_xstat_name> names(static_cast<size_t>(count));
    const int got = ::rte_eth_xstats_get_names(port_, names.data(), static_cast<unsigned>(count));
    for (int i = 0; i < got && i < count; ++i) xstat_names_.emplace_back(names[static_cast<size_t>(i)].name);
  }

  rx_mbufs_.resize(burst_);
  held_.resize(burst_);
  tx_mbufs_.resize(burst_);
  tx_ext_.resize(burst_);
  tx_frame_of_.resize(burst_);
  poll_link();
}

DpdkRail::~DpdkRail() { release(); }

void DpdkRail::release() {
  if (held_count_ > 0) ::rte_pktmbuf_free_bulk(held_.data(), static_cast<unsigned>(held_count_));
  held_count_ = 0;
  rte_device* device = nullptr;
  if (owner_ != 0) {
    rte_eth_dev_info info{};
    if (::rte_eth_dev_info_get(port_, &info) == 0) device = info.device;
    if (started_ && ::rte_eth_dev_stop(port_) != 0) log::warning("dpdk rail {}: rte_eth_dev_stop failed", name_);
    started_ = false;
    if (::rte_eth_dev_close(port_) != 0) log::warning("dpdk rail {}: rte_eth_dev_close failed", name_);
    owner_ = 0;
  }
  if (probed_ && device != nullptr && ::rte_dev_remove(device) != 0) {
    log::warning("dpdk rail {}: could not detach {}", name_, device_);
  }
  probed_ = false;
  // Closing the port returned every mbuf of its queues.
  if (ext_pool_ != nullptr) ::rte_mempool_free(ext_pool_);
  if (pool_ != nullptr) ::rte_mempool_free(pool_);
  ext_pool_ = pool_ = nullptr;
  if (ioctl_fd_ >= 0) ::close(ioctl_fd_);
  ioctl_fd_ = -1;
  wait_fd_ = -1;  // the PMD's, closed with the port
}

bool DpdkRail::zero_copy_eligible(std::span<const std::byte> payload) const {
  if (!zero_copy_ || payload.size() < kZeroCopyMinPayload || payload.size() > UINT16_MAX) return false;
  if (!pci_) return true;  // vdev PMDs read the payload with the CPU, inside tx_burst
  const auto begin = reinterpret_cast<uintptr_t>(payload.data());
  const auto it = std::upper_bound(dma_regions_.begin(), dma_regions_.end(), begin,
                                   [](uintptr_t b, const DmaRegion& r) { return b < r.begin; });
  return it != dma_regions_.begin() && begin + payload.size() <= std::prev(it)->end;
}

size_t DpdkRail::tx_burst(std::span<const TxFrame> frames) {
  const size_t n = std::min<size_t>(frames.size(), burst_);
  if (n == 0) return 0;
  if (::rte_pktmbuf_alloc_bulk(pool_, tx_mbufs_.data(), static_cast<unsigned>(n)) != 0) {
    ++stats_.tx_no_mbuf;
    counters_.tx_would_block += n;
    return 0;
  }
  bool ext_ok = zero_copy_ && ::rte_pktmbuf_alloc_bulk(ext_pool_, tx_ext_.data(), static_cast<unsigned>(n)) == 0;
  size_t ext_used = 0;
  size_t built = 0;
  size_t i = 0;
  for (; i < n; ++i) {
    const TxFrame& f = frames[i];
    const size_t udp_payload = f.header.size() + f.payload.size();
    const NeighbourTable::Destination to = neighbours_.destination(f.peer);
    if (to.ip == 0 || udp_payload > max_datagram_) {
      // Unsendable anywhere on this rail: dropped and counted, at the head of
      // a burst only, so every frame counted is also a frame consumed.
      if (built > 0) break;
      ++counters_.tx_errors;
      continue;
    }
    if (to.mac == nullptr) {
      // Refused, not dropped: the fabric offers it again (on this rail or another).
      ++stats_.tx_unresolved;
      neighbours_.hurry(f.peer, now_ns());
      break;
    }
    rte_mbuf* m = tx_mbufs_[built];
    const bool attach = ext_ok && zero_copy_eligible(f.payload);
    const size_t inline_bytes = kFrameHeaders + f.header.size() + (attach ? 0 : f.payload.size());
    auto* p = reinterpret_cast<std::byte*>(::rte_pktmbuf_append(m, static_cast<uint16_t>(inline_bytes)));
    if (p == nullptr) {  // cannot happen: the pool's data room holds an MTU frame
      if (built > 0) break;
      ++counters_.tx_errors;
      continue;
    }
    const std::span<std::byte, kFrameHeaders> headers(p, kFrameHeaders);
    write_udp_headers(headers,
                      UdpAddressing{.src_mac = mac_,
                                    .dst_mac = *to.mac,
                                    .src_ip = ip_,
                                    .dst_ip = to.ip,
                                    .src_port = udp_port_,
                                    .dst_port = to.port,
                                    .tos = tos_,
                                    .ip_id = ip_id_++},
                      udp_payload, tx_checksum_);
    std::memcpy(p + kFrameHeaders, f.header.data(), f.header.size());
    if (attach) {
      rte_mbuf* e = tx_ext_[ext_used++];
      void* address = const_cast<std::byte*>(f.payload.data());
      ::rte_mbuf_ext_refcnt_update(shinfo_.get(), 1);
      ::rte_pktmbuf_attach_extbuf(e, address, static_cast<rte_iova_t>(reinterpret_cast<uintptr_t>(address)),
                                  static_cast<uint16_t>(f.payload.size()), shinfo_.get());
      e->data_len = static_cast<uint16_t>(f.payload.size());
      e->pkt_len = f.payload.size();
      m->next = e;
      m->nb_segs = 2;
      m->pkt_len += f.payload.size();
      ++stats_.tx_zero_copy;
    } else {
      if (!f.payload.empty()) {
        std::memcpy(p + kFrameHeaders + f.header.size(), f.payload.data(), f.payload.size());
        ++stats_.tx_copied;
      }
    }
    if (tx_checksum_ == ChecksumMode::offload) {
      m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
      m->l2_len = kEthernetHeader;
      m->l3_len = kIpv4Header;
    } else if (tx_checksum_ == ChecksumMode::software) {
      finish_udp_checksum(headers, f.header, f.payload);
    }
    tx_frame_of_[built] = static_cast<uint32_t>(i);
    counters_.tx_bytes += udp_payload;  // corrected below for what the PMD does not take
    ++built;
  }
  // Mbufs not used for a frame go straight back.
  if (built < n) ::rte_pktmbuf_free_bulk(tx_mbufs_.data() + built, static_cast<unsigned>(n - built));
  if (ext_ok && ext_used < n) ::rte_pktmbuf_free_bulk(tx_ext_.data() + ext_used, static_cast<unsigned>(n - ext_used));
  if (built == 0) return i;

  const uint16_t sent = ::rte_eth_tx_burst(port_, 0, tx_mbufs_.data(), static_cast<uint16_t>(built));
  counters_.tx_frames += sent;
  if (sent == built) return i;
  // The TX ring is full: the rest is offered again later.
  for (size_t k = sent; k < built; ++k) counters_.tx_bytes -= tx_mbufs_[k]->pkt_len - kFrameHeaders;
  ::rte_pktmbuf_free_bulk(tx_mbufs_.data() + sent, static_cast<unsigned>(built - sent));
  counters_.tx_would_block += i - tx_frame_of_[sent];
  return tx_frame_of_[sent];
}

size_t DpdkRail::rx_burst(std::span<RxFrame> frames) {
  if (held_count_ > 0) {
    ::rte_pktmbuf_free_bulk(held_.data(), static_cast<unsigned>(held_count_));
    held_count_ = 0;
  }
  const uint64_t now = now_ns();
  if (now >= next_housekeeping_) housekeeping(now);

  const auto n = static_cast<uint16_t>(std::min<size_t>(frames.size(), burst_));
  if (n == 0) return 0;
  const uint16_t got = ::rte_eth_rx_burst(port_, 0, rx_mbufs_.data(), n);
  size_t out = 0;
  for (uint16_t k = 0; k < got; ++k) {
    rte_mbuf* m = rx_mbufs_[k];
    if (m->nb_segs != 1) {  // larger than the data room: not a frame of ours
      ++stats_.rx_malformed;
      ++counters_.rx_errors;
      ::rte_pktmbuf_free(m);
      continue;
    }
    ParseOptions options = rx_parse_;
    if (rx_offload_) {
      const uint64_t ip = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
      const uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;
      if (ip == RTE_MBUF_F_RX_IP_CKSUM_BAD || l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
        ++stats_.rx_bad_checksum;
        ++counters_.rx_errors;
        ::rte_pktmbuf_free(m);
        continue;
      }
      if (ip == RTE_MBUF_F_RX_IP_CKSUM_GOOD) options.verify_ip_checksum = false;
      if (l4 == RTE_MBUF_F_RX_L4_CKSUM_GOOD) options.verify_udp_checksum = false;
    }
    const std::span<const std::byte> bytes(rte_pktmbuf_mtod(m, const std::byte*), m->data_len);
    UdpDatagram datagram;
    ArpPacket arp;
    const FrameKind kind = parse_frame(bytes, options, datagram, arp);
    switch (kind) {
      case FrameKind::udp:
        if (datagram.dst_ip != ip_ || datagram.dst_port != udp_port_) {
          ++stats_.rx_not_for_us;
          break;
        }
        {
          const PeerSlot peer = neighbours_.slot_of(datagram.src_ip, datagram.src_port);
          const bool ce = (datagram.tos & kEcnMask) == kEcnCe;
          if (peer == kUnknownPeer) ++counters_.rx_unknown_source;
          if (datagram.checksum_partial) ++stats_.rx_partial_checksum;
          if (ce) ++counters_.rx_ecn_ce;
          ++counters_.rx_frames;
          counters_.rx_bytes += datagram.payload.size();
          frames[out++] = RxFrame{.bytes = datagram.payload, .peer = peer, .ecn_ce = ce};
          held_[held_count_++] = m;
          m = nullptr;
        }
        break;
      case FrameKind::arp:
        handle_arp(arp, now);
        break;
      case FrameKind::other:
        ++stats_.rx_other;
        break;
      case FrameKind::bad_ip_checksum:
      case FrameKind::bad_udp_checksum:
        ++stats_.rx_bad_checksum;
        ++counters_.rx_errors;
        break;
      default:
        ++stats_.rx_malformed;
        ++counters_.rx_errors;
        break;
    }
    if (m != nullptr) ::rte_pktmbuf_free(m);
  }
  return out;
}

void DpdkRail::housekeeping(uint64_t now) {
  if (!announced_) {
    // Gratuitous ARP: peers that cached another MAC for this address (a
    // restart, a new NIC) learn this one at once.
    announced_ = send_arp(MacAddress::broadcast(), ArpPacket{.op = kArpRequest,
                                                             .sender_mac = mac_,
                                                             .sender_ip = ip_,
                                                             .target_mac = {},
                                                             .target_ip = ip_});
  }
  if (now >= next_link_poll_) {
    poll_link();
    next_link_poll_ = now + link_poll_ns_;
  }
  std::array<uint32_t, 16> due{};
  const size_t count = neighbours_.due_requests(now, due);
  for (size_t k = 0; k < count; ++k) {
    if (send_arp(MacAddress::broadcast(), ArpPacket{.op = kArpRequest,
                                                    .sender_mac = mac_,
                                                    .sender_ip = ip_,
                                                    .target_mac = {},
                                                    .target_ip = due[k]})) {
      ++stats_.arp_requests_sent;
    }
  }
  next_housekeeping_ = std::min(next_link_poll_, neighbours_.next_due());
  if (!announced_) next_housekeeping_ = std::min(next_housekeeping_, now + link_poll_ns_);
}

void DpdkRail::poll_link() {
  rte_eth_link link{};
  if (::rte_eth_link_get_nowait(port_, &link) == 0) {
    pmd_link_ = link.link_status == RTE_ETH_LINK_UP ? LinkState::up : LinkState::down;
  }
  if (!iface_.empty() && kernel_link_monitored_ == nullptr && ioctl_fd_ >= 0) {
    // af_packet and af_xdp report their link up whatever the interface does:
    // the kernel interface's flags tell (administratively up and carrier).
    ifreq request = interface_request(iface_);
    if (::ioctl(ioctl_fd_, SIOCGIFFLAGS, &request) == 0) {
      const bool up = (request.ifr_flags & IFF_UP) && (request.ifr_flags & IFF_RUNNING);
      kernel_link_ = up ? LinkState::up : LinkState::down;
    } else {
      kernel_link_ = LinkState::down;  // the interface went away
    }
  }
}

LinkState DpdkRail::link_state() const {
  const LinkState kernel =
      kernel_link_monitored_ != nullptr ? kernel_link_monitored_->load(std::memory_order_acquire) : kernel_link_;
  return combine(pmd_link_, iface_.empty() ? LinkState::unknown : kernel);
}

LinkState DpdkRail::peer_link(PeerSlot slot) const {
  const NeighbourState s = neighbours_.state(slot);
  if (s != NeighbourState::static_mac && s != NeighbourState::resolved) return LinkState::down;
  return link_state();
}

void DpdkRail::handle_arp(const ArpPacket& arp, uint64_t now) {
  ++stats_.arp_received;
  if (neighbours_.learn(arp.sender_ip, arp.sender_mac, now)) {
    log::info("dpdk rail {}: neighbour {} is at {}", name_, format_ipv4(arp.sender_ip), format_mac(arp.sender_mac));
    next_housekeeping_ = std::min(next_housekeeping_, neighbours_.next_due());
  }
  if (const auto reply = arp_answer(arp, ip_, mac_)) {
    if (send_arp(arp.sender_mac, *reply)) ++stats_.arp_replies_sent;
  }
}

bool DpdkRail::send_arp(const MacAddress& eth_dst, const ArpPacket& arp) {
  rte_mbuf* m = ::rte_pktmbuf_alloc(pool_);
  if (m == nullptr) {
    ++stats_.arp_tx_failed;
    return false;
  }
  auto* p = reinterpret_cast<std::byte*>(::rte_pktmbuf_append(m, kArpFrame));
  write_arp(std::span<std::byte, kArpFrame>(p, kArpFrame), eth_dst, arp);
  if (::rte_eth_tx_burst(port_, 0, &m, 1) != 1) {
    ::rte_pktmbuf_free(m);
    ++stats_.arp_tx_failed;
    return false;
  }
  return true;
}

RailCounters DpdkRail::counters() const {
  RailCounters c = counters_;
  rte_eth_stats s{};
  if (::rte_eth_stats_get(port_, &s) == 0) {
    // Frames the port dropped before the rail saw them.
    c.rx_errors += s.imissed + s.ierrors + s.rx_nombuf;
    c.tx_errors += s.oerrors;
  }
  return c;
}

DpdkRailStats DpdkRail::stats() const {
  DpdkRailStats out = stats_;
  rte_eth_stats s{};
  if (::rte_eth_stats_get(port_, &s) == 0) {
    out.port_imissed = s.imissed;
    out.port_ierrors = s.ierrors;
    out.port_rx_nombuf = s.rx_nombuf;
    out.port_oerrors = s.oerrors;
  }
  out.zero_copy_tx = zero_copy_;
  out.tx_checksum_offload = tx_checksum_ == ChecksumMode::offload;
  out.rx_checksum_offload = rx_offload_;
  out.wait_mode = wait_mode_;
  out.unresolved_neighbours = neighbours_.unresolved_count();
  return out;
}

std::vector<DpdkXstat> DpdkRail::xstats() const {
  std::vector<DpdkXstat> out;
  if (xstat_names_.empty()) return out;
  std::vector<rte_eth_xstat> values(xstat_names_.size());
  const int got = ::rte_eth_xstats_get(port_, values.data(), static_cast<unsigned>(values.size()));
  for (int i = 0; i < got && static_cast<size_t>(i) < values.size(); ++i) {
    const auto& v = values[static_cast<size_t>(i)];
    if (v.id < xstat_names_.size()) out.push_back(DpdkXstat{.name = xstat_names_[v.id], .value = v.value});
  }
  return out;
}

bool DpdkRail::add_dma_region(std::span<std::byte> region) {
  if (!pci_) return true;  // vdevs: nothing to map
  if (!env_->iova_is_va()) {
    log::warning("dpdk rail {}: the EAL runs with IOVA as PA; payloads are copied (zero-copy TX needs IOVA as VA, "
                 "e.g. vfio-pci with an IOMMU)", name_);
    return false;
  }
  void* address = region.data();
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  if (reinterpret_cast<uintptr_t>(address) % page != 0 || region.size() % page != 0) {
    log::warning("dpdk rail {}: region {} (+{}) is not page aligned; its payloads are copied", name_, address,
                 region.size());
    return false;
  }
  int r = ::rte_extmem_register(address, region.size(), nullptr, 0, page);
  if (r != 0 && rte_errno != EEXIST) {
    log::warning("dpdk rail {}: rte_extmem_register: {}; payloads are copied", name_, ::rte_strerror(rte_errno));
    return false;
  }
  rte_eth_dev_info info{};
  ::rte_eth_dev_info_get(port_, &info);
  r = ::rte_dev_dma_map(info.device, address, reinterpret_cast<uintptr_t>(address), region.size());
  if (r != 0) {
    log::warning("dpdk rail {}: rte_dev_dma_map: {}; payloads are copied", name_, ::rte_strerror(rte_errno));
    ::rte_extmem_unregister(address, region.size());
    return false;
  }
  const DmaRegion entry{reinterpret_cast<uintptr_t>(address), reinterpret_cast<uintptr_t>(address) + region.size()};
  dma_regions_.insert(std::upper_bound(dma_regions_.begin(), dma_regions_.end(), entry,
                                       [](const DmaRegion& a, const DmaRegion& b) { return a.begin < b.begin; }),
                      entry);
  return true;
}

void DpdkRail::remove_dma_region(std::span<std::byte> region) {
  if (!pci_) return;
  const auto begin = reinterpret_cast<uintptr_t>(region.data());
  const auto it = std::find_if(dma_regions_.begin(), dma_regions_.end(), [begin](const DmaRegion& r) { return r.begin == begin; });
  if (it == dma_regions_.end()) return;
  dma_regions_.erase(it);
  // Frames still in the TX ring may point into the region: let the NIC finish.
  ::rte_eth_tx_done_cleanup(port_, 0, 0);
  rte_eth_dev_info info{};
  ::rte_eth_dev_info_get(port_, &info);
  ::rte_dev_dma_unmap(info.device, region.data(), begin, region.size());
  ::rte_extmem_unregister(region.data(), region.size());
}

}  // namespace railyard::nic
