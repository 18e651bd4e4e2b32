// The daemon's verbs side (VerbsFabric on the control thread, VerbsPlane's
// loop) for two hosts over the fake verbs of tests/unit/verbs (no RDMA device
// exists here): announcements on the peer channel meet the landings, regions
// come from real memfd RegionTables, sessions come and go. The test carries
// the peer messages between the hosts, as the peer channel would.
#include "daemon/verbs_fabric.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <deque>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "tests/unit/verbs/fake_verbs.h"

namespace railyard::daemon {
namespace {

using verbs::testing::FakeVerbs;

constexpr uint64_t kNodeA = 0xa1, kNodeB = 0xb2;
constexpr uint32_t kSlice = 64 * 1024;
constexpr uint32_t kSource = 1, kSink = 2;
constexpr uint64_t kRegionBytes = 4 << 20;

struct Host {
  RegionTable regions;
  std::unique_ptr<VerbsFabric> fabric;
  std::vector<FabricEvent> events;
  std::deque<v1::PeerMessage> outbox;  // to the other host
  bool channel_open = true;            // false: the peer channel refuses messages (backed up)

  /// One turn of the plane, then what it reported.
  void turn(uint64_t now) {
    fabric->step(now);
    fabric->drain();
  }
  std::span<std::byte> region(uint32_t id) {
    const RegionView v = regions.lookup(id);
    return {v.base, v.length};
  }
  size_t count(FabricEvent::Kind kind, FabricEvent::Outcome outcome = FabricEvent::Outcome::ok) const {
    return static_cast<size_t>(std::count_if(events.begin(), events.end(), [&](const FabricEvent& e) {
      return e.kind == kind && e.outcome == outcome;
    }));
  }
};

class Rack {
 public:
  explicit Rack(size_t rails) : rails_(rails) {
    for (size_t r = 0; r < rails; ++r) fake.add_roce_device("fake" + std::to_string(r), static_cast<int>(r));
    a = make_host(kNodeA, kNodeB, "b");
    b = make_host(kNodeB, kNodeA, "a");
    fill(*a, kSource);
    fill(*b, kSink);
  }

  std::unique_ptr<Host> make_host(uint64_t self, uint64_t peer, const std::string& peer_name) {
    auto h = std::make_unique<Host>();
    VerbsPlane::Settings s;
    s.transport.slice_bytes = kSlice;
    s.transport.qp_budget_bytes = 4 * kSlice;
    s.transport.qp.send_depth = 16;
    s.transport.qp.recv_depth = 16;
    s.self_node = self;
    s.peer_nodes = {peer};
    for (size_t r = 0; r < rails_; ++r)
      s.rails.push_back({.device = {.name = "r" + std::to_string(r), .device = "fake" + std::to_string(r),
                                    .netdev_ifindex = static_cast<uint32_t>(10 + r)},
                         .link = self == kNodeA ? &a_links[r] : nullptr});
    Host* raw = h.get();
    h->fabric = std::make_unique<VerbsFabric>(
        io, fake, std::move(s), h->regions, std::vector<std::string>{peer_name},
        [raw](const FabricEvent& e) { raw->events.push_back(e); },
        [raw](uint16_t, const v1::PeerMessage& m, std::string& error) {
          if (!raw->channel_open) {
            error = "messages to b are backed up";
            return false;
          }
          raw->outbox.push_back(m);
          return true;
        });
    return h;
  }

  static void fill(Host& h, uint32_t id) {
    h.regions.add_internal(id, kRegionBytes, "test");
    auto bytes = h.region(id);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>((i * 131 + id) % 251);
  }

  void sessions_up() {
    a->fabric->on_session(0, true);
    b->fabric->on_session(0, true);
  }

  /// Runs both hosts' loops, the fake's WRITEs and the peer channel (unless
  /// held) until nothing moves.
  void pump(size_t rounds = 5000) {
    for (size_t i = 0; i < rounds; ++i) {
      now += 1'000'000;
      a->turn(now);
      b->turn(now);
      io.poll();
      const bool a_to_b = carry(*a, *b);  // both directions, every turn
      const bool moved = carry(*b, *a) || a_to_b;
      if (fake.step(4) == 0 && fake.pending_writes() == 0 && !moved && i > 10) {
        a->turn(now);
        b->turn(now);
        if (a->outbox.empty() && b->outbox.empty()) return;
      }
    }
  }

