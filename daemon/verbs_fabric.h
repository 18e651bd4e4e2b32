#pragma once
// Verbs rails on the control thread: the other end of the VerbsPlane.
//
// - Sending: every transfer is announced to the receiving daemon on the peer
//   channel (fabric::LandingDescriptor as a VerbsTransfer: region, offset,
//   length, class, CRC32C on request) in the same turn of the loop in which
//   it is handed to the plane, in posting order, batched per peer.
// - Receiving: the peer's announcements meet the last slices that land here
//   (fabric/landing_match.h); the second of the two delivers the transfer,
//   once, after checking its CRC32C when one was asked for.
// - Sessions: transfers wait for the peer's session; a new session restarts
//   every unfinished transfer to that peer (the plane rewrites it from its
//   first slice) and announces it again; a lost peer fails them. Landings
//   carry the plane's session generation, so one of the old session still in
//   the ring cannot match a new announcement.
// - A transfer that fails after its announcement is withdrawn, so the
//   receiver stops waiting for it.
// - Regions: it observes the RegionTable; every region is registered with
//   the RDMA devices and stays mapped (pinned) until the plane has
//   deregistered it.
//
// Outcomes come out as the fabric's own FabricEvents (sent, received), so
// FabricService routes them to workloads as it does for UDP and DPDK rails.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "daemon/data_plane.h"
#include "daemon/region_table.h"
#include "daemon/verbs_plane.h"
#include "fabric/landing_match.h"
#include "railyard/v1/control.pb.h"
#include "railyard/v1/peer.pb.h"

namespace railyard::daemon {

class VerbsFabric {
 public:
  /// Where sends and landings go (FabricService::on_event).
  using EventSink = std::function<void(const FabricEvent&)>;
  /// Sends a message to `peer` on the peer channel; false with why when it
  /// cannot be queued.
  using MessageSink = std::function<bool(uint16_t peer, const v1::PeerMessage&, std::string& error)>;

  /// Opens the rails (throws std::runtime_error naming the rail and the fix).
  VerbsFabric(boost::asio::io_context& io, verbs::VerbsOps& ops, VerbsPlane::Settings settings, RegionTable& regions,
              std::vector<std::string> peer_names, EventSink events, MessageSink messages);
  ~VerbsFabric();

  /// The plane's thread and the event watch; unit tests drive step() instead.
  void start();
  void stop();

  /// The transfer's source is `command.source`, at `local_offset` in region
  /// `local_region` (the RDMA devices know regions by id).
  void post(const FabricCommand& command, uint32_t local_region, uint64_t local_offset);
  /// The peer's session came up (a new one) or was lost.
  void on_session(uint16_t peer, bool up);
  /// A verbs_connection or verbs_transfers message from `peer`.
  void on_message(uint16_t peer, const v1::PeerMessage& message);

  /// Hands this turn's transfers to the peer channel and the plane.
  void flush();
  /// Handles what the plane reported.
  void drain();
  /// Unit tests, in place of the thread: this turn's transfers to the plane,
  /// then one turn of the plane's loop. drain() handles what it reported.
  void step(uint64_t now);

  bool progressing();  // the plane's loop moved since the last call (watchdog)
  VerbsSnapshot snapshot() const { return plane_->snapshot(); }
  void fill_rail(size_t rail, v1::RailStatus& out) const;
  void fill_peer(uint16_t peer, v1::VerbsLandings& out) const;
  size_t outstanding(uint16_t peer) const;

 private:
  struct Outgoing {
    RegionTable::Pin source;
    v1::VerbsTransfer announcement;
    uint32_t local_region = 0;
    uint64_t local_offset = 0;
    bool posted = false;  // handed to the plane: only the plane's report ends it
  };
  struct PeerState {
    bool session = false;
    bool awaiting_restart = false;  // a new session: announcements wait for the plane's restarted list
    uint32_t generation = 0;        // session_up/session_down commands sent to the plane
    std::vector<uint64_t> queued;     // posted, not announced yet: ids in posting order
    std::vector<uint64_t> withdrawn;  // announced this session, failed before landing: to tell the peer
    std::map<uint64_t, Outgoing> transfers;  // by transfer id: queued and announced, not finished
    fabric::LandingMatch landings;
    uint64_t warned_refusals = 0;
  };

  void watch_events();
  void schedule_flush();
  /// Told of each announcement message: its transfers, whether the channel took it, and why not.
  using Settled = std::function<void(std::span<const uint64_t> batch, bool announced, const std::string& error)>;
  /// Announces `ids` (growing) to `peer` in messages of bounded size, the
  /// pending withdrawals with them (a message of withdrawals alone if none).
  void announce(uint16_t peer, std::span<const uint64_t> ids, const Settled& settled);
  void flush_peer(uint16_t peer);
  /// The plane's list of transfers that start over on the new session:
  /// announced again, in order, before anything posted since.
  void announce_restarted(uint16_t peer, const VerbsPlaneEvent& e);
  void submit(VerbsCommand command);
  void retry_submits_soon();
  void finish(uint16_t peer, uint64_t transfer_id, FabricEvent::Outcome outcome);
  void land(uint16_t peer, const fabric::LandingDescriptor& d);
  void on_plane_event(VerbsPlaneEvent& e);
  uint64_t full_id(uint16_t peer, uint32_t imm) const;

  boost::asio::io_context& io_;
  std::unique_ptr<VerbsPlane> plane_;
  RegionTable& regions_;
  std::vector<std::string> peer_names_;
  EventSink events_;
  MessageSink messages_;
  std::vector<PeerState> peers_;
  // Per region id: the registration the plane holds (or is making) first,
  // then a newer one of a reused id, submitted only once the plane has let
  // go of the older, so the plane's reports by id are never ambiguous.
  struct Registration {
    RegionTable::Pin pin;  // the whole region, mapped until the plane lets go
    std::byte* base = nullptr;
    uint64_t length = 0;
    bool retired = false;
  };
  std::map<uint32_t, std::deque<Registration>> registrations_;
  void region_added(uint32_t id);  // the RegionTable's observer
  void region_retired(uint32_t id);
  void register_front(uint32_t id);
  /// The plane deregistered (or could not register) the oldest registration of `id`.
  void region_let_go(uint32_t id);
  std::deque<VerbsCommand> unsubmitted_;  // the plane's ring was full: kept in order
  boost::asio::posix::stream_descriptor event_fd_;
  boost::asio::steady_timer retry_timer_;
  bool flush_scheduled_ = false;
  uint64_t last_heartbeat_ = ~uint64_t{0};
};

}  // namespace railyard::daemon
