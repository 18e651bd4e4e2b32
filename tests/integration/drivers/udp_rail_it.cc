// UdpRail and LinkMonitor across two network namespaces joined by a veth
// pair. Run by udp_rail.sh, which creates the namespaces (unique names),
// addresses them and removes them on exit; this program enters them with
// setns(2), so each rail's socket and the monitor live in their namespace.
//
// Environment: RY_NS_A, RY_NS_B (namespace names), RY_IF_A, RY_IF_B (veth
// ends), RY_ADDR_A, RY_ADDR_B (IPv4 addresses on them).
#include <poll.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/netns_scope.h"

#include "drivers/nic/link_monitor.h"
#include "drivers/nic/udp/udp_rail.h"

namespace railyard::nic {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

using test::env;
using test::InNamespace;

struct Setup {
  std::string ns_a = env("RY_NS_A"), ns_b = env("RY_NS_B");
  std::string if_a = env("RY_IF_A"), if_b = env("RY_IF_B");
  std::string addr_a = env("RY_ADDR_A"), addr_b = env("RY_ADDR_B");
  bool ready() const { return !ns_a.empty() && !ns_b.empty() && !if_a.empty() && !if_b.empty(); }
};
const Setup setup;


void run(const std::string& command) { ASSERT_EQ(std::system(command.c_str()), 0) << command; }

constexpr uint16_t kPortA = 47901, kPortB = 47902;
constexpr PeerSlot kSlotOfB = 1, kSlotOfA = 2;

std::unique_ptr<UdpRail> rail_a(LinkMonitor* monitor = nullptr) {
  InNamespace in(setup.ns_a);
  return std::make_unique<UdpRail>(UdpRailConfig{.name = "itA",
                                                 .interface = setup.if_a,
                                                 .address = setup.addr_a,
                                                 .port = kPortA,
                                                 .peers = {{.slot = kSlotOfB, .address = setup.addr_b, .port = kPortB}}},
                                   monitor);
}
std::unique_ptr<UdpRail> rail_b(int send_buffer = 0, bool gso = true) {
  InNamespace in(setup.ns_b);
  return std::make_unique<UdpRail>(UdpRailConfig{.name = "itB",
                                                 .interface = setup.if_b,
                                                 .address = setup.addr_b,
                                                 .port = kPortB,
                                                 .peers = {{.slot = kSlotOfA, .address = setup.addr_a, .port = kPortA}},
                                                 .send_buffer = send_buffer,
                                                 .gso = gso});
}

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

struct Got {
  std::string bytes;
  PeerSlot peer;
  bool ce;
};
std::vector<Got> receive(UdpRail& rail, size_t want, milliseconds patience = milliseconds(2000)) {
  std::vector<Got> got;
  std::array<RxFrame, 64> frames{};
  const auto deadline = Clock::now() + patience;
  while (got.size() < want && Clock::now() < deadline) {
    pollfd p{.fd = rail.wait_fd(), .events = POLLIN, .revents = 0};
    ::poll(&p, 1, 50);
    const size_t n = rail.rx_burst(frames);
    for (size_t i = 0; i < n; ++i) {
      got.push_back({std::string(reinterpret_cast<const char*>(frames[i].bytes.data()), frames[i].bytes.size()),
                     frames[i].peer, frames[i].ecn_ce});
    }
  }
  return got;
}

class Namespaces : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!setup.ready()) GTEST_SKIP() << "run through udp_rail.sh (needs root, creates the namespaces)";
  }
};

