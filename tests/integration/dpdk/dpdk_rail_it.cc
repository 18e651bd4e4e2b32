// DpdkRail against the kernel UdpRail across two network namespaces joined by
// a veth pair. Run by dpdk_rail.sh, which creates the namespaces (unique
// names), addresses the UDP side (the DPDK side's address belongs to DPDK, not
// to the kernel) and removes everything on exit; this program enters them
// with setns(2), so the vdev's socket lives in the DPDK namespace and the UDP
// socket in the other.
//
// Environment: RY_NS_D (DPDK side), RY_NS_U (UDP side), RY_ADDR_D, RY_ADDR_U, RY_PMD (net_af_packet or net_af_xdp), RY_PREFIX (a
// unique EAL file prefix).
//
// `dpdk_rail_it --eal-error` instead starts an EAL that must fail and checks
// the message (the EAL starts once per process, so that is its own run).
// Exit 77 (skip) when the EAL cannot start here for a reason outside the test.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/netns_scope.h"

#include "drivers/nic/dpdk/dpdk_env.h"
#include "drivers/nic/dpdk/dpdk_rail.h"
#include "drivers/nic/udp/udp_rail.h"

namespace railyard::nic {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

using test::env;
using test::InNamespace;

struct Setup {
  std::string ns_d = env("RY_NS_D"), ns_u = env("RY_NS_U");
  // Each test gets its own veth pair (see DpdkInterop::SetUp): DPDK 22.11's
  // af_xdp leaks its XSK socket on close, so an interface can be opened by
  // af_xdp only once per process.
  std::string if_d, if_u;
  std::string addr_d = env("RY_ADDR_D"), addr_u = env("RY_ADDR_U");
  std::string pmd = env("RY_PMD"), prefix = env("RY_PREFIX");
  bool ready() const { return !ns_d.empty() && !ns_u.empty() && !pmd.empty(); }
};
Setup setup;
std::shared_ptr<DpdkEnv> g_env;


void run(const std::string& command) { ASSERT_EQ(std::system(command.c_str()), 0) << command; }

constexpr uint16_t kPortD = 47911, kPortU = 47912;
constexpr PeerSlot kSlotOfU = 1, kSlotOfD = 2;

std::string device(int index = 0) { return fmt::format("{}{},iface={}", setup.pmd, index, setup.if_d); }

DpdkRailConfig dpdk_config(std::vector<DpdkPeer> peers = {}) {
  if (peers.empty()) peers = {{.slot = kSlotOfU, .address = setup.addr_u, .port = kPortU}};
  return DpdkRailConfig{.name = "itD", .device = device(), .address = setup.addr_d, .port = kPortD, .peers = peers};
}

std::unique_ptr<DpdkRail> dpdk_rail(DpdkRailConfig config = dpdk_config()) {
  InNamespace in(setup.ns_d);
  return std::make_unique<DpdkRail>(g_env, config);
}

std::unique_ptr<UdpRail> udp_rail(bool gso = false) {
  InNamespace in(setup.ns_u);
  return std::make_unique<UdpRail>(UdpRailConfig{.name = "itU",
                                                 .interface = setup.if_u,
                                                 .address = setup.addr_u,
                                                 .port = kPortU,
                                                 .peers = {{.slot = kSlotOfD, .address = setup.addr_d, .port = kPortD}},
                                                 .receive_buffer = 8 << 20,  // DPDK sends faster than a socket drains
                                                 .gso = gso});
}

struct Got {
  std::string bytes;
  PeerSlot peer;
};

/// Receives until `want` datagrams arrived or `patience` passed, sleeping on
/// wait_fd() when the rail has one (as the data plane does).
std::vector<Got> receive(Rail& rail, size_t want, milliseconds patience = milliseconds(3000)) {
  std::vector<Got> got;
  std::array<RxFrame, 64> frames{};
  const auto deadline = Clock::now() + patience;
  while (got.size() < want && Clock::now() < deadline) {
    const size_t n = rail.rx_burst(frames);
    for (size_t i = 0; i < n; ++i) {
      got.push_back({std::string(reinterpret_cast<const char*>(frames[i].bytes.data()), frames[i].bytes.size()),
                     frames[i].peer});
    }
    if (n == 0) {
      if (rail.wait_fd() >= 0) {
        pollfd p{.fd = rail.wait_fd(), .events = POLLIN, .revents = 0};
        ::poll(&p, 1, 20);
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  }
  return got;
}

std::string describe(const DpdkRail& d) {
  const auto s = d.stats();
  const auto c = d.counters();
  return fmt::format("rx_frames {} rx_errors {} bad_checksum {} malformed {} not_for_us {} other {} arp_received {} "
                     "arp_replies {} tx_frames {} unresolved {} imissed {}",
                     c.rx_frames, c.rx_errors, s.rx_bad_checksum, s.rx_malformed, s.rx_not_for_us, s.rx_other,
                     s.arp_received, s.arp_replies_sent, c.tx_frames, s.tx_unresolved, s.port_imissed);
}

/// Datagram contents: a recognisable fabric-header-sized head and a payload.
struct Message {
  std::string header, payload;
  std::string joined() const { return header + payload; }
};
std::vector<Message> messages(size_t count, size_t payload, uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<Message> out;
  for (size_t i = 0; i < count; ++i) {
    Message m{fmt::format("{:092}", i), std::string(payload, '\0')};
    for (char& c : m.payload) c = static_cast<char>(random());
    out.push_back(std::move(m));
  }
  return out;
}

std::span<const std::byte> bytes_of(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

/// The kernel queues only a few datagrams while it resolves a neighbour and
/// drops the rest: let it resolve the DPDK rail's address first (one
/// datagram, received), as any first contact would.
void warm_up(UdpRail& u, DpdkRail& d) {
  const std::string hello(92, 'h');
  const TxFrame f{.header = std::as_bytes(std::span(hello.data(), hello.size())), .payload = {}, .peer = kSlotOfD};
  std::array<RxFrame, 8> sink{};
  const auto deadline = Clock::now() + milliseconds(3000);
  size_t got = 0;
  while (got == 0 && Clock::now() < deadline) {
    u.tx_burst(std::span(&f, 1));
    for (int i = 0; i < 20 && got == 0; ++i) {
      got = d.rx_burst(sink);
      std::this_thread::sleep_for(milliseconds(1));
    }
  }
  ASSERT_EQ(got, 1u) << "the kernel never reached the DPDK rail";
}

/// Sends every message on `rail` to `peer`, offering again what a burst did
/// not take; `pump` runs between attempts (the other side's receive).
size_t send_all(Rail& rail, PeerSlot peer, const std::vector<Message>& ms, milliseconds patience = milliseconds(3000)) {
  std::vector<TxFrame> frames;
  for (const Message& m : ms) frames.push_back({.header = bytes_of(m.header), .payload = bytes_of(m.payload), .peer = peer});
  size_t sent = 0;
  const auto deadline = Clock::now() + patience;
  std::array<RxFrame, 32> sink{};
  while (sent < frames.size() && Clock::now() < deadline) {
    const size_t n = rail.tx_burst(std::span<const TxFrame>(frames).subspan(sent, std::min<size_t>(32, frames.size() - sent)));
    sent += n;
    if (n == 0) {
      rail.rx_burst(sink);  // lets a DPDK rail answer and send ARP
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  }
  return sent;
}

class DpdkInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!setup.ready() || !g_env) GTEST_SKIP() << "run by dpdk_rail.sh (namespaces and EAL)";
    static int count = 0;
    ++count;
    setup.if_d = fmt::format("ryd{}x{}", ::getpid(), count);
    setup.if_u = fmt::format("ryu{}x{}", ::getpid(), count);
    run(fmt::format("ip link add {} netns {} type veth peer name {} netns {}", setup.if_d, setup.ns_d, setup.if_u,
                    setup.ns_u));
    run(fmt::format("ip -n {} address add {}/24 dev {}", setup.ns_u, setup.addr_u, setup.if_u));
    run(fmt::format("ip -n {} link set {} up && ip -n {} link set {} up", setup.ns_d, setup.if_d, setup.ns_u, setup.if_u));
  }
  void TearDown() override {
    if (!setup.if_d.empty()) std::system(fmt::format("ip -n {} link del {} 2>/dev/null", setup.ns_d, setup.if_d).c_str());
  }
};

TEST_F(DpdkInterop, DpdkResolvesTheKernelPeerByArpAndSendsToIt) {
  auto d = dpdk_rail();
  auto u = udp_rail();
  EXPECT_EQ(d->neighbours().at(0).state, dpdk::NeighbourState::resolving);
  const auto ms = messages(200, 1200, 1);
  std::vector<Got> got;
  std::thread receiver([&got, &u, n = ms.size()] { got = receive(*u, n); });
  const size_t sent = send_all(*d, kSlotOfU, ms);
  receiver.join();
  ASSERT_EQ(sent, ms.size());
  ASSERT_EQ(got.size(), ms.size()) << "the kernel dropped datagrams (checksum or address wrong?) " << describe(*d);
  for (size_t i = 0; i < ms.size(); ++i) {
    EXPECT_EQ(got[i].bytes, ms[i].joined()) << i;
    EXPECT_EQ(got[i].peer, kSlotOfD);
  }
  const auto stats = d->stats();
  EXPECT_GE(stats.arp_requests_sent, 1u);
  EXPECT_GE(stats.tx_unresolved, 1u) << "the first burst should have been refused while resolving";
  EXPECT_EQ(d->neighbours().at(0).state, dpdk::NeighbourState::resolved);
  EXPECT_EQ(d->peer_link(kSlotOfU), LinkState::up);
  EXPECT_EQ(d->counters().tx_frames, ms.size());
  EXPECT_EQ(stats.tx_zero_copy + stats.tx_copied, ms.size());
  if (setup.pmd == "net_af_packet") {
    EXPECT_TRUE(stats.zero_copy_tx) << "af_packet takes multi-segment TX";
    EXPECT_EQ(stats.tx_zero_copy, ms.size());
  } else {
    EXPECT_FALSE(stats.zero_copy_tx) << "af_xdp takes single-segment TX only";
    EXPECT_EQ(stats.tx_copied, ms.size());
  }
  std::printf("       %s: %zu frames to the kernel rail; zero-copy %lu, copied %lu, ARP requests %lu, wait %s\n",
              setup.pmd.c_str(), ms.size(), static_cast<unsigned long>(stats.tx_zero_copy),
              static_cast<unsigned long>(stats.tx_copied), static_cast<unsigned long>(stats.arp_requests_sent),
              std::string(wait_mode_name(stats.wait_mode)).c_str());
}

TEST_F(DpdkInterop, KernelPeerResolvesDpdkByArpAndSendsToIt) {
  auto d = dpdk_rail();
  auto u = udp_rail();
  const auto ms = messages(200, 1300, 2);
  ASSERT_NO_FATAL_FAILURE(warm_up(*u, *d));
  std::vector<Got> got;
  std::thread receiver([&got, &d, n = ms.size()] { got = receive(*d, n); });
  const size_t sent = send_all(*u, kSlotOfD, ms);
  receiver.join();
  ASSERT_EQ(sent, ms.size());
  ASSERT_EQ(got.size(), ms.size()) << describe(*d);
  for (size_t i = 0; i < ms.size(); ++i) {
    EXPECT_EQ(got[i].bytes, ms[i].joined()) << i;
    EXPECT_EQ(got[i].peer, kSlotOfU);
  }
  const auto stats = d->stats();
  EXPECT_GE(stats.arp_replies_sent, 1u);
  EXPECT_EQ(stats.rx_bad_checksum, 0u);
  std::printf("       %s: %zu frames from the kernel rail; %lu with a partial (pseudo-header) UDP checksum\n", setup.pmd.c_str(),
              ms.size(), static_cast<unsigned long>(stats.rx_partial_checksum));
  // The kernel now holds DPDK's MAC for the rail's address.
  const std::string mac = dpdk::format_mac(d->mac());
  run(fmt::format("ip -n {} neigh show {} dev {} | grep -q {}", setup.ns_u, setup.addr_d, setup.if_u, mac));
  // The kernel's ARP request also taught the DPDK rail the peer's MAC.
  EXPECT_EQ(d->neighbours().at(0).state, dpdk::NeighbourState::resolved);
}

TEST_F(DpdkInterop, BurstsBothWaysAtTheMtu) {
  auto d = dpdk_rail();
  auto u = udp_rail();
  const size_t payload = d->max_datagram() - 92;
  ASSERT_EQ(d->max_datagram(), u->max_datagram()) << "both ends see the same MTU";
  ASSERT_NO_FATAL_FAILURE(warm_up(*u, *d));
  for (int round = 0; round < 5; ++round) {
    const auto to_u = messages(64, payload, 10 + round);
    std::vector<Got> got_u;
    std::thread u_receiver([&got_u, &u, n = to_u.size()] { got_u = receive(*u, n); });
    ASSERT_EQ(send_all(*d, kSlotOfU, to_u), to_u.size());
    u_receiver.join();
    ASSERT_EQ(got_u.size(), to_u.size()) << "round " << round;
    for (size_t i = 0; i < to_u.size(); ++i) ASSERT_EQ(got_u[i].bytes, to_u[i].joined());

    const auto to_d = messages(64, payload, 20 + round);
    std::vector<Got> got_d;
    std::thread receiver([&got_d, &d, n = to_d.size()] { got_d = receive(*d, n); });
    ASSERT_EQ(send_all(*u, kSlotOfD, to_d), to_d.size());
    receiver.join();
    ASSERT_EQ(got_d.size(), to_d.size()) << "round " << round << ": " << describe(*d);
    for (size_t i = 0; i < to_d.size(); ++i) ASSERT_EQ(got_d[i].bytes, to_d[i].joined());
  }
  // Too large for the rail: dropped and counted, not sent.
  const std::string big(d->max_datagram(), 'x');
  const TxFrame oversize{.header = bytes_of(big), .payload = bytes_of(std::string("y")), .peer = kSlotOfU};
  EXPECT_EQ(d->tx_burst(std::span(&oversize, 1)), 1u);
  EXPECT_EQ(d->counters().tx_errors, 1u);
}

TEST_F(DpdkInterop, SmallFramesAndEmptyPayloadsAreCopied) {
  auto d = dpdk_rail();
  auto u = udp_rail();
  const auto ms = messages(50, 0, 3);
  ASSERT_EQ(send_all(*d, kSlotOfU, ms), ms.size());
  const auto got = receive(*u, ms.size());
  ASSERT_EQ(got.size(), ms.size());
  EXPECT_EQ(d->stats().tx_zero_copy, 0u);
}

TEST_F(DpdkInterop, WithoutUdpChecksumTheKernelStillAccepts) {
  auto config = dpdk_config();
  config.udp_checksum = false;
  auto d = dpdk_rail(config);
  auto u = udp_rail();
  const auto ms = messages(20, 700, 4);
  ASSERT_EQ(send_all(*d, kSlotOfU, ms), ms.size());
  EXPECT_EQ(receive(*u, ms.size()).size(), ms.size());
}

TEST_F(DpdkInterop, StaticMacNeedsNoArp) {
  std::string mac;
  {
    FILE* f = ::popen(fmt::format("ip -n {} -br link show dev {} | awk '{{print $3}}'", setup.ns_u, setup.if_u).c_str(), "r");
    char line[64] = {};
    if (f != nullptr && std::fgets(line, sizeof line, f) != nullptr) mac = std::string(line, std::min<size_t>(17, std::strlen(line)));
    if (f != nullptr) ::pclose(f);
  }
  ASSERT_EQ(mac.size(), 17u);
  auto d = dpdk_rail(dpdk_config({{.slot = kSlotOfU, .address = setup.addr_u, .port = kPortU, .mac = mac}}));
  auto u = udp_rail();
  EXPECT_EQ(d->neighbours().at(0).state, dpdk::NeighbourState::static_mac);
  const auto ms = messages(10, 500, 5);
  const TxFrame first{.header = bytes_of(ms[0].header), .payload = bytes_of(ms[0].payload), .peer = kSlotOfU};
  EXPECT_EQ(d->tx_burst(std::span(&first, 1)), 1u) << "no refusal: the MAC is known";
  EXPECT_EQ(receive(*u, 1).size(), 1u);
  EXPECT_EQ(d->stats().tx_unresolved, 0u);
}

TEST_F(DpdkInterop, UnresolvedNeighbourIsShownAndItsFramesRefused) {
  // A peer address nobody answers for.
  const std::string ghost = setup.addr_u.substr(0, setup.addr_u.rfind('.')) + ".99";
  auto config = dpdk_config({{.slot = kSlotOfU, .address = setup.addr_u, .port = kPortU}, {.slot = 7, .address = ghost, .port = kPortU}});
  config.arp_retry_ms = 20;
  config.arp_retry_max_ms = 40;
  auto d = dpdk_rail(config);
  const auto ms = messages(4, 300, 6);
  std::vector<TxFrame> frames;
  for (const auto& m : ms) frames.push_back({.header = bytes_of(m.header), .payload = bytes_of(m.payload), .peer = 7});
  std::array<RxFrame, 8> sink{};
  const auto deadline = Clock::now() + milliseconds(1000);
  while (Clock::now() < deadline) {
    EXPECT_EQ(d->tx_burst(frames), 0u) << "frames to an unresolved neighbour are refused, not taken";
    d->rx_burst(sink);
    std::this_thread::sleep_for(milliseconds(5));
  }
  const auto stats = d->stats();
  EXPECT_GE(stats.tx_unresolved, 10u);
  EXPECT_GE(stats.arp_requests_sent, 3u);
  EXPECT_LE(stats.arp_requests_sent, 60u) << "retries back off";
  EXPECT_EQ(d->counters().tx_frames, 0u);
  EXPECT_EQ(stats.unresolved_neighbours, 1u) << "the real peer resolved, the ghost did not";
  const auto table = d->neighbours();
  const auto ghost_entry = std::find_if(table.begin(), table.end(), [](const auto& n) { return n.slot == 7; });
  ASSERT_NE(ghost_entry, table.end());
  EXPECT_EQ(ghost_entry->state, dpdk::NeighbourState::unresolved);
  EXPECT_EQ(d->peer_link(7), LinkState::down);
}

TEST_F(DpdkInterop, LinkDownAndUpAreSeen) {
  auto d = dpdk_rail();
  std::array<RxFrame, 8> sink{};
  const auto wait_for = [&](LinkState want) {
    const auto deadline = Clock::now() + milliseconds(3000);
    while (Clock::now() < deadline && d->link_state() != want) {
      d->rx_burst(sink);  // polls the link every link_poll_ms
      std::this_thread::sleep_for(milliseconds(10));
    }
    return d->link_state();
  };
  EXPECT_EQ(wait_for(LinkState::up), LinkState::up);
  run(fmt::format("ip -n {} link set {} down", setup.ns_u, setup.if_u));  // the far end: carrier goes
  EXPECT_EQ(wait_for(LinkState::down), LinkState::down);
  run(fmt::format("ip -n {} link set {} up", setup.ns_u, setup.if_u));
  EXPECT_EQ(wait_for(LinkState::up), LinkState::up);
  run(fmt::format("ip -n {} link set {} down", setup.ns_d, setup.if_d));  // our own end, administratively
  EXPECT_EQ(wait_for(LinkState::down), LinkState::down);
  run(fmt::format("ip -n {} link set {} up", setup.ns_d, setup.if_d));
  EXPECT_EQ(wait_for(LinkState::up), LinkState::up);
}

TEST_F(DpdkInterop, WaitFdIsReadableOnlyWhileFramesWait) {
  auto d = dpdk_rail();
  auto u = udp_rail();
  if (d->wait_fd() < 0) GTEST_SKIP() << setup.pmd << " offers no wait fd here";
  EXPECT_EQ(d->stats().wait_mode, DpdkWaitMode::pmd_socket);
  ASSERT_NO_FATAL_FAILURE(warm_up(*u, *d));
  std::array<RxFrame, 64> sink{};
  while (d->rx_burst(sink) > 0) {
  }
  pollfd p{.fd = d->wait_fd(), .events = POLLIN, .revents = 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "idle: not readable";
  const auto ms = messages(1, 100, 7);
  ASSERT_EQ(send_all(*u, kSlotOfD, ms), 1u);
  const auto start = Clock::now();
  EXPECT_EQ(::poll(&p, 1, 2000), 1) << "a waiting frame makes it readable";
  const auto woke = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
  EXPECT_EQ(d->rx_burst(sink), 1u) << describe(*d);
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "drained: not readable";
  std::printf("       %s: wait fd (%s) woke %ld us after the send\n", setup.pmd.c_str(),
              std::string(wait_mode_name(d->stats().wait_mode)).c_str(), static_cast<long>(woke));
}

TEST_F(DpdkInterop, StatisticsAndXstats) {
  auto d = dpdk_rail();
  auto u = udp_rail();
  const auto ms = messages(30, 800, 8);
  ASSERT_EQ(send_all(*d, kSlotOfU, ms), ms.size());
  ASSERT_EQ(receive(*u, ms.size()).size(), ms.size());
  const auto xs = d->xstats();
  EXPECT_FALSE(xs.empty());
  uint64_t tx_packets = 0;
  for (const auto& x : xs) {
    if (x.name == "tx_good_packets") tx_packets = x.value;
  }
  EXPECT_GE(tx_packets, ms.size()) << "tx_good_packets counts data and ARP";
  EXPECT_EQ(d->pmd(), setup.pmd);
  EXPECT_EQ(d->driver(), "dpdk");
  EXPECT_FALSE(d->mac().is_zero());
}

// Start-up errors: each says what is wrong and what to do.
class DpdkErrors : public DpdkInterop {
 protected:
  std::string open_error(DpdkRailConfig config) {
    try {
      dpdk_rail(std::move(config));
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "(no error)";
  }
};

TEST_F(DpdkErrors, BadPortString) {
  auto c = dpdk_config();
  c.device = "eth0";
  const std::string e = open_error(c);
  EXPECT_NE(e.find("neither a PCI address"), std::string::npos) << e;
  EXPECT_NE(e.find("net_af_xdp0,iface="), std::string::npos) << e;
  c.device = fmt::format("{}0", setup.pmd);
  EXPECT_NE(open_error(c).find("needs iface="), std::string::npos) << open_error(c);
}

TEST_F(DpdkErrors, MissingInterfaceOrDevice) {
  auto c = dpdk_config();
  c.device = fmt::format("{}5,iface=ry-nosuch", setup.pmd);
  std::string e = open_error(c);
  EXPECT_NE(e.find("interface ry-nosuch does not exist"), std::string::npos) << e;
  c.device = "0000:ff:1f.7";
  e = open_error(c);
  EXPECT_NE(e.find("no PCI device 0000:ff:1f.7"), std::string::npos) << e;
  c.device = "net_nosuchdriver0,iface=" + setup.if_d;
  e = open_error(c);
  EXPECT_NE(e.find("DPDK has no driver called net_nosuchdriver"), std::string::npos) << e;
  EXPECT_NE(e.find("DPDK said: EAL: failed to parse device \"net_nosuchdriver0\""), std::string::npos) << e;
}

TEST_F(DpdkErrors, PortUsedTwiceAndBadConfig) {
  auto first = dpdk_rail();
  std::string e = open_error(dpdk_config());
  EXPECT_NE(e.find("already used"), std::string::npos) << e;
  auto c = dpdk_config();
  c.device = device(1);  // a second vdev on the same interface
  c.port = 0;
  c.address = "10.0.0";
  e = open_error(c);
  EXPECT_NE(e.find("port: 0"), std::string::npos) << e;
  EXPECT_NE(e.find("address: '10.0.0'"), std::string::npos) << e;
  c = dpdk_config();
  c.device = device(1);
  c.mtu = 9000;
  e = open_error(c);
  EXPECT_NE(e.find("MTU 9000"), std::string::npos) << e;
}

/// A separate run: the EAL fails to start, and says why.
int eal_error_main() {
  int failures = 0;
  const auto expect_error = [&failures](const DpdkEnvConfig& config, std::initializer_list<std::string_view> parts) {
    try {
      DpdkEnv::start(config);
      std::printf("FAIL: the EAL started with a bad config\n");
      ++failures;
    } catch (const std::runtime_error& e) {
      const std::string message = e.what();
      for (std::string_view part : parts) {
        if (message.find(part) == std::string::npos) {
          std::printf("FAIL: '%.*s' not in: %s\n", static_cast<int>(part.size()), part.data(), message.c_str());
          ++failures;
        }
      }
      std::printf("message: %s\n", message.c_str());
    }
  };
  expect_error(DpdkEnvConfig{.no_huge = true, .file_prefix = ""}, {"file_prefix is empty"});
  expect_error(DpdkEnvConfig{.cores = "4000", .memory_mb = 64, .no_huge = true, .file_prefix = setup.prefix + "-bad", .no_pci = true},
               {"the EAL failed to start", "cores", "-l 4000"});
  expect_error(DpdkEnvConfig{.no_huge = true, .file_prefix = setup.prefix + "-bad2"}, {"cannot be initialised again"});
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace railyard::nic

int main(int argc, char** argv) {
  using namespace railyard::nic;
  if (argc > 1 && std::string(argv[1]) == "--eal-error") return eal_error_main();
  ::testing::InitGoogleTest(&argc, argv);
  if (setup.ready()) {
    try {
      InNamespace in(setup.ns_d);
      g_env = DpdkEnv::start(DpdkEnvConfig{.cores = "0",
                                           .memory_mb = 512,
                                           .no_huge = true,
                                           .file_prefix = setup.prefix.empty() ? fmt::format("ry-it-{}", ::getpid()) : setup.prefix,
                                           .no_pci = true,
                                           .log_level = "error"});
    } catch (const std::runtime_error& e) {
      std::printf("SKIP: the EAL cannot start here: %s\n", e.what());
      return 77;
    }
  }
  const int result = RUN_ALL_TESTS();
  g_env.reset();  // rte_eal_cleanup, after every rail is gone
  return result;
}
