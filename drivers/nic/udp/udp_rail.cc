#include "drivers/nic/udp/udp_rail.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "common/log.h"
#include "drivers/nic/link_monitor.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103  // linux/udp.h; older libc headers lack it
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

namespace railyard::nic {

namespace {

constexpr size_t kIpv4UdpHeaders = 20 + 8;
constexpr size_t kMaxUdpPayload = 65535 - kIpv4UdpHeaders;  // 65507
constexpr uint32_t kMaxGsoSegments = 64;                    // UDP_MAX_SEGMENTS on every kernel we support
constexpr unsigned kMaxBurst = 1024;                        // UIO_MAXIOV-sized batches are the kernel's limit too
constexpr size_t kTxControl = CMSG_SPACE(sizeof(uint16_t));
constexpr size_t kRxControl = CMSG_SPACE(sizeof(int)) * 3;  // IP_TOS and UDP_GRO, with room for one more
constexpr unsigned kGroSlots = 16;  // receives of up to 64 KiB each per recvmmsg with GRO

uint64_t source_key(in_addr address, uint16_t port_host) {
  return (uint64_t{ntohl(address.s_addr)} << 16) | port_host;
}

std::string errno_text(int error) { return std::strerror(error); }

/// Everything that can go wrong at open names the rail, interface and address.
class OpenError {
 public:
  explicit OpenError(const UdpRailConfig& config)
      : where_(fmt::format("udp rail {} (interface {}, address {}:{})", config.name, config.interface,
                           config.address, config.port)) {}
  template <class... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) const {
    throw std::runtime_error(fmt::format("{}: {}", where_, fmt::format(format, std::forward<Args>(args)...)));
  }

 private:
  std::string where_;
};

[[noreturn]] void close_and_fail(int& fd, const OpenError& error, const std::string& message) {
  ::close(fd);
  fd = -1;
  error.fail("{}", message);
}

in_addr parse_ipv4(const OpenError& error, std::string_view what, const std::string& text) {
  in_addr address{};
  if (::inet_pton(AF_INET, text.c_str(), &address) != 1) {
    error.fail("{} '{}' is not an IPv4 address (write it as a dotted quad, e.g. 10.0.0.1)", what, text);
  }
  return address;
}

/// The address must be one of the interface's own, or, on a loopback
/// interface, inside its prefix (lo answers for all of 127.0.0.0/8).
void check_address_on_interface(const OpenError& error, const UdpRailConfig& config, in_addr local) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) error.fail("cannot list interface addresses: {}", errno_text(errno));
  std::string present;
  bool found = false;
  for (const ifaddrs* a = list; a != nullptr && !found; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET || config.interface != a->ifa_name) continue;
    in_addr own{};
    std::memcpy(&own, &reinterpret_cast<const sockaddr_in*>(a->ifa_addr)->sin_addr, sizeof own);
    in_addr mask{};
    if (a->ifa_netmask != nullptr) {
      std::memcpy(&mask, &reinterpret_cast<const sockaddr_in*>(a->ifa_netmask)->sin_addr, sizeof mask);
    }
    char text[INET_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET, &own, text, sizeof text);
    present += present.empty() ? text : fmt::format(", {}", text);
    found = own.s_addr == local.s_addr ||
            ((a->ifa_flags & IFF_LOOPBACK) && (own.s_addr & mask.s_addr) == (local.s_addr & mask.s_addr));
  }
  ::freeifaddrs(list);
  if (!found) {
    error.fail("address {} is not on {} ({} has {}); add it (ip address add {}/PREFIX dev {}) or fix the rail's address",
               config.address, config.interface, config.interface, present.empty() ? "no IPv4 address" : present,
               config.address, config.interface);
  }
}

void set_buffer(const OpenError& error, int fd, int force_option, int option, int bytes, std::string_view what,
                std::string_view sysctl) {
  if (bytes <= 0) return;
  // FORCE goes past net.core.*mem_max with CAP_NET_ADMIN; otherwise the kernel caps quietly.
  if (::setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) != 0 &&
      ::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes) != 0) {
    error.fail("cannot set the {} buffer to {} bytes: {}", what, bytes, errno_text(errno));
  }
  int granted = 0;
  socklen_t length = sizeof granted;
  ::getsockopt(fd, SOL_SOCKET, option, &granted, &length);
  if (granted / 2 < bytes) {  // the kernel reports twice what it grants for payload
    log::warning("udp rail: {} buffer capped at {} bytes (asked {}); raise {} or give the daemon CAP_NET_ADMIN",
                 what, granted / 2, bytes, sysctl);
  }
}

}  // namespace

