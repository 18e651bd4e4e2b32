#pragma once
// Two VerbsTransports (hosts A and B) over one FakeVerbs, with 1..4 rails
// each (rail i of both hosts on fake device "fake<i>", as if cabled to the
// same switch), and the connection messages carried between them as the
// daemon's peer session would.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "drivers/nic/verbs/transport.h"
#include "tests/unit/verbs/fake_verbs.h"

namespace railyard::verbs::testing {

inline constexpr uint64_t kNodeA = 0xa0a0a0a0a0a0a0a0ull;
inline constexpr uint64_t kNodeB = 0xb0b0b0b0b0b0b0b0ull;

struct Pair {
  explicit Pair(size_t rails, TransportConfig cfg = {}) {
    for (size_t r = 0; r < rails; ++r) fake.add_roce_device("fake" + std::to_string(r), static_cast<int>(r));
    cfg.node_id = kNodeA;
    a = std::make_unique<VerbsTransport>(fake, cfg);
    cfg.node_id = kNodeB;
    b = std::make_unique<VerbsTransport>(fake, cfg);
    for (size_t r = 0; r < rails; ++r) {
      std::string why;
      const RailDeviceConfig rc{.name = "r" + std::to_string(r), .device = "fake" + std::to_string(r),
                                .netdev_ifindex = static_cast<uint32_t>(10 + r)};
      EXPECT_EQ(a->add_rail(rc, why), static_cast<int>(r)) << why;
      EXPECT_EQ(b->add_rail(rc, why), static_cast<int>(r)) << why;
    }
    a->set_peer(0, kNodeB);
    b->set_peer(0, kNodeA);
  }

  /// A opens, B answers, A answers: every path ends up sendable on both sides.
  void connect(size_t rail) {
    std::vector<std::byte> m1, m2, m3;
    ASSERT_EQ(a->open_path(0, rail, m1), 0);
    AcceptOutcome o = b->on_message(0, rail, m1, m2);
    ASSERT_EQ(o.error, ConnError::ok) << conn_error_name(o.error);
    ASSERT_TRUE(o.reply);
    o = a->on_message(0, rail, m2, m3);
    ASSERT_EQ(o.error, ConnError::ok) << conn_error_name(o.error);
    ASSERT_TRUE(o.reply);
    std::vector<std::byte> m4;
    o = b->on_message(0, rail, m3, m4);
    ASSERT_EQ(o.error, ConnError::ok) << conn_error_name(o.error);
    ASSERT_FALSE(o.reply);
    ASSERT_TRUE(a->path_sendable(0, rail));
    ASSERT_TRUE(b->path_sendable(0, rail));
  }
  void connect_all() {
    for (size_t r = 0; r < a->rail_count(); ++r) connect(r);
  }

  /// Polls both sides and executes up to `writes_per_round` WRITEs per round,
  /// until nothing is pending or `rounds` ran out.
  void pump(size_t rounds = 10000, size_t writes_per_round = 4) {
    for (size_t i = 0; i < rounds; ++i) {
      a->poll(ev_a);
      b->poll(ev_b);
      if (fake.step(writes_per_round) == 0 && fake.pending_writes() == 0 && a->outstanding_transfers() == 0) {
        a->poll(ev_a);
        b->poll(ev_b);
        return;
      }
    }
  }

  size_t count(const std::vector<VerbsEvent>& ev, VerbsEvent::Kind k) const {
    size_t n = 0;
    for (const VerbsEvent& e : ev) n += e.kind == k;
    return n;
  }

  FakeVerbs fake;
  std::unique_ptr<VerbsTransport> a, b;
  std::vector<VerbsEvent> ev_a, ev_b;
};

}  // namespace railyard::verbs::testing
