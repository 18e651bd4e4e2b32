#pragma once
// Link state of the host's interfaces from rtnetlink. One NETLINK_ROUTE socket
// subscribed to RTMGRP_LINK, seeded by an RTM_GETLINK dump. The control-plane
// thread owns the monitor and calls poll() when fd() is readable (e.g. from an
// Asio posix::stream_descriptor async_wait); data-plane threads read the
// per-interface atomics that rails hold.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/nic/rail.h"

namespace railyard::nic {

/// One RTM_NEWLINK / RTM_DELLINK message, as parsed.
struct LinkUpdate {
  int ifindex = 0;
  bool deleted = false;     // RTM_DELLINK
  uint32_t flags = 0;       // ifi_flags (IFF_UP, IFF_RUNNING, ...)
  int operstate = -1;       // IFLA_OPERSTATE (IF_OPER_*), -1 when absent
  int carrier = -1;         // IFLA_CARRIER (0, 1), -1 when absent
  std::string_view name;    // IFLA_IFNAME, empty when absent; points into the parsed buffer
  LinkState state = LinkState::unknown;
};

struct NetlinkParseResult {
  size_t messages = 0;      // well-formed netlink messages seen
  size_t malformed = 0;     // messages (or a trailing fragment) rejected
  bool done = false;        // NLMSG_DONE seen: a dump ended
  bool dump_interrupted = false;  // NLM_F_DUMP_INTR: the dump is inconsistent, dump again
  bool overrun = false;     // NLMSG_OVERRUN
  int error = 0;            // negative errno from an NLMSG_ERROR that is not an ack
  uint32_t error_seq = 0;   // nlmsg_seq of the request that error answers
};

/// Parses a buffer of netlink messages as read from a NETLINK_ROUTE socket and
/// appends one LinkUpdate per well-formed RTM_NEWLINK/RTM_DELLINK. Pure: no
/// I/O, any input is safe (lengths are checked, nothing is read unaligned).
NetlinkParseResult parse_link_messages(std::span<const std::byte> buffer, std::vector<LinkUpdate>& out);

/// The rail's view of an interface: down when not IFF_UP. Then IFLA_CARRIER
/// when present (it is read live; IFLA_OPERSTATE lags it until the kernel's
/// linkwatch runs, up to a second later): no carrier is down, carrier is up
/// unless operstate says dormant, testing or not present. Without a carrier
/// attribute: IFLA_OPERSTATE when it says up or down, else IFF_RUNNING.
LinkState link_state_from(uint32_t flags, int operstate, int carrier = -1);

struct LinkMonitorStats {
  uint64_t messages = 0;
  uint64_t malformed = 0;
  uint64_t foreign = 0;   // datagrams not from the kernel, ignored
  uint64_t overruns = 0;  // ENOBUFS: notifications lost, a dump resynchronised
  uint64_t dumps = 0;
  uint64_t refreshes = 0;  // refresh() calls that sent requests
};

class LinkMonitor {
 public:
  /// Opens the socket and loads the current state of every interface (a
  /// dump, answered by the kernel at once). Throws std::runtime_error.
  LinkMonitor();
  ~LinkMonitor();
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

  /// Readable when notifications are pending. Owned by the monitor: an Asio
  /// descriptor wrapping it must release() it rather than close it.
  int fd() const { return fd_; }

  /// Drains pending notifications without blocking and updates the states.
  /// Returns how many interfaces changed state.
  size_t poll();

  /// Asks the kernel (without waiting) for the current state of every
  /// interface a rail watches (see state()); the answers arrive on fd() for
  /// poll(). Call it from a timer, every 10 ms or so: the kernel sends carrier
  /// changes through linkwatch, which holds most of them back to one per
  /// second, host-wide, so a peer's cable pull would otherwise show late.
  /// Admin up/down needs no refresh: it is notified at once. Returns the
  /// number of interfaces asked about.
  size_t refresh();

  /// The state of an interface by index, updated by poll(); the interface is
  /// watched from now on (refresh() asks about it). The reference is stable
  /// for the monitor's lifetime (rails keep it); an index not seen yet reads
  /// LinkState::unknown until a message names it.
  const std::atomic<LinkState>& state(int ifindex);

  /// Current state by name; unknown when no such interface was seen.
  LinkState state_of(std::string_view ifname) const;

  struct Change {
    int ifindex;
    std::string_view name;
    LinkState state;
  };
  /// Called from poll() for each change (on the thread that polls).
  void on_change(std::function<void(const Change&)> observer) { observer_ = std::move(observer); }

  LinkMonitorStats stats() const { return stats_; }

 private:
  struct Entry {
    int ifindex = 0;
    std::string name;
    std::atomic<LinkState> state{LinkState::unknown};
    bool watched = false;
    bool deleted = false;
  };
  Entry& entry(int ifindex);
  bool request_dump();
  void resync();
  size_t drain();
  size_t apply(const LinkUpdate& update);

  int fd_ = -1;
  uint32_t dump_seq_ = 0;
  uint32_t refresh_seq_ = 0;
  std::vector<std::byte> requests_;
  bool dump_running_ = false;
  bool resync_pending_ = false;
  std::vector<std::unique_ptr<Entry>> entries_;  // unique_ptr: atomics never move
  std::vector<LinkUpdate> updates_;
  std::unique_ptr<std::byte[]> buffer_;
  std::function<void(const Change&)> observer_;
  LinkMonitorStats stats_;
};

}  // namespace railyard::nic