UdpRail::UdpRail(const UdpRailConfig& config, LinkMonitor* links, UdpSyscalls calls)
    : name_(config.name), interface_(config.interface), burst_(config.burst), gso_(config.gso), calls_(calls) {
  const OpenError error(config);
  if (config.burst == 0 || config.burst > kMaxBurst) error.fail("burst {} is out of range 1..{}", config.burst, kMaxBurst);
  if (config.interface.empty() || config.interface.size() >= IFNAMSIZ) {
    error.fail("interface name '{}' is empty or longer than {} characters", config.interface, IFNAMSIZ - 1);
  }
  const in_addr local = parse_ipv4(error, "address", config.address);

  // Neighbours: a dense table by slot for tx, a sorted one by source for rx.
  for (const UdpPeer& peer : config.peers) {
    if (peer.slot == kUnknownPeer) error.fail("peer {} has no slot", peer.address);
    const in_addr address = parse_ipv4(error, "peer address", peer.address);
    if (peer.port == 0) error.fail("peer {} (slot {}) has port 0", peer.address, peer.slot);
    if (peer.slot >= peer_by_slot_.size()) peer_by_slot_.resize(size_t{peer.slot} + 1, sockaddr_in{});
    if (peer_by_slot_[peer.slot].sin_family != 0) error.fail("peer slot {} is listed twice", peer.slot);
    auto& to = peer_by_slot_[peer.slot];
    to.sin_family = AF_INET;
    to.sin_addr = address;
    to.sin_port = htons(peer.port);
    slot_by_source_.push_back({source_key(address, peer.port), peer.slot});
  }
  std::sort(slot_by_source_.begin(), slot_by_source_.end(),
            [](const SourceKey& a, const SourceKey& b) { return a.key < b.key; });
  for (size_t i = 1; i < slot_by_source_.size(); ++i) {
    if (slot_by_source_[i].key == slot_by_source_[i - 1].key) {
      error.fail("peer slots {} and {} have the same address and port", slot_by_source_[i - 1].slot,
                 slot_by_source_[i].slot);
    }
  }

  ifindex_ = static_cast<int>(::if_nametoindex(config.interface.c_str()));
  if (ifindex_ == 0) {
    error.fail("interface {} does not exist (create it, or fix the rail's interface in the config)", config.interface);
  }
  check_address_on_interface(error, config, local);
  open_socket(config, local);

  // Preallocate everything a burst touches.
  tx_msgs_.resize(burst_);
  tx_iov_.resize(size_t{burst_} * 2);
  tx_first_.resize(burst_);
  tx_segments_.resize(burst_);
  tx_bytes_.resize(burst_);
  tx_control_ = std::make_unique<std::byte[]>(kTxControl * burst_);

  // With GRO a receive holds up to a whole UDP payload of same-size datagrams.
  rx_slots_ = gro_ ? std::min(burst_, kGroSlots) : burst_;
  rx_slot_ = ((gro_ ? kMaxUdpPayload : max_datagram_) + 63) & ~size_t{63};
  rx_ring_ = std::make_unique<std::byte[]>(rx_slot_ * rx_slots_);
  rx_control_ = std::make_unique<std::byte[]>(kRxControl * rx_slots_);
  rx_msgs_.resize(rx_slots_);
  rx_iov_.resize(rx_slots_);
  rx_from_.resize(rx_slots_);
  for (unsigned i = 0; i < rx_slots_; ++i) {
    rx_iov_[i] = iovec{.iov_base = rx_ring_.get() + i * rx_slot_, .iov_len = rx_slot_};
    msghdr& h = rx_msgs_[i].msg_hdr;
    h = msghdr{};
    h.msg_name = &rx_from_[i];
    h.msg_iov = &rx_iov_[i];
    h.msg_iovlen = 1;
    h.msg_control = rx_control_.get() + i * kRxControl;
  }

  if (links != nullptr) link_ = &links->state(ifindex_);
  log::info("udp rail {}: {} {}:{}, {} peers, max datagram {}, burst {}, gso {}, gro {}", name_, interface_,
            config.address, local_port_, config.peers.size(), max_datagram_, burst_, gso_ ? "on" : "off",
            gro_ ? "on" : "off");
}