TEST_F(Namespaces, RailsExchangeBurstsAcrossVeth) {
  auto a = rail_a();
  auto b = rail_b();
  EXPECT_EQ(a->max_datagram(), 1500u - 28);

  // Full-size frames (one GSO super-datagram on B's side) and a short last one.
  std::vector<std::string> headers, payloads;
  std::vector<TxFrame> frames;
  for (int i = 0; i < 24; ++i) {
    headers.push_back(fmt::format("hdr{:03}:", i));
    payloads.push_back(std::string(i < 23 ? 1472 - headers.back().size() : 17, static_cast<char>('A' + i)));
  }
  for (int i = 0; i < 24; ++i) frames.push_back({bytes_of(headers[i]), bytes_of(payloads[i]), kSlotOfA});
  ASSERT_EQ(b->tx_burst(frames), 24u);
  EXPECT_EQ(b->stats().tx_gso_messages, 1u);
  const auto got = receive(*a, 24);
  ASSERT_EQ(got.size(), 24u);
  for (int i = 0; i < 24; ++i) {
    EXPECT_EQ(got[i].bytes, headers[i] + payloads[i]) << i;
    EXPECT_EQ(got[i].peer, kSlotOfB);
    EXPECT_FALSE(got[i].ce);
  }
  EXPECT_EQ(a->counters().rx_unknown_source, 0u);

  const std::string h = "pong";
  const TxFrame back{bytes_of(h), {}, kSlotOfB};
  ASSERT_EQ(a->tx_burst(std::span(&back, 1)), 1u);
  const auto reply = receive(*b, 1);
  ASSERT_EQ(reply.size(), 1u);
  EXPECT_EQ(reply[0].bytes, "pong");
  EXPECT_EQ(reply[0].peer, kSlotOfA);

  // Larger than the MTU allows: refused by the rail, never fragmented.
  const std::string big(1473, 'x');
  const TxFrame too_big{bytes_of(big), {}, kSlotOfB};
  EXPECT_EQ(a->tx_burst(std::span(&too_big, 1)), 1u);
  EXPECT_EQ(a->counters().tx_errors, 1u);
}

/// Waits until `rail` reports `want`, as the daemon's Asio loop would run the
/// monitor: poll() when its fd is readable, refresh() on a 10 ms timer.
/// Returns how long it took from `since`.
std::optional<milliseconds> wait_for(LinkMonitor& monitor, const UdpRail& rail, LinkState want, Clock::time_point since) {
  const auto deadline = since + milliseconds(2000);
  while (rail.link_state() != want) {
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{.fd = monitor.fd(), .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 10))) > 0) {
      monitor.poll();
    } else {
      monitor.refresh();
    }
  }
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since);
}

TEST_F(Namespaces, LinkMonitorSeesDownAndUpWithin100ms) {
  std::optional<LinkMonitor> monitor;
  {
    InNamespace in(setup.ns_a);
    monitor.emplace();
  }
  auto a = rail_a(&*monitor);
  EXPECT_EQ(a->link_state(), LinkState::up);
  std::vector<std::string> seen;
  monitor->on_change([&seen](const LinkMonitor::Change& c) {
    seen.push_back(fmt::format("{}:{}", c.name, c.state == LinkState::up ? "up" : "down"));
  });

  struct Step {
    std::string command;
    LinkState want;
  };
  const std::vector<Step> steps = {
      {fmt::format("ip -n {} link set {} down", setup.ns_a, setup.if_a), LinkState::down},
      {fmt::format("ip -n {} link set {} up", setup.ns_a, setup.if_a), LinkState::up},
      // The far end going down takes the carrier away (IF_OPER_LOWERLAYERDOWN).
      {fmt::format("ip -n {} link set {} down", setup.ns_b, setup.if_b), LinkState::down},
      {fmt::format("ip -n {} link set {} up", setup.ns_b, setup.if_b), LinkState::up},
  };
  // Back to back, on purpose: the kernel's linkwatch notifies carrier changes
  // at most once a second (host-wide), which refresh() gets around.
  for (const auto& step : steps) {
    const auto start = Clock::now();
    run(step.command);
    const auto took = wait_for(*monitor, *a, step.want, start);
    ASSERT_TRUE(took.has_value()) << step.command << ": state not seen within 2 s";
    EXPECT_LT(took->count(), 100) << step.command;
    std::printf("%-45s seen after %lld ms (including running ip)\n", step.command.c_str(),
                static_cast<long long>(took->count()));
  }
  // A quick flap of the far end: both edges are seen.
  const size_t before = seen.size();
  run(fmt::format("ip -n {} link set {} down", setup.ns_b, setup.if_b));
  ASSERT_TRUE(wait_for(*monitor, *a, LinkState::down, Clock::now()).has_value());
  run(fmt::format("ip -n {} link set {} up", setup.ns_b, setup.if_b));
  ASSERT_TRUE(wait_for(*monitor, *a, LinkState::up, Clock::now()).has_value());
  EXPECT_EQ(seen.size(), before + 2);

  EXPECT_EQ(seen.front(), setup.if_a + ":down");
  EXPECT_EQ(seen.back(), setup.if_a + ":up");
  EXPECT_EQ(monitor->state_of(setup.if_a), LinkState::up);
  EXPECT_EQ(monitor->stats().malformed, 0u);
  EXPECT_EQ(monitor->stats().foreign, 0u);
}

