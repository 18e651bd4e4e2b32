// The connection state machine: QpConnection alone, then the handshake of two
// transports through their messages (the daemon's peer session carries them).
#include "drivers/nic/verbs/connection.h"

#include <gtest/gtest.h>

#include "tests/unit/verbs/harness.h"

namespace railyard::verbs::testing {
namespace {

struct Endpoints {
  Endpoints() {
    fake.add_roce_device("fake0", 0);
    ContextHandle ctx;
    EXPECT_EQ(fake.open("fake0", ctx), 0);
    EXPECT_EQ(fake.alloc_pd(ctx, pd), 0);
    EXPECT_EQ(fake.create_cq(ctx, 1024, {}, cq), 0);
  }
  LocalEndpoint endpoint(uint64_t node) const {
    return LocalEndpoint{.pd = pd, .cq = cq, .port = 1, .rail = 0, .mtu = PathMtu::mtu4096,
                         .gid = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, static_cast<uint8_t>(node)},
                         .gid_index = 1, .node = node};
  }
  FakeVerbs fake;
  PdHandle pd;
  CqHandle cq;
};

TEST(VerbsConnection, WalksIdleLocalReadyExchangedRts) {
  Endpoints e;
  QpConnection a(e.fake, e.endpoint(1), QpTuning{.recv_depth = 8}, 0, 2);
  QpConnection b(e.fake, e.endpoint(2), QpTuning{.recv_depth = 8}, 0, 1);
  EXPECT_EQ(a.state(), ConnState::idle);
  ASSERT_EQ(a.prepare(1, 100), 0);
  ASSERT_EQ(b.prepare(1, 200), 0);
  EXPECT_EQ(a.state(), ConnState::local_ready);
  EXPECT_EQ(a.recv_posted(), 8u);  // receives for IMMs are posted before anything can arrive
  EXPECT_EQ(e.fake.qp_state_of(a.qpn()), 1u);  // INIT

  EXPECT_EQ(a.accept(b.local_data(ConnKind::connect, {})), ConnError::ok);
  EXPECT_EQ(a.state(), ConnState::exchanged);
  ASSERT_EQ(a.connect(), 0);
  EXPECT_EQ(a.state(), ConnState::rts);
  EXPECT_EQ(e.fake.qp_state_of(a.qpn()), 3u);  // RTS
  EXPECT_FALSE(a.sendable());  // b has not said it is connected to a yet

  EXPECT_EQ(b.accept(a.local_data(ConnKind::connect, {})), ConnError::ok);
  ASSERT_EQ(b.connect(), 0);
  EXPECT_TRUE(b.sendable());  // a's data said peer_epoch = b's epoch
  EXPECT_EQ(a.accept(b.local_data(ConnKind::regions, {})), ConnError::ok);
  EXPECT_TRUE(a.sendable());

  a.fail();
  EXPECT_EQ(a.state(), ConnState::error);
  EXPECT_FALSE(a.sendable());
  EXPECT_EQ(e.fake.qp_state_of(a.qpn()), 4u);  // ERROR
  const uint32_t qpn = a.qpn();
  a.reset();
  EXPECT_EQ(a.state(), ConnState::idle);
  EXPECT_EQ(e.fake.qp_state_of(qpn), 99u);  // destroyed
}

TEST(VerbsConnection, RefusesOutOfOrderAndForeignData) {
  Endpoints e;
  QpConnection a(e.fake, e.endpoint(1), {}, 0, 2);
  QpConnection b(e.fake, e.endpoint(2), {}, 0, 1);
  QpConnection c(e.fake, e.endpoint(3), {}, 0, 1);  // a third host
  EXPECT_EQ(a.connect(), EINVAL);  // idle: nothing to connect to
  ASSERT_EQ(b.prepare(1, 1), 0);
  ASSERT_EQ(c.prepare(1, 1), 0);
  EXPECT_EQ(a.accept(b.local_data(ConnKind::connect, {})), ConnError::unexpected);  // idle
  ASSERT_EQ(a.prepare(1, 1), 0);
  EXPECT_EQ(a.prepare(2, 1), EINVAL);
  EXPECT_EQ(a.accept(c.local_data(ConnKind::connect, {})), ConnError::wrong_sender);
  EXPECT_EQ(a.accept(b.local_data(ConnKind::regions, {})), ConnError::stale_epoch);  // not connected
  ConnectionData other_rail = b.local_data(ConnKind::connect, {});
  other_rail.rail = 1;
  EXPECT_EQ(a.accept(other_rail), ConnError::wrong_rail);
  ConnectionData ib = b.local_data(ConnKind::connect, {});
  ib.link_layer = LinkLayer::infiniband;
  ib.lid = 4;
  EXPECT_EQ(a.accept(ib), ConnError::bad_link_layer);
  EXPECT_EQ(a.state(), ConnState::local_ready);  // nothing was half-applied

  ASSERT_EQ(a.accept(b.local_data(ConnKind::connect, {})), ConnError::ok);
  ASSERT_EQ(a.connect(), 0);
  // The same QP of b again is an update; another QP of b is not accepted here.
  EXPECT_EQ(a.accept(b.local_data(ConnKind::connect, {})), ConnError::ok);
  ConnectionData moved = b.local_data(ConnKind::connect, {});
  moved.qpn ^= 1;
  EXPECT_EQ(a.accept(moved), ConnError::unexpected);
  ConnectionData newer = b.local_data(ConnKind::connect, {});
  newer.epoch = 2;
  EXPECT_EQ(a.accept(newer), ConnError::unexpected);
  EXPECT_EQ(a.state(), ConnState::rts);
}

TEST(VerbsConnection, RtrFailureEndsInError) {
  Endpoints e;
  QpConnection a(e.fake, e.endpoint(1), {}, 0, 2);
  QpConnection b(e.fake, e.endpoint(2), {}, 0, 1);
  ASSERT_EQ(a.prepare(1, 1), 0);
  ASSERT_EQ(b.prepare(1, 1), 0);
  ASSERT_EQ(a.accept(b.local_data(ConnKind::connect, {})), ConnError::ok);
  e.fake.rtr_errno = EINVAL;
  EXPECT_EQ(a.connect(), EINVAL);
  EXPECT_EQ(a.state(), ConnState::error);
  EXPECT_EQ(a.last_error(), EINVAL);
}

TEST(VerbsConnection, CreateQpFailureEndsInError) {
  Endpoints e;
  QpConnection a(e.fake, e.endpoint(1), {}, 0, 2);
  e.fake.create_qp_errno = ENOMEM;
  EXPECT_EQ(a.prepare(1, 1), ENOMEM);
  EXPECT_EQ(a.state(), ConnState::error);
  a.reset();
  e.fake.create_qp_errno = 0;
  EXPECT_EQ(a.prepare(2, 1), 0);
}

// --- the handshake through VerbsTransport messages ---

TEST(VerbsHandshake, OpenAnswerConfirm) {
  Pair p(1);
  p.connect(0);
  EXPECT_EQ(p.a->counters(0).qps_connected, 1u);
  EXPECT_EQ(p.b->counters(0).qps_connected, 1u);
}

TEST(VerbsHandshake, SimultaneousOpenConverges) {
  Pair p(1);
  std::vector<std::byte> ma, mb, ra, rb, x;
  ASSERT_EQ(p.a->open_path(0, 0, ma), 0);
  ASSERT_EQ(p.b->open_path(0, 0, mb), 0);
  ASSERT_TRUE(p.a->on_message(0, 0, mb, ra).reply);
  ASSERT_TRUE(p.b->on_message(0, 0, ma, rb).reply);
  EXPECT_EQ(p.a->on_message(0, 0, rb, x).error, ConnError::ok);
  EXPECT_FALSE(x.size());
  EXPECT_EQ(p.b->on_message(0, 0, ra, x).error, ConnError::ok);
  EXPECT_TRUE(p.a->path_sendable(0, 0));
  EXPECT_TRUE(p.b->path_sendable(0, 0));
}

TEST(VerbsHandshake, ResentMessagesAreHarmless) {
  Pair p(1);
  std::vector<std::byte> m1, m2, m3, x;
  ASSERT_EQ(p.a->open_path(0, 0, m1), 0);
  ASSERT_EQ(p.b->on_message(0, 0, m1, m2).error, ConnError::ok);
  EXPECT_EQ(p.b->on_message(0, 0, m1, x).error, ConnError::ok);  // a's open, resent: an update
  EXPECT_FALSE(x.size());
  ASSERT_EQ(p.a->on_message(0, 0, m2, m3).error, ConnError::ok);
  EXPECT_EQ(p.a->on_message(0, 0, m2, x).error, ConnError::ok);
  ASSERT_EQ(p.b->on_message(0, 0, m3, x).error, ConnError::ok);
  EXPECT_TRUE(p.a->path_sendable(0, 0));
  EXPECT_TRUE(p.b->path_sendable(0, 0));
}

TEST(VerbsHandshake, BadShortOrTamperedMessagesAreRefusedAndChangeNothing) {
  Pair p(2);
  std::vector<std::byte> m1, x;
  ASSERT_EQ(p.a->open_path(0, 0, m1), 0);
  EXPECT_EQ(p.b->on_message(0, 0, std::span(m1).first(30), x).error, ConnError::too_short);
  auto tampered = m1;
  tampered[45] ^= std::byte{0x10};  // the QP number
  EXPECT_EQ(p.b->on_message(0, 0, tampered, x).error, ConnError::bad_checksum);
  EXPECT_EQ(p.b->on_message(0, 1, m1, x).error, ConnError::wrong_rail);  // rail 0's data offered for rail 1
  EXPECT_EQ(p.b->on_message(1, 0, m1, x).error, ConnError::wrong_sender);  // no such peer slot
  std::vector<std::byte> garbage(m1.size(), std::byte{0x5a});
  EXPECT_EQ(p.b->on_message(0, 0, garbage, x).error, ConnError::bad_magic);
  EXPECT_EQ(p.b->path_state(0, 0), ConnState::idle);
  EXPECT_EQ(p.b->path_state(0, 1), ConnState::idle);
  EXPECT_TRUE(x.empty());
}

TEST(VerbsHandshake, ReconnectAfterFailureAndStaleCopiesRefused) {
  Pair p(1);
  std::vector<std::byte> old_open, x;
  p.connect(0);
  p.a->local_message(0, 0, ConnKind::connect, old_open);
  // a's QP fails; the daemon opens a new one.
  p.a->reset_path(0, 0);
  EXPECT_EQ(p.a->path_state(0, 0), ConnState::idle);
  p.connect(0);  // b replaces its QP: the peer's new epoch with peer_epoch 0
  // A late copy of a's previous QP's message must not tear the new one down.
  EXPECT_EQ(p.b->on_message(0, 0, old_open, x).error, ConnError::stale_epoch);
  EXPECT_TRUE(p.b->path_sendable(0, 0));
}

TEST(VerbsHandshake, RegionsUpdateReachesThePeer) {
  Pair p(1);
  p.connect(0);
  std::vector<std::byte> dst(1 << 16), m, x;
  std::string why;
  ASSERT_TRUE(p.b->register_region(9, dst.data(), dst.size(), why)) << why;
  p.b->local_message(0, 0, ConnKind::regions, m);
  std::vector<std::byte> src(1 << 16);
  ASSERT_TRUE(p.a->register_region(1, src.data(), src.size(), why));
  EXPECT_EQ(p.a->post({.id = 1, .peer = 0, .local_region = 1, .length = 100, .remote_region = 9}),
            PostError::unknown_remote_region);
  ASSERT_EQ(p.a->on_message(0, 0, m, x).error, ConnError::ok);
  EXPECT_EQ(p.a->post({.id = 1, .peer = 0, .local_region = 1, .length = 100, .remote_region = 9}), PostError::ok);
  EXPECT_EQ(p.a->post({.id = 2, .peer = 0, .local_region = 1, .length = 100, .remote_region = 9,
                       .remote_offset = (1 << 16) - 99}),
            PostError::remote_range);
}

TEST(VerbsHandshake, NoDeviceIsReportedClearly) {
  FakeVerbs fake;
  VerbsTransport t(fake, TransportConfig{.node_id = 1});
  std::string why;
  EXPECT_EQ(t.add_rail(RailDeviceConfig{.name = "r0"}, why), -1);
  EXPECT_NE(why.find("no RDMA device: ibv_get_device_list returned 0 devices"), std::string::npos) << why;
  fake.devices_errno = ENOSYS;
  EXPECT_EQ(t.add_rail(RailDeviceConfig{.name = "r0"}, why), -1);
  EXPECT_NE(why.find("ibv_get_device_list failed"), std::string::npos) << why;
}

}  // namespace
}  // namespace railyard::verbs::testing