void UdpRail::open_socket(const UdpRailConfig& config, in_addr local) {
  const OpenError error(config);
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) error.fail("cannot open a UDP socket: {}", errno_text(errno));
  // From here a failure must close the socket: the destructor does not run.
  const auto set = [this](int level, int option, int value) {
    return ::setsockopt(fd_, level, option, &value, sizeof value) == 0;
  };

  if (::setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, config.interface.c_str(),
                   static_cast<socklen_t>(config.interface.size())) != 0) {
    const int e = errno;
    close_and_fail(fd_, error, e == EPERM ? std::string("binding to the interface needs CAP_NET_RAW")
                            : fmt::format("SO_BINDTODEVICE: {}", errno_text(e)));
  }
  // Fabric datagrams are sized to the MTU; never let the kernel fragment them.
  if (!set(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)) close_and_fail(fd_, error, fmt::format("IP_MTU_DISCOVER: {}", errno_text(errno)));
  // ECT(0) so ECN-capable queues mark CE instead of dropping; IP_RECVTOS to read the marks.
  if (!set(IPPROTO_IP, IP_TOS, (config.dscp << 2) | kEct0)) close_and_fail(fd_, error, fmt::format("IP_TOS: {}", errno_text(errno)));
  if (!set(IPPROTO_IP, IP_RECVTOS, 1)) close_and_fail(fd_, error, fmt::format("IP_RECVTOS: {}", errno_text(errno)));
  // A kernel without UDP_GRO (before 5.0) delivers datagrams one by one: still correct.
  gro_ = config.gro && set(SOL_UDP, UDP_GRO, 1);
  try {
    set_buffer(error, fd_, SO_SNDBUFFORCE, SO_SNDBUF, config.send_buffer, "send", "net.core.wmem_max");
    set_buffer(error, fd_, SO_RCVBUFFORCE, SO_RCVBUF, config.receive_buffer, "receive", "net.core.rmem_max");
  } catch (const std::runtime_error&) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr = local;
  address.sin_port = htons(config.port);
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    const int e = errno;
    switch (e) {
      case EADDRINUSE:
        close_and_fail(fd_, error, fmt::format("port {} is in use on {} (another railyardd, two rails with the same address and "
                                 "port, or another program: see ss -ulpn 'sport = :{}')",
                                 config.port, config.address, config.port));
      case EADDRNOTAVAIL:
        close_and_fail(fd_, error, fmt::format("address {} is not on {}", config.address, config.interface));
      case EACCES:
        close_and_fail(fd_, error, fmt::format("port {} is privileged: use a port >= 1024 or grant CAP_NET_BIND_SERVICE",
                                 config.port));
      default:
        close_and_fail(fd_, error, fmt::format("bind: {}", errno_text(e)));
    }
  }
  sockaddr_in bound{};
  socklen_t length = sizeof bound;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &length);
  local_port_ = ntohs(bound.sin_port);

  ifreq request{};
  std::memcpy(request.ifr_name, config.interface.data(), config.interface.size());
  if (::ioctl(fd_, SIOCGIFMTU, &request) != 0) close_and_fail(fd_, error, fmt::format("SIOCGIFMTU: {}", errno_text(errno)));
  if (request.ifr_mtu <= static_cast<int>(kIpv4UdpHeaders) + 64) {
    close_and_fail(fd_, error, fmt::format("MTU {} of {} is too small for a rail", request.ifr_mtu, config.interface));
  }
  max_datagram_ = std::min(static_cast<size_t>(request.ifr_mtu) - kIpv4UdpHeaders, kMaxUdpPayload);
}

UdpRail::~UdpRail() {
  if (fd_ >= 0) ::close(fd_);
}

