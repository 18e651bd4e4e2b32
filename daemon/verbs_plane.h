#pragma once
// The verbs data-plane thread (docs/VERBS.md). It owns the VerbsTransport:
// the RDMA devices, one RC queue pair per peer per rail, the memory
// registrations and the slices in flight, and is the only thread that touches
// them once it runs. The control thread talks to it as to the fabric's
// DataPlane: a command ring and an event ring, each with an eventfd to wake
// the other side, and a statistics snapshot published ten times a second.
//
// What it does on its own: opens a path to each peer on every rail when the
// control thread reports the peer's session up; every 250 ms, resends the
// connection message of a path not yet sendable and reopens one that failed
// (the slices it carried went to the other rails at once); follows the
// rails' link state; and sends the new region list to every connected peer
// after a region is registered or retired. Connection messages it emits go to the
// peer on the peer channel; the peer's come back as commands.
//
// Idle, it sleeps in ppoll on its eventfd and the rails' completion channels
// after arming the CQs: an idle plane costs nothing.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/event_fd.h"
#include "common/spsc_ring.h"
#include "drivers/nic/rail.h"
#include "drivers/nic/verbs/transport.h"

namespace railyard::daemon {

/// Control → verbs plane.
struct VerbsCommand {
  enum class Kind : uint8_t {
    post,            ///< transfer
    connection,      ///< a peer's connection message for `rail`: bytes
    session_up,      ///< a (new) session with `peer`: (re)connect every rail, restart its transfers
    session_down,    ///< the peer is gone: its paths close, its transfers fail
    cancel,          ///< fail transfer `transfer.id` to `peer` (after session_up: before it is written)
    region_added,    ///< register region `region` at [base, base + length) on every rail
    region_retired,  ///< stop using region `region`; region_released follows
  };
  Kind kind = Kind::post;
  uint16_t peer = 0;
  uint8_t rail = 0;
  verbs::TransferRequest transfer;
  uint32_t region = 0;
  std::byte* base = nullptr;
  uint64_t length = 0;
  std::vector<std::byte> bytes;
};

/// Verbs plane → control.
struct VerbsPlaneEvent {
  enum class Kind : uint8_t {
    sent,             ///< transfer `id` to `peer`: every byte is there
    send_failed,      ///< transfer `id`: refused at post (post_error) or given up (status)
    received,         ///< a peer's last slice landed: `id` is its IMM
    connection,       ///< send `bytes` to `peer` for `rail` on the peer channel
    region_released,  ///< region `id` is deregistered everywhere: it may be unmapped
    region_failed,    ///< region `id` could not be registered: `why`
    path_down,        ///< the QP to `peer` on `rail` failed (`status`); it is being reopened
    restarted,        ///< after session_up: the transfers to `peer` that start over (`ids`)
  };
  Kind kind = Kind::sent;
  uint16_t peer = 0;
  uint8_t rail = 0;
  uint32_t id = 0;
  verbs::WcStatus status = verbs::WcStatus::success;
  verbs::PostError post_error = verbs::PostError::ok;
  std::vector<std::byte> bytes;
  std::vector<uint32_t> ids;
  std::string why;
  /// received, restarted: how many session_up/session_down commands for
  /// `peer` the plane had handled, so the control thread can tell the old
  /// session's landings (already in the ring when it changed) from the new one's.
  uint32_t generation = 0;
};

/// A rail as set up: what `railctl rails` shows beside the counters.
struct VerbsRailInfo {
  std::string device;
  uint32_t port = 1;
  uint32_t gid_index = 0;
  std::string gid;
  std::string link_layer;
  uint32_t mtu = 0;
};

struct VerbsRailSnapshot {
  verbs::VerbsRailCounters counters;
  std::vector<verbs::ConnState> paths;  // per peer
  std::vector<bool> sendable;           // per peer
  uint32_t regions = 0;
  uint64_t connection_refusals = 0;     // peers' connection messages refused (late copies, mostly)
};

struct VerbsSnapshot {
  std::vector<VerbsRailSnapshot> rails;
};

class VerbsPlane {
 public:
  struct Rail {
    verbs::RailDeviceConfig device;
    const std::atomic<nic::LinkState>* link = nullptr;  // the netdev's state (LinkMonitor); null: always up
  };
  struct Settings {
    verbs::TransportConfig transport;  // node_id and max_peers are set from here
    uint64_t self_node = 0;
    std::vector<Rail> rails;
    std::vector<uint64_t> peer_nodes;  // peer slot p's node id
  };

  /// Opens every rail's device (port, GID, PD, CQ). Throws std::runtime_error
  /// naming the rail, what failed and what to do.
  VerbsPlane(verbs::VerbsOps& ops, Settings settings);
  ~VerbsPlane();
  VerbsPlane(const VerbsPlane&) = delete;
  VerbsPlane& operator=(const VerbsPlane&) = delete;

  void start();  // spawns the thread
  void stop();   // joins it

  // --- control thread ---
  /// False when the ring is full.
  bool submit(VerbsCommand command);
  int event_fd() const { return event_fd_.fd(); }
  std::optional<VerbsPlaneEvent> next_event();
  VerbsSnapshot snapshot() const;
  const std::vector<VerbsRailInfo>& rails() const { return info_; }
  uint64_t heartbeat() const { return heartbeat_.load(std::memory_order_relaxed); }

  /// One turn of the loop, without sleeping: commands, completions, posts,
  /// timers. The thread runs it; unit tests drive it directly. True when it
  /// did something.
  bool step(uint64_t now);

 private:
  void run();
  void idle_wait(uint64_t now, uint64_t deadline);
  void handle(VerbsCommand& c);
  void open_path(uint16_t peer, size_t rail);
  void send_connection(uint16_t peer, size_t rail, verbs::ConnKind kind);
  void announce_regions();
  void follow_links();
  void tend_paths();
  void translate();
  void emit(const VerbsPlaneEvent& event);
  void publish(uint64_t now);

  verbs::VerbsTransport transport_;
  std::vector<Rail> rails_;
  std::vector<VerbsRailInfo> info_;
  std::vector<bool> session_;             // per peer; plane thread only
  std::vector<uint32_t> generation_;       // per peer: session commands handled

  SpscRing<VerbsCommand> commands_{16384};
  SpscRing<VerbsPlaneEvent> events_{65536};
  EventFd command_fd_;  // control → plane
  EventFd event_fd_;    // plane → control
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> heartbeat_{0};  // loops_, published
  std::thread thread_;

  // Plane thread only.
  std::vector<verbs::VerbsEvent> transport_events_;
  std::vector<std::byte> message_;
  std::vector<int> link_up_;  // per rail: -1 not seen yet, 0 down, 1 up
  uint64_t loops_ = 0;
  uint64_t next_tend_ = 0;
  uint64_t next_publish_ = 0;
  bool wake_control_ = false;
  VerbsSnapshot counts_;

  mutable std::mutex snapshot_mu_;  // ten times a second, never per slice
  VerbsSnapshot snapshot_;
};

}  // namespace railyard::daemon