  bool carry(Host& from, Host& to) {
    bool any = false;
    while (!from.outbox.empty()) {
      if (hold_announcements && from.outbox.front().has_verbs_transfers()) break;
      to.fabric->on_message(0, from.outbox.front());
      from.outbox.pop_front();
      any = true;
    }
    return any;
  }

  void post(uint64_t id, uint64_t offset, uint64_t length, bool checksum = false, bool activation = false,
            uint32_t dest = kSink) {
    RegionTable::Pin pin;
    std::string error;
    ASSERT_EQ(a->regions.pin(kSource, 0, offset, length, pin, error), RegionTable::Error::none) << error;
    a->fabric->post(FabricCommand{.peer = 0,
                                  .transfer_id = id,
                                  .source = pin,
                                  .dest_region = dest,
                                  .dest_offset = offset,
                                  .cls = activation ? fabric::TrafficClass::activation : fabric::TrafficClass::kv,
                                  .checksum = checksum},
                    kSource, offset);
  }

  bool landed_intact(uint64_t offset, uint64_t length) {
    auto src = a->region(kSource).subspan(offset, length);
    auto dst = b->region(kSink).subspan(offset, length);
    return std::equal(src.begin(), src.end(), dst.begin());
  }

  std::array<std::atomic<nic::LinkState>, 4> a_links{};  // host a's rail netdevs, as the LinkMonitor keeps them
  boost::asio::io_context io;
  FakeVerbs fake;
  std::unique_ptr<Host> a, b;
  bool hold_announcements = false;
  uint64_t now = 1'000'000'000;

 private:
  size_t rails_;
};

// Turns of both hosts with the peer channel carried and the fake's WRITEs run,
// `ms` apart: enough of them for the plane's 250 ms path tending to act.
void run_for(Rack& rack, int turns, uint64_t ms) {
  for (int i = 0; i < turns; ++i) {
    rack.now += ms * 1'000'000;
    rack.a->turn(rack.now);
    rack.b->turn(rack.now);
    rack.carry(*rack.a, *rack.b);
    rack.carry(*rack.b, *rack.a);
    rack.fake.step(4);
  }
}

// What railctl rails shows for `host`'s `rail`, after the plane's next snapshot.
v1::RailStatus rail_status(Rack& rack, Host& host, size_t rail) {
  rack.now += 200'000'000;
  host.turn(rack.now);
  v1::RailStatus s;
  host.fabric->fill_rail(rail, s);
  return s;
}
uint32_t connected(Rack& rack, Host& host, size_t rail) { return rail_status(rack, host, rail).verbs().qps_connected(); }

TEST(VerbsFabric, TransfersLandWithTheirAnnouncementAndCompleteAtTheSender) {
  Rack rack(2);
  rack.sessions_up();
  rack.post(1, 0, 1);
  rack.post(2, 4096, kSlice + 5, /*checksum=*/true);
  rack.post(3, 1 << 20, 1 << 20, false, /*activation=*/true);
  rack.pump();
  ASSERT_EQ(rack.a->count(FabricEvent::Kind::sent), 3u);
  ASSERT_EQ(rack.b->count(FabricEvent::Kind::received), 3u);
  for (const FabricEvent& e : rack.b->events) {
    SCOPED_TRACE(e.transfer_id);
    EXPECT_EQ(e.region, kSink);
    EXPECT_EQ(e.peer, 0u);
    EXPECT_TRUE(rack.landed_intact(e.offset, e.bytes));
    EXPECT_EQ(e.checksum_requested, e.transfer_id == 2);
    EXPECT_EQ(e.cls, e.transfer_id == 3 ? fabric::TrafficClass::activation : fabric::TrafficClass::kv);
  }
  EXPECT_EQ(rack.b->events[0].bytes + rack.b->events[1].bytes + rack.b->events[2].bytes, 1 + kSlice + 5 + (1 << 20));
  for (const FabricEvent& e : rack.a->events) EXPECT_EQ(e.bytes, e.transfer_id == 1 ? 1u : e.transfer_id == 2 ? kSlice + 5 : 1u << 20);
  v1::VerbsLandings landings;
  rack.b->fabric->fill_peer(0, landings);
  EXPECT_EQ(landings.delivered(), 3u);
  EXPECT_EQ(landings.duplicates(), 0u);
  const v1::RailStatus rail = rail_status(rack, *rack.a, 0);
  EXPECT_EQ(rail.verbs().device(), "fake0");
  EXPECT_EQ(rail.verbs().qps_connected(), 1u);
  EXPECT_EQ(rail.verbs().regions(), 1u);
  ASSERT_EQ(rail.verbs().paths_size(), 1);
  EXPECT_EQ(rail.verbs().paths(0).peer(), "b");
  EXPECT_TRUE(rail.verbs().paths(0).sendable());
  EXPECT_GT(rail.verbs().tx_slices(), 0u);
}

TEST(VerbsFabric, ALandingBeforeItsAnnouncementIsDeliveredWhenTheAnnouncementComes) {
  Rack rack(1);
  rack.sessions_up();
  rack.pump();  // connect first, so the writes can run while the announcement is held
  rack.hold_announcements = true;
  rack.post(7, 0, 3 * kSlice);
  rack.pump();
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);  // every byte is at B
  EXPECT_EQ(rack.b->count(FabricEvent::Kind::received), 0u);
  v1::VerbsLandings landings;
  rack.b->fabric->fill_peer(0, landings);
  EXPECT_EQ(landings.early(), 1u);
  rack.hold_announcements = false;
  rack.pump();
  ASSERT_EQ(rack.b->count(FabricEvent::Kind::received), 1u);
  EXPECT_EQ(rack.b->events[0].transfer_id, 7u);
  EXPECT_TRUE(rack.landed_intact(0, 3 * kSlice));
}

TEST(VerbsFabric, BytesChangedAfterPostingFailTheChecksumAtTheReceiver) {
  Rack rack(2);
  rack.sessions_up();
  rack.post(1, 0, 2 * kSlice, /*checksum=*/true);
  rack.a->region(kSource)[100] ^= std::byte{0xff};  // the workload wrote into its buffer while it travelled
  rack.pump();
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);
  EXPECT_EQ(rack.b->count(FabricEvent::Kind::received, FabricEvent::Outcome::checksum_failed), 1u);
}

