#include "drivers/nic/link_monitor.h"

#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "common/log.h"

namespace railyard::nic {

namespace {

constexpr size_t kReceiveBuffer = 64 * 1024;  // above the kernel's largest dump skb (32 KiB)
constexpr int kSocketBuffer = 1 << 20;        // room for a burst of link flaps before ENOBUFS
constexpr auto kInitialDumpTimeout = std::chrono::seconds(2);

constexpr size_t align4(size_t n) { return (n + 3) & ~size_t{3}; }

template <class T>
T load(std::span<const std::byte> bytes, size_t offset = 0) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

/// Parses the body of RTM_NEWLINK/RTM_DELLINK; false when malformed.
bool parse_link(std::span<const std::byte> body, bool deleted, LinkUpdate& out) {
  if (body.size() < sizeof(ifinfomsg)) return false;
  const auto info = load<ifinfomsg>(body);
  if (info.ifi_index <= 0) return false;
  out = LinkUpdate{.ifindex = info.ifi_index, .deleted = deleted, .flags = info.ifi_flags};
  size_t offset = align4(sizeof(ifinfomsg));
  while (offset < body.size()) {
    if (body.size() - offset < sizeof(rtattr)) return false;
    const auto attr = load<rtattr>(body, offset);
    if (attr.rta_len < sizeof(rtattr) || attr.rta_len > body.size() - offset) return false;
    const auto value = body.subspan(offset + sizeof(rtattr), attr.rta_len - sizeof(rtattr));
    switch (attr.rta_type & NLA_TYPE_MASK) {
      case IFLA_IFNAME: {
        const auto* chars = reinterpret_cast<const char*>(value.data());
        const void* nul = std::memchr(chars, 0, value.size());
        const size_t length = nul ? static_cast<size_t>(static_cast<const char*>(nul) - chars) : value.size();
        if (length == 0 || length >= IFNAMSIZ) return false;
        out.name = std::string_view(chars, length);
        break;
      }
      case IFLA_OPERSTATE:
        if (value.empty()) return false;
        out.operstate = static_cast<int>(std::to_integer<uint8_t>(value[0]));
        break;
      case IFLA_CARRIER:
        if (value.empty()) return false;
        out.carrier = std::to_integer<uint8_t>(value[0]) != 0 ? 1 : 0;
        break;
      default:
        break;
    }
    offset += align4(attr.rta_len);
  }
  out.state = deleted ? LinkState::down : link_state_from(out.flags, out.operstate, out.carrier);
  return true;
}

}  // namespace

LinkState link_state_from(uint32_t flags, int operstate, int carrier) {
  // Administratively down is final, and the kernel says so at once; operstate
  // may still read UP in that very message (linkwatch updates it later).
  if (!(flags & IFF_UP)) return LinkState::down;
  if (carrier == 0) return LinkState::down;
  if (carrier == 1) {
    const bool held = operstate == IF_OPER_DORMANT || operstate == IF_OPER_TESTING || operstate == IF_OPER_NOTPRESENT;
    return held ? LinkState::down : LinkState::up;
  }
  switch (operstate) {
    case IF_OPER_UP:
      return LinkState::up;
    case IF_OPER_NOTPRESENT:
    case IF_OPER_DOWN:
    case IF_OPER_LOWERLAYERDOWN:
    case IF_OPER_TESTING:
    case IF_OPER_DORMANT:
      return LinkState::down;
    default:  // IF_OPER_UNKNOWN (lo, tun), absent, or a value newer than this code
      return (flags & IFF_UP) && (flags & IFF_RUNNING) ? LinkState::up : LinkState::down;
  }
}

NetlinkParseResult parse_link_messages(std::span<const std::byte> buffer, std::vector<LinkUpdate>& out) {
  NetlinkParseResult result;
  size_t offset = 0;
  while (buffer.size() - offset >= sizeof(nlmsghdr)) {
    const auto header = load<nlmsghdr>(buffer, offset);
    if (header.nlmsg_len < sizeof(nlmsghdr) || header.nlmsg_len > buffer.size() - offset) {
      ++result.malformed;  // framing lost: nothing after this can be trusted
      return result;
    }
    const auto body = buffer.subspan(offset + NLMSG_HDRLEN, header.nlmsg_len - NLMSG_HDRLEN);
    offset += std::min(align4(header.nlmsg_len), buffer.size() - offset);
    if (header.nlmsg_flags & NLM_F_DUMP_INTR) result.dump_interrupted = true;

    switch (header.nlmsg_type) {
      case RTM_NEWLINK:
      case RTM_DELLINK: {
        LinkUpdate update;
        if (!parse_link(body, header.nlmsg_type == RTM_DELLINK, update)) {
          ++result.malformed;
          continue;
        }
        out.push_back(update);
        break;
      }
      case NLMSG_ERROR:
        if (body.size() < sizeof(int)) {
          ++result.malformed;
          continue;
        }
        if (const int error = load<int>(body); error != 0 && result.error == 0) {
          result.error = error;
          if (body.size() >= sizeof(int) + sizeof(nlmsghdr)) result.error_seq = load<nlmsghdr>(body, sizeof(int)).nlmsg_seq;
        }
        break;
      case NLMSG_DONE:
        result.done = true;
        if (body.size() >= sizeof(int)) {
          if (const int error = load<int>(body); error < 0 && result.error == 0) {
            result.error = error;
            result.error_seq = header.nlmsg_seq;
          }
        }
        break;
      case NLMSG_OVERRUN:
        result.overrun = true;
        break;
      default:  // NLMSG_NOOP, other rtnetlink families: not ours
        break;
    }
    ++result.messages;
  }
  if (offset < buffer.size()) ++result.malformed;  // a trailing fragment shorter than a header
  return result;
}

LinkMonitor::LinkMonitor() : buffer_(std::make_unique<std::byte[]>(kReceiveBuffer)) {
  fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd_ < 0) {
    throw std::system_error(errno, std::generic_category(),
                            "link monitor: cannot open a NETLINK_ROUTE socket (is AF_NETLINK allowed by "
                            "RestrictAddressFamilies=?)");
  }
  // FORCE passes rmem_max when we have CAP_NET_ADMIN; otherwise take what is allowed.
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer) != 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &kSocketBuffer, sizeof kSocketBuffer);
  }
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  local.nl_groups = RTMGRP_LINK;
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
    const int error = errno;
    ::close(fd_);
    throw std::system_error(error, std::generic_category(), "link monitor: cannot subscribe to RTMGRP_LINK");
  }
  if (!request_dump()) {
    const int error = errno;
    ::close(fd_);
    throw std::system_error(error, std::generic_category(), "link monitor: RTM_GETLINK dump request failed");
  }
  // The kernel answers a link dump at once; wait for it so rails opened next
  // see real states, not unknown.
  const auto deadline = std::chrono::steady_clock::now() + kInitialDumpTimeout;
  while (dump_running_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::close(fd_);
      throw std::runtime_error("link monitor: the kernel did not answer the RTM_GETLINK dump within 2 s");
    }
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) > 0) drain();
  }
}