TEST_F(Namespaces, CongestionExperiencedMarksAreReported) {
  auto a = rail_a();
  auto b = rail_b();
  // An AQM's behaviour, in nftables: mark CE on ECT(0) datagrams to A's port.
  // It only matches if the rail sends ECT(0), so this checks both ends.
  run(fmt::format("ip netns exec {} nft -f - <<'EOF'\n"
                  "table ip ry_ecn {{\n"
                  "  chain post {{\n"
                  "    type filter hook postrouting priority 0;\n"
                  "    udp dport {} ip ecn ect0 ip ecn set ce\n"
                  "  }}\n"
                  "}}\nEOF",
                  setup.ns_b, kPortA));
  const std::string h = "marked";
  std::vector<TxFrame> frames(16, TxFrame{bytes_of(h), {}, kSlotOfA});
  ASSERT_EQ(b->tx_burst(frames), 16u);
  auto got = receive(*a, 16);
  ASSERT_EQ(got.size(), 16u);
  for (const auto& g : got) EXPECT_TRUE(g.ce);
  EXPECT_EQ(a->counters().rx_ecn_ce, 16u);

  run(fmt::format("ip netns exec {} nft delete table ip ry_ecn", setup.ns_b));
  ASSERT_EQ(b->tx_burst(std::span(frames).first(4)), 4u);
  got = receive(*a, 4);
  ASSERT_EQ(got.size(), 4u);
  for (const auto& g : got) EXPECT_FALSE(g.ce);
  EXPECT_EQ(a->counters().rx_ecn_ce, 16u);
}

TEST_F(Namespaces, FullSocketBufferIsCountedAsWouldBlock) {
  // A slow qdisc holds datagrams, and with them the socket's send buffer
  // (veth and lo release it at once otherwise).
  run(fmt::format("tc -n {} qdisc add dev {} root tbf rate 2mbit burst 4kb latency 500ms", setup.ns_b, setup.if_b));
  auto a = rail_a();
  auto b = rail_b(/*send_buffer=*/4096, /*gso=*/false);
  const std::string payload(1400, 'w');
  const std::string h = "wb";
  std::vector<TxFrame> frames(32, TxFrame{bytes_of(h), bytes_of(payload), kSlotOfA});
  size_t taken = 0, offered = 0;
  for (int burst = 0; burst < 50; ++burst) {
    offered += frames.size();
    taken += b->tx_burst(frames);
  }
  const auto c = b->counters();
  std::printf("offered %zu, taken %zu, tx_would_block %llu\n", offered, taken,
              static_cast<unsigned long long>(c.tx_would_block));
  EXPECT_LT(taken, offered);
  EXPECT_GT(c.tx_would_block, 0u);
  EXPECT_EQ(c.tx_frames, taken);
  EXPECT_EQ(c.tx_errors, 0u);
  run(fmt::format("tc -n {} qdisc del dev {} root", setup.ns_b, setup.if_b));
}

}  // namespace
}  // namespace railyard::nic