TEST(VerbsFabric, TransfersWaitForTheSession) {
  Rack rack(2);
  rack.post(1, 0, kSlice);
  rack.pump(50);
  EXPECT_TRUE(rack.a->outbox.empty());  // nothing announced without a session
  EXPECT_EQ(rack.a->fabric->outstanding(0), 1u);
  rack.sessions_up();
  rack.pump();
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);
  EXPECT_EQ(rack.b->count(FabricEvent::Kind::received), 1u);
  EXPECT_EQ(rack.a->fabric->outstanding(0), 0u);
}

TEST(VerbsFabric, ARestartedPeerGetsUnfinishedTransfersAgainWhole) {
  Rack rack(2);
  rack.sessions_up();
  rack.pump();
  rack.post(1, 0, 32 * kSlice);
  for (int i = 0; i < 6; ++i) {  // part of it lands
    rack.a->turn(rack.now += 1'000'000);
    rack.carry(*rack.a, *rack.b);
    rack.fake.step(4);
  }
  ASSERT_EQ(rack.a->count(FabricEvent::Kind::sent), 0u);
  ASSERT_GT(rack.fake.executed.size(), 0u);
  // B restarts: fresh memory, fresh queue pairs, a new session.
  rack.b = rack.make_host(kNodeB, kNodeA, "a");
  Rack::fill(*rack.b, kSink);
  rack.a->outbox.clear();  // the old session's messages died with it
  rack.sessions_up();
  rack.pump();
  ASSERT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);
  ASSERT_EQ(rack.b->count(FabricEvent::Kind::received), 1u);
  EXPECT_TRUE(rack.landed_intact(0, 32 * kSlice));
}