const sockaddr_in* UdpRail::peer_address(PeerSlot slot) const {
  if (slot >= peer_by_slot_.size() || peer_by_slot_[slot].sin_family == 0) return nullptr;
  return &peer_by_slot_[slot];
}

PeerSlot UdpRail::peer_of(const sockaddr_in& from) const {
  const uint64_t key = source_key(from.sin_addr, ntohs(from.sin_port));
  const auto it = std::lower_bound(slot_by_source_.begin(), slot_by_source_.end(), key,
                                   [](const SourceKey& entry, uint64_t k) { return entry.key < k; });
  return it != slot_by_source_.end() && it->key == key ? it->slot : kUnknownPeer;
}

size_t UdpRail::tx_burst(std::span<const TxFrame> frames) {
  const size_t n = std::min<size_t>(frames.size(), burst_);
  size_t i = 0;
  unsigned m = 0;
  size_t iov = 0;
  const auto gather = [this, &iov](const TxFrame& f) {
    // The payload is pointed at, never copied: header and payload are two iovecs.
    tx_iov_[iov++] = iovec{.iov_base = const_cast<std::byte*>(f.header.data()), .iov_len = f.header.size()};
    tx_iov_[iov++] = iovec{.iov_base = const_cast<std::byte*>(f.payload.data()), .iov_len = f.payload.size()};
  };
  while (i < n) {
    const TxFrame& f = frames[i];
    const size_t length = f.header.size() + f.payload.size();
    const sockaddr_in* to = peer_address(f.peer);
    if (to == nullptr || length > max_datagram_) {
      // Unsendable anywhere on this rail: dropped and counted, but only at the
      // head of a burst, so that every frame counted is also a frame consumed.
      if (m > 0) break;
      ++counters_.tx_errors;
      ++i;
      continue;
    }
    tx_first_[m] = i;
    msghdr& h = tx_msgs_[m].msg_hdr;
    h = msghdr{};
    h.msg_name = const_cast<sockaddr_in*>(to);
    h.msg_namelen = sizeof(sockaddr_in);
    h.msg_iov = &tx_iov_[iov];
    gather(f);
    ++i;
    uint32_t segments = 1;
    size_t total = length;
    if (gso_ && length > 0) {
      // Same peer, same size (the last may be shorter): one UDP_SEGMENT super-datagram.
      while (i < n && segments < kMaxGsoSegments) {
        const TxFrame& g = frames[i];
        const size_t next = g.header.size() + g.payload.size();
        if (g.peer != f.peer || next == 0 || next > length || total + next > kMaxUdpPayload) break;
        gather(g);
        ++segments;
        total += next;
        ++i;
        if (next < length) break;
      }
    }
    h.msg_iovlen = size_t{segments} * 2;
    if (segments > 1) {
      std::byte* control = tx_control_.get() + size_t{m} * kTxControl;
      std::memset(control, 0, kTxControl);
      h.msg_control = control;
      h.msg_controllen = kTxControl;
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      const auto segment = static_cast<uint16_t>(length);
      std::memcpy(CMSG_DATA(c), &segment, sizeof segment);
    }
    tx_segments_[m] = segments;
    tx_bytes_[m] = total;
    ++m;
  }
  if (m == 0) return i;
  const size_t head = tx_first_[0];

  ++stats_.tx_syscalls;
  const int sent = calls_.sendmmsg(fd_, tx_msgs_.data(), m, MSG_DONTWAIT);
  if (sent > 0) {
    for (int k = 0; k < sent; ++k) {
      counters_.tx_frames += tx_segments_[k];
      counters_.tx_bytes += tx_bytes_[k];
      if (tx_segments_[k] > 1) ++stats_.tx_gso_messages;
    }
    // A short count means the next message would have failed; its error, if
    // it persists, comes back on the next call.
    return static_cast<unsigned>(sent) == m ? i : tx_first_[sent];
  }
  const int error = sent < 0 ? errno : EAGAIN;
  const size_t first_end = m > 1 ? tx_first_[1] : i;
  switch (error) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case ENOBUFS:  // the device queue is full: same meaning as a full socket buffer
      counters_.tx_would_block += i - head;
      return head;
    case EINTR:
      return head;
    case EIO:
    case EINVAL:
      if (tx_segments_[0] > 1) {
        // The device (or the route) cannot take GSO: stop using it; offer again.
        gso_ = false;
        log::warning("udp rail {}: UDP GSO refused on {} ({}); sending datagrams one by one", name_, interface_,
                     errno_text(error));
        return head;
      }
      [[fallthrough]];
    default:
      // EMSGSIZE (path MTU shrank), ENETUNREACH, EPERM (a firewall)...: the
      // first datagram is dropped, as a NIC would; reliability resends it.
      counters_.tx_errors += tx_segments_[0];
      return first_end;
  }
}