LinkMonitor::~LinkMonitor() {
  if (fd_ >= 0) ::close(fd_);
}

bool LinkMonitor::request_dump() {
  struct {
    nlmsghdr header;
    ifinfomsg info;
  } request{};
  request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  request.header.nlmsg_type = RTM_GETLINK;
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  dump_seq_ = (dump_seq_ + 1) & 0x7fffffff;  // the top bit marks refresh requests
  request.header.nlmsg_seq = dump_seq_;
  request.info.ifi_family = AF_UNSPEC;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_, &request, request.header.nlmsg_len, 0, reinterpret_cast<const sockaddr*>(&kernel), sizeof kernel) < 0) {
    return false;
  }
  dump_running_ = true;
  ++stats_.dumps;
  return true;
}

void LinkMonitor::resync() {
  if (dump_running_) {
    resync_pending_ = true;  // one dump at a time per socket (EBUSY otherwise)
  } else if (!request_dump()) {
    log::warning("link monitor: RTM_GETLINK dump request failed: {}; retrying on the next poll", std::strerror(errno));
    resync_pending_ = true;
  }
}

size_t LinkMonitor::poll() {
  if (resync_pending_ && !dump_running_) {
    resync_pending_ = false;
    resync();
  }
  return drain();
}

size_t LinkMonitor::drain() {
  size_t changes = 0;
  for (;;) {
    sockaddr_nl from{};
    iovec iov{.iov_base = buffer_.get(), .iov_len = kReceiveBuffer};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    const ssize_t got = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {  // the socket overflowed: notifications were lost
        ++stats_.overruns;
        log::warning("link monitor: netlink notifications lost (ENOBUFS); reloading all link states");
        resync();
        continue;
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) log::warning("link monitor: recvmsg: {}", std::strerror(errno));
      break;
    }
    if (from.nl_pid != 0) {  // only the kernel speaks for links; another process could forge messages
      ++stats_.foreign;
      continue;
    }
    if (msg.msg_flags & MSG_TRUNC) {
      ++stats_.malformed;
      resync();
      continue;
    }
    updates_.clear();
    const auto parsed = parse_link_messages(std::span(buffer_.get(), static_cast<size_t>(got)), updates_);
    stats_.messages += parsed.messages;
    stats_.malformed += parsed.malformed;
    for (const auto& update : updates_) changes += apply(update);
    const bool dump_error = parsed.error != 0 && parsed.error_seq == dump_seq_;
    if (dump_error) log::warning("link monitor: link dump failed: {}", std::strerror(-parsed.error));
    // A refresh answered ENODEV: the interface went away; RTM_DELLINK says so too.
    if (parsed.dump_interrupted || parsed.overrun) resync_pending_ = true;
    if (parsed.done || (dump_error && dump_running_)) {
      dump_running_ = false;
      if (resync_pending_) {
        resync_pending_ = false;
        resync();
      }
    }
  }
  return changes;
}