TEST(VerbsFabric, AFailedQueuePairMovesItsSlicesAndIsReopened) {
  Rack rack(2);
  rack.sessions_up();
  rack.pump();
  ASSERT_EQ(connected(rack, *rack.a, 0), 1u);
  rack.fake.device("fake0")->broken = true;  // retry exceeded from now on
  rack.post(1, 0, 16 * kSlice);
  rack.pump();
  ASSERT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);  // finished on r1
  EXPECT_TRUE(rack.landed_intact(0, 16 * kSlice));
  const v1::RailStatus r0 = rail_status(rack, *rack.a, 0);
  EXPECT_GE(r0.verbs().path_failures(), 1u);
  EXPECT_GT(r0.verbs().reposted_slices(), 0u);
  rack.fake.device("fake0")->broken = false;
  run_for(rack, 20, 50);  // a second of tending
  EXPECT_EQ(connected(rack, *rack.a, 0), 1u);
  EXPECT_EQ(connected(rack, *rack.b, 0), 1u);
}

TEST(VerbsFabric, ALinkDownMovesTheRailsSlicesAndItsPathsReopenWhenTheLinkReturns) {
  Rack rack(2);
  rack.sessions_up();
  rack.pump();
  rack.fake.device("fake0")->paused = true;
  rack.fake.device("fake1")->paused = true;
  rack.post(1, 0, 16 * kSlice);
  run_for(rack, 3, 1);
  rack.a_links[1].store(nic::LinkState::down);  // r1's netdev loses its link with slices in flight
  rack.fake.device("fake0")->paused = false;
  rack.pump();
  ASSERT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);
  EXPECT_TRUE(rack.landed_intact(0, 16 * kSlice));
  EXPECT_EQ(connected(rack, *rack.a, 1), 0u);
  run_for(rack, 10, 50);
  EXPECT_EQ(connected(rack, *rack.a, 1), 0u);  // not reopened while the link is down
  rack.fake.device("fake1")->paused = false;
  rack.a_links[1].store(nic::LinkState::up);
  run_for(rack, 20, 50);
  EXPECT_EQ(connected(rack, *rack.a, 1), 1u);
}

TEST(VerbsFabric, ALostPeerFailsItsTransfers) {
  Rack rack(1);
  rack.sessions_up();
  rack.pump();
  rack.fake.device("fake0")->paused = true;  // the writes never complete
  rack.post(1, 0, 4 * kSlice);
  rack.post(2, 4 * kSlice, kSlice);
  rack.pump(20);
  rack.a->fabric->on_session(0, false);
  rack.pump(20);
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent, FabricEvent::Outcome::peer_restarted), 2u);
  EXPECT_EQ(rack.a->events.size(), 2u);  // the plane's own failure reports add nothing
  EXPECT_EQ(rack.a->fabric->outstanding(0), 0u);
}

TEST(VerbsFabric, AnAnnouncementTheChannelRefusesFailsTheTransferWithBusy) {
  Rack rack(1);
  rack.sessions_up();
  rack.pump();
  rack.a->channel_open = false;
  const size_t writes = rack.fake.executed.size();
  rack.post(1, 0, kSlice);
  rack.pump(20);
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent, FabricEvent::Outcome::backlog_full), 1u);
  EXPECT_EQ(rack.fake.executed.size(), writes);  // never written: B could not have delivered it
}

TEST(VerbsFabric, ARegionThePeerDoesNotHaveIsRejectedAndItsAnnouncementWithdrawn) {
  Rack rack(2);
  rack.sessions_up();
  rack.post(1, 0, kSlice, false, false, /*dest=*/9);
  rack.post(2, 0, kSlice);
  rack.pump();
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent, FabricEvent::Outcome::rejected), 1u);
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);
  EXPECT_EQ(rack.b->count(FabricEvent::Kind::received), 1u);
  v1::VerbsLandings landings;
  rack.b->fabric->fill_peer(0, landings);
  EXPECT_EQ(landings.withdrawn(), 1u);  // B no longer waits for transfer 1
  EXPECT_EQ(landings.waiting(), 0u);
}

TEST(VerbsFabric, ACompletionAlreadyReportedWhenThePeerIsLostCountsAsSent) {
  Rack rack(1);
  rack.sessions_up();
  rack.pump();
  rack.post(1, 0, kSlice);
  rack.a->turn(rack.now += 1'000'000);  // announced and posted
  rack.fake.step();                     // written
  rack.a->fabric->step(rack.now += 1'000'000);  // the plane reports it: in the ring, not handled yet
  rack.a->fabric->on_session(0, false);         // then the session is lost
  rack.a->fabric->drain();
  rack.pump(20);
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);
  EXPECT_EQ(rack.a->events.size(), 1u);
}