void UdpRail::take_message(unsigned j) {
  msghdr& h = rx_msgs_[j].msg_hdr;
  RxMessage m{.length = rx_msgs_[j].msg_len};
  m.segment = m.length;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS && c->cmsg_len >= CMSG_LEN(1)) {
      uint8_t tos = 0;
      std::memcpy(&tos, CMSG_DATA(c), 1);
      m.ce = (tos & kEcnMask) == kEcnCe;
    } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int segment = 0;
      std::memcpy(&segment, CMSG_DATA(c), sizeof segment);
      if (segment > 0) m.segment = static_cast<size_t>(segment);
    }
  }
  // Larger than max_datagram(): reassembled fragments (or a GRO segment size
  // no rail of ours sends), not fabric frames.
  m.truncated = (h.msg_flags & MSG_TRUNC) != 0 || m.segment > max_datagram_;
  m.peer = h.msg_namelen >= sizeof(sockaddr_in) ? peer_of(rx_from_[j]) : kUnknownPeer;
  if (m.segment < m.length) ++stats_.rx_gro_messages;
  rx_current_ = m;
}

size_t UdpRail::rx_burst(std::span<RxFrame> frames) {
  size_t out = 0;
  while (out < frames.size()) {
    if (rx_next_ == rx_got_) {  // everything handed out: receive more
      if (out != 0) break;      // one recvmmsg per call
      const auto n = static_cast<unsigned>(rx_slots_);
      for (unsigned j = 0; j < n; ++j) {
        msghdr& h = rx_msgs_[j].msg_hdr;  // the kernel rewrites these three on every call
        h.msg_namelen = sizeof(sockaddr_in);
        h.msg_controllen = kRxControl;
        h.msg_flags = 0;
      }
      const int got = calls_.recvmmsg(fd_, rx_msgs_.data(), n, MSG_DONTWAIT, nullptr);
      if (got <= 0) {
        if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ++counters_.rx_errors;
        return 0;
      }
      ++stats_.rx_syscalls;
      rx_got_ = static_cast<unsigned>(got);
      rx_next_ = 0;
      rx_offset_ = 0;
      take_message(0);
    }
    const RxMessage& m = rx_current_;
    const std::byte* base = rx_ring_.get() + static_cast<size_t>(rx_next_) * rx_slot_;
    if (m.truncated) {
      ++counters_.rx_errors;
      ++stats_.rx_truncated;
      rx_offset_ = m.length;
    } else {
      // One datagram: the next segment of the message (the last may be shorter).
      const size_t length = std::min(m.segment, m.length - rx_offset_);
      if (m.peer == kUnknownPeer) ++counters_.rx_unknown_source;
      if (m.ce) ++counters_.rx_ecn_ce;
      ++counters_.rx_frames;
      counters_.rx_bytes += length;
      frames[out++] = RxFrame{.bytes = std::span<const std::byte>(base + rx_offset_, length), .peer = m.peer,
                              .ecn_ce = m.ce};
      rx_offset_ += length;
    }
    if (rx_offset_ >= m.length) {  // on to the next message of this receive
      ++rx_next_;
      rx_offset_ = 0;
      if (rx_next_ < rx_got_) take_message(rx_next_);
    }
  }
  return out;
}

LinkState UdpRail::link_state() const {
  return link_ != nullptr ? link_->load(std::memory_order_acquire) : LinkState::unknown;
}

UdpRailStats UdpRail::stats() const {
  UdpRailStats s = stats_;
  s.gso_active = gso_;
  s.gro_active = gro_;
  return s;
}

}  // namespace railyard::nic