size_t LinkMonitor::refresh() {
  requests_.clear();
  size_t asked = 0;
  for (const auto& e : entries_) {
    if (!e->watched || e->deleted) continue;
    struct {
      nlmsghdr header;
      ifinfomsg info;
    } request{};
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
    request.header.nlmsg_type = RTM_GETLINK;
    request.header.nlmsg_flags = NLM_F_REQUEST;
    request.header.nlmsg_seq = 0x80000000u | (++refresh_seq_ & 0x7fffffff);
    request.info.ifi_family = AF_UNSPEC;
    request.info.ifi_index = e->ifindex;
    const auto* bytes = reinterpret_cast<const std::byte*>(&request);
    requests_.insert(requests_.end(), bytes, bytes + sizeof request);  // NLMSG_ALIGNed already
    ++asked;
  }
  if (asked == 0) return 0;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  // One sendto for all: the kernel answers each message of the batch in turn.
  if (::sendto(fd_, requests_.data(), requests_.size(), MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&kernel),
               sizeof kernel) < 0) {
    return 0;  // EAGAIN/ENOBUFS: the next tick asks again
  }
  ++stats_.refreshes;
  return asked;
}

LinkMonitor::Entry& LinkMonitor::entry(int ifindex) {
  for (auto& e : entries_) {
    if (e->ifindex == ifindex) return *e;
  }
  auto& e = entries_.emplace_back(std::make_unique<Entry>());
  e->ifindex = ifindex;
  return *e;
}

size_t LinkMonitor::apply(const LinkUpdate& update) {
  Entry& e = entry(update.ifindex);
  e.deleted = update.deleted;
  if (!update.name.empty() && e.name != update.name) {
    for (auto& other : entries_) {  // a rename or a recreated interface: the name moves here
      if (other.get() != &e && other->name == update.name) other->name.clear();
    }
    e.name = update.name;
  }
  const LinkState before = e.state.load(std::memory_order_relaxed);
  if (before == update.state) return 0;
  e.state.store(update.state, std::memory_order_release);
  if (before != LinkState::unknown) {  // the first dump is not news
    log::info("link {} (ifindex {}): {}", e.name, e.ifindex, update.state == LinkState::up ? "up" : "down");
  }
  if (observer_) observer_(Change{.ifindex = e.ifindex, .name = e.name, .state = update.state});
  return 1;
}

const std::atomic<LinkState>& LinkMonitor::state(int ifindex) {
  Entry& e = entry(ifindex);
  e.watched = true;
  return e.state;
}

LinkState LinkMonitor::state_of(std::string_view ifname) const {
  for (const auto& e : entries_) {
    if (e->name == ifname) return e->state.load(std::memory_order_acquire);
  }
  return LinkState::unknown;
}

}  // namespace railyard::nic
