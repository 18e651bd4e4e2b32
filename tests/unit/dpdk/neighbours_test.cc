// The DPDK rail's neighbour table: peer mapping by source, ARP retries with
// backoff, learning, static entries. Time is passed in (ms here).
#include "drivers/nic/dpdk/neighbours.h"

#include <array>
#include <stdexcept>

#include <gtest/gtest.h>

namespace railyard::nic::dpdk {
namespace {

constexpr uint64_t ms = 1'000'000;
const uint32_t kIp1 = *parse_ipv4("10.0.0.2"), kIp2 = *parse_ipv4("10.0.0.3");
const MacAddress kMac1 = *parse_mac("02:00:00:00:00:02"), kMac2 = *parse_mac("02:00:00:00:00:03");

TEST(Neighbours, MapsSourceAddressAndPortToSlot) {
  const std::array<NeighbourConfig, 3> peers{{{.slot = 4, .ip = kIp1, .port = 100},
                                              {.slot = 9, .ip = kIp1, .port = 101},
                                              {.slot = 0, .ip = kIp2, .port = 100}}};
  NeighbourTable t(peers);
  EXPECT_EQ(t.slot_of(kIp1, 100), 4);
  EXPECT_EQ(t.slot_of(kIp1, 101), 9);
  EXPECT_EQ(t.slot_of(kIp2, 100), 0);
  EXPECT_EQ(t.slot_of(kIp2, 101), kUnknownPeer);
  EXPECT_EQ(t.slot_of(kIp1 + 5, 100), kUnknownPeer);
  EXPECT_EQ(t.state(5), NeighbourState::absent);
  EXPECT_EQ(t.state(kUnknownPeer), NeighbourState::absent);
  EXPECT_EQ(t.destination(9).ip, kIp1);
  EXPECT_EQ(t.destination(9).port, 101);
  EXPECT_EQ(t.destination(9).mac, nullptr);
  EXPECT_EQ(t.destination(5).ip, 0u);
}

TEST(Neighbours, RejectsBadTables) {
  const auto make = [](std::vector<NeighbourConfig> v) { NeighbourTable t(v); };
  EXPECT_THROW(make({{.slot = 1, .ip = kIp1, .port = 1}, {.slot = 1, .ip = kIp2, .port = 1}}), std::invalid_argument);
  EXPECT_THROW(make({{.slot = 1, .ip = kIp1, .port = 1}, {.slot = 2, .ip = kIp1, .port = 1}}), std::invalid_argument);
  EXPECT_THROW(make({{.slot = kUnknownPeer, .ip = kIp1, .port = 1}}), std::invalid_argument);
  EXPECT_THROW(make({{.slot = 1, .ip = 0, .port = 1}}), std::invalid_argument);
  EXPECT_THROW(make({{.slot = 1, .ip = kIp1, .port = 0}}), std::invalid_argument);
  EXPECT_THROW(make({{.slot = 1, .ip = kIp1, .port = 1, .mac = kMac1}, {.slot = 2, .ip = kIp1, .port = 2, .mac = kMac2}}),
               std::invalid_argument);
}

TEST(Neighbours, RequestsRetryWithBackoffUntilAnswered) {
  const std::array<NeighbourConfig, 1> peers{{{.slot = 1, .ip = kIp1, .port = 100}}};
  NeighbourTable t(peers, NeighbourTiming{.first_retry_ns = 100 * ms, .max_retry_ns = 400 * ms, .unresolved_after = 3});
  std::array<uint32_t, 4> due{};
  EXPECT_EQ(t.state(1), NeighbourState::resolving);
  EXPECT_EQ(t.mac(1), nullptr);
  EXPECT_EQ(t.unresolved_count(), 1u);
  // At once, then +100, +200, +400, +400 ...
  std::vector<uint64_t> sent;
  for (uint64_t now = 0; now <= 1500 * ms; now += 10 * ms) {
    if (t.due_requests(now, due) == 1) {
      EXPECT_EQ(due[0], kIp1);
      sent.push_back(now / ms);
    }
  }
  EXPECT_EQ(sent, (std::vector<uint64_t>{0, 100, 300, 700, 1100, 1500}));
  EXPECT_EQ(t.state(1), NeighbourState::unresolved) << "three unanswered requests";
  EXPECT_EQ(t.snapshot().at(0).requests, 6u);

  EXPECT_TRUE(t.learn(kIp1, kMac1, 1510 * ms));
  EXPECT_EQ(t.state(1), NeighbourState::resolved);
  ASSERT_NE(t.mac(1), nullptr);
  EXPECT_EQ(*t.mac(1), kMac1);
  EXPECT_EQ(t.unresolved_count(), 0u);
  EXPECT_FALSE(t.learn(kIp1, kMac1, 1520 * ms)) << "nothing changed";
  EXPECT_TRUE(t.learn(kIp1, kMac2, 1530 * ms)) << "the peer moved (a new NIC)";
  EXPECT_EQ(*t.mac(1), kMac2);
}

TEST(Neighbours, ResolvedEntriesAreRefreshedAndKeepTheirMac) {
  const std::array<NeighbourConfig, 1> peers{{{.slot = 1, .ip = kIp1, .port = 100}}};
  NeighbourTable t(peers, NeighbourTiming{.refresh_ns = 1000 * ms});
  std::array<uint32_t, 4> due{};
  EXPECT_EQ(t.due_requests(0, due), 1u);
  t.learn(kIp1, kMac1, 50 * ms);
  EXPECT_EQ(t.next_due(), 1050 * ms);
  EXPECT_EQ(t.due_requests(1049 * ms, due), 0u);
  EXPECT_EQ(t.due_requests(1050 * ms, due), 1u);
  EXPECT_EQ(t.state(1), NeighbourState::resolved) << "still usable while refreshing";
  EXPECT_EQ(t.next_due(), 2050 * ms);
}

TEST(Neighbours, StaticEntriesAreNeverAskedNorReplaced) {
  const std::array<NeighbourConfig, 2> peers{{{.slot = 1, .ip = kIp1, .port = 100, .mac = kMac1},
                                              {.slot = 2, .ip = kIp2, .port = 100}}};
  NeighbourTable t(peers);
  std::array<uint32_t, 4> due{};
  ASSERT_EQ(t.due_requests(0, due), 1u);
  EXPECT_EQ(due[0], kIp2);
  EXPECT_EQ(t.state(1), NeighbourState::static_mac);
  EXPECT_FALSE(t.learn(kIp1, kMac2, 1));
  EXPECT_EQ(*t.mac(1), kMac1);
  EXPECT_EQ(t.unresolved_count(), 1u);
}

TEST(Neighbours, SlotsSharingAnAddressShareOneRequest) {
  const std::array<NeighbourConfig, 2> peers{{{.slot = 1, .ip = kIp1, .port = 100}, {.slot = 2, .ip = kIp1, .port = 200}}};
  NeighbourTable t(peers);
  std::array<uint32_t, 4> due{};
  EXPECT_EQ(t.due_requests(0, due), 1u);
  t.learn(kIp1, kMac1, 1);
  EXPECT_EQ(t.state(1), NeighbourState::resolved);
  EXPECT_EQ(t.state(2), NeighbourState::resolved);
}

TEST(Neighbours, IgnoresBogusAnswers) {
  const std::array<NeighbourConfig, 1> peers{{{.slot = 1, .ip = kIp1, .port = 100}}};
  NeighbourTable t(peers);
  EXPECT_FALSE(t.learn(kIp1, MacAddress{}, 1));
  EXPECT_FALSE(t.learn(kIp1, MacAddress::broadcast(), 1));
  EXPECT_FALSE(t.learn(kIp2, kMac1, 1)) << "not a peer";
  EXPECT_EQ(t.state(1), NeighbourState::resolving);
}

TEST(Neighbours, HurryAsksSoonerButNotFasterThanTheFirstRetry) {
  const std::array<NeighbourConfig, 1> peers{{{.slot = 1, .ip = kIp1, .port = 100}}};
  NeighbourTable t(peers, NeighbourTiming{.first_retry_ns = 100 * ms, .max_retry_ns = 2000 * ms});
  std::array<uint32_t, 4> due{};
  uint64_t now = 0;
  for (int i = 0; i < 6; ++i) {  // back off to the 2 s maximum
    now = t.next_due();
    ASSERT_EQ(t.due_requests(now, due), 1u);
  }
  EXPECT_EQ(t.next_due() - now, 2000 * ms);
  t.hurry(1, now + 10 * ms);
  EXPECT_EQ(t.next_due(), now + 100 * ms) << "a refused frame: ask again after the first retry interval";
  t.hurry(7, now);  // no such slot: nothing happens
  t.learn(kIp1, kMac1, now + 20 * ms);
  t.hurry(1, now + 30 * ms);  // resolved: nothing to hurry
  EXPECT_GT(t.next_due(), now + 1000 * ms);
}

}  // namespace
}  // namespace railyard::nic::dpdk