TEST(VerbsFabric, ALandingOfTheOldSessionDoesNotDeliverAnAnnouncementOfTheNewOne) {
  Rack rack(1);
  rack.sessions_up();
  rack.pump();
  rack.post(1, 0, 2 * kSlice);
  const auto imm_written = [&] {
    return std::any_of(rack.fake.executed.begin(), rack.fake.executed.end(), [](const auto& w) { return w.imm; });
  };
  for (int i = 0; i < 10 && !imm_written(); ++i) {  // announced at B, then every byte written
    rack.a->turn(rack.now += 1'000'000);
    rack.carry(*rack.a, *rack.b);
    rack.b->turn(rack.now);
    rack.fake.step();
  }
  ASSERT_TRUE(imm_written());
  rack.b->fabric->step(rack.now += 1'000'000);  // B's plane reports the landing: in the ring
  rack.b->fabric->on_session(0, true);          // a new session (A restarted its side too, below)
  rack.b->fabric->drain();
  EXPECT_EQ(rack.b->count(FabricEvent::Kind::received), 0u);  // void with the old session
  v1::VerbsLandings landings;
  rack.b->fabric->fill_peer(0, landings);
  EXPECT_EQ(landings.early(), 0u);
  rack.a->fabric->on_session(0, true);
  rack.pump();
  ASSERT_EQ(rack.b->count(FabricEvent::Kind::received), 1u);  // once, after the rewrite landed
  EXPECT_TRUE(rack.landed_intact(0, 2 * kSlice));
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);
}

TEST(VerbsFabric, ARetiredRegionIsDeregisteredOnlyAfterItsWritesAndThenReleased) {
  Rack rack(2);
  rack.sessions_up();
  rack.pump();
  const uint64_t mrs = rack.fake.live_mrs();
  ASSERT_EQ(mrs, 2u * 2u);  // one region per host, on both rails
  rack.fake.device("fake0")->paused = true;
  rack.fake.device("fake1")->paused = true;
  rack.post(1, 0, 8 * kSlice);
  rack.pump(10);
  ASSERT_GT(rack.fake.pending_writes(), 0u);
  ASSERT_TRUE(rack.a->regions.retire(kSource, 0));
  rack.pump(10);
  EXPECT_EQ(rack.fake.live_mrs(), mrs);  // still in use by WRITEs in flight
  rack.fake.device("fake0")->paused = false;
  rack.fake.device("fake1")->paused = false;
  rack.pump();
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);
  EXPECT_EQ(rack.fake.live_mrs(), mrs - 2);
  EXPECT_EQ(rack.fake.dereg_in_flight, 0u);
}

TEST(VerbsFabric, AReusedRegionIdIsRegisteredOnlyAfterItsPredecessorIsDeregistered) {
  Rack rack(2);
  rack.sessions_up();
  rack.pump();
  const uint64_t mrs = rack.fake.live_mrs();
  rack.fake.device("fake0")->paused = true;
  rack.fake.device("fake1")->paused = true;
  rack.post(1, 0, 8 * kSlice);
  rack.pump(10);
  ASSERT_TRUE(rack.a->regions.retire(kSource, 0));
  Rack::fill(*rack.a, kSource);  // a new region under the same id, WRITEs from the old one still in flight
  rack.pump(10);
  EXPECT_EQ(rack.fake.live_mrs(), mrs);  // the old one's MRs, and not yet the new one's
  rack.fake.device("fake0")->paused = false;
  rack.fake.device("fake1")->paused = false;
  rack.pump();
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent), 1u);
  EXPECT_EQ(rack.fake.live_mrs(), mrs);  // the old one's gone, the new one's in
  EXPECT_EQ(rack.fake.dereg_in_flight, 0u);
  rack.post(2, 0, kSlice);  // from the new region
  rack.pump();
  EXPECT_EQ(rack.a->count(FabricEvent::Kind::sent), 2u);
  EXPECT_TRUE(rack.landed_intact(0, kSlice));
}

}  // namespace
}  // namespace railyard::daemon
