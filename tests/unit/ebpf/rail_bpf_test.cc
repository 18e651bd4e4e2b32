// BPF_PROG_TEST_RUN tests of the rail monitor and the fault injector: built
// frames in, expected verdict, expected output bytes and counters out
// (Katran's BpfTester style); then attach/detach, pins, crash leftovers and
// the XDP conflict on a veth pair in a private network namespace.
//
// Suite 'privileged': needs CAP_BPF + CAP_NET_ADMIN (root). Where BPF cannot
// load, main() prints why and exits 77, which meson reports as SKIP.

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "ebpf/fabric_abi.h"
#include "ebpf/fault_injector_abi.h"
#include "ebpf/rail_bpf.h"
#include "ebpf/rail_monitor_abi.h"
#include "fabric/wire.h"
#include "tests/unit/ebpf/packet_builder.h"

// The programs' view of the wire format is the fabric's.
static_assert(RAILYARD_FABRIC_MAGIC == railyard::fabric::kMagic);
static_assert(RAILYARD_FABRIC_MIN_DATAGRAM == railyard::fabric::kMinDatagram);
static_assert(RAILYARD_FABRIC_CLASSES == railyard::fabric::kClassCount);
static_assert(RAILYARD_FABRIC_TYPE_DATA == static_cast<int>(railyard::fabric::PacketType::data));
static_assert(RAILYARD_FABRIC_TYPE_MAX == static_cast<int>(railyard::fabric::PacketType::handshake_confirm));
static_assert(RAILYARD_FABRIC_TYPE_MAX < RAILYARD_FABRIC_TYPE_SLOTS);

namespace railyard::ebpf {
namespace {

using fabric::PacketType;
using fabric::TrafficClass;
using test::Frame;

struct Outcome {
  uint32_t verdict = 0;
  Frame out;
};

Outcome run(int prog_fd, const Frame& in, int repeat = 1, const __sk_buff* ctx = nullptr) {
  Outcome r;
  r.out.resize(in.size() + 512);
  bpf_test_run_opts o{};
  o.sz = sizeof o;
  o.data_in = in.data();
  o.data_size_in = static_cast<uint32_t>(in.size());
  o.data_out = r.out.data();
  o.data_size_out = static_cast<uint32_t>(r.out.size());
  o.repeat = repeat;
  if (ctx != nullptr) {
    o.ctx_in = ctx;
    o.ctx_size_in = sizeof *ctx;
  }
  const int rc = bpf_prog_test_run_opts(prog_fd, &o);
  EXPECT_EQ(rc, 0) << "BPF_PROG_TEST_RUN: " << std::strerror(-rc);
  r.out.resize(o.data_size_out);
  r.verdict = o.retval;
  return r;
}

constexpr uint32_t kTcUnspec = static_cast<uint32_t>(TC_ACT_UNSPEC);

// ---------------------------------------------------------------- rail monitor

class MonitorTest : public ::testing::Test {
 protected:
  void SetUp() override { monitor.load(); }
  Outcome ingress(const Frame& f, int repeat = 1, const __sk_buff* ctx = nullptr) {
    return run(monitor.program_fd(Direction::ingress), f, repeat, ctx);
  }
  Outcome egress(const Frame& f, int repeat = 1, const __sk_buff* ctx = nullptr) {
    return run(monitor.program_fd(Direction::egress), f, repeat, ctx);
  }
  RailMonitor monitor;
};

TEST_F(MonitorTest, CountsDataPerDirectionAndClassAndLeavesThePacketAlone) {
  const Frame act = test::fabric_frame(test::data_header(TrafficClass::activation, 1000));
  const Frame kv = test::fabric_frame(test::data_header(TrafficClass::kv, 1400));
  const Outcome a = egress(act);
  EXPECT_EQ(a.verdict, kTcUnspec) << "the monitor must let later filters run";
  EXPECT_EQ(a.out, act);
  const Outcome b = ingress(kv, 3);
  EXPECT_EQ(b.verdict, kTcUnspec);
  EXPECT_EQ(b.out, kv);

  const MonitorCounters c = monitor.counters();
  EXPECT_EQ(c.egress.classes[0], (ClassCounters{.packets = 1, .bytes = 1032, .data_packets = 1, .data_bytes = 1032}));
  EXPECT_EQ(c.egress.classes[1], ClassCounters{});
  EXPECT_EQ(c.ingress.classes[1], (ClassCounters{.packets = 3, .bytes = 3 * 1432, .data_packets = 3, .data_bytes = 3 * 1432}));
  EXPECT_EQ(c.ingress.classes[0], ClassCounters{});
  EXPECT_EQ(c.egress.by_type[1], 1u);
  EXPECT_EQ(c.ingress.by_type[1], 3u);
  EXPECT_EQ(c.ingress.malformed + c.egress.malformed, 0u);
  EXPECT_EQ(monitor.failed_calls(), 0u);
}

TEST_F(MonitorTest, CountsControlPacketsByType) {
  const std::pair<PacketType, uint32_t> kinds[] = {
      {PacketType::ack, 0},         {PacketType::handshake_init, 0}, {PacketType::handshake_reply, 0},
      {PacketType::probe, 0},       {PacketType::probe_reply, 0},    {PacketType::message, fabric::kTagSize + 8},
      {PacketType::handshake_confirm, 0}};
  uint64_t bytes = 0;
  for (const auto& [type, body] : kinds) {
    const auto datagram = test::fabric_datagram(test::control_header(type, TrafficClass::activation, body));
    egress(test::frame(datagram));
    bytes += datagram.size();
  }
  const MonitorCounters c = monitor.counters();
  EXPECT_EQ(c.egress.classes[0].packets, 7u);
  EXPECT_EQ(c.egress.classes[0].bytes, bytes);
  EXPECT_EQ(c.egress.classes[0].data_packets, 0u);
  for (int t = 2; t <= 8; ++t) EXPECT_EQ(c.egress.by_type[t], 1u) << "type " << t;
  EXPECT_EQ(c.egress.by_type[0] + c.egress.by_type[1] + c.egress.malformed, 0u);
}

TEST_F(MonitorTest, MatchesEitherPortAndIgnoresOtherTraffic) {
  const Frame ours = test::fabric_frame(test::data_header(TrafficClass::kv, 100), {}, {.sport = 7470, .dport = 40000});
  const Frame theirs = test::fabric_frame(test::data_header(TrafficClass::kv, 100), {}, {.sport = 40000, .dport = 7470});
  egress(ours);
  ingress(theirs);
  // Not ours: another UDP port, TCP, not IPv4, a fragment.
  const fabric::Header h = test::data_header(TrafficClass::kv, 100);
  const Frame others[] = {
      test::fabric_frame(h, {}, {.sport = 53, .dport = 53}),
      test::fabric_frame(h, {.protocol = 6}),
      test::fabric_frame(h, {.ether_type = 0x86dd}),
      test::fabric_frame(h, {.frag_off = 0x2000}),  // MF
      test::fabric_frame(h, {.frag_off = 0x0010}),  // offset
  };
  for (const Frame& f : others) {
    EXPECT_EQ(ingress(f).verdict, kTcUnspec);
    EXPECT_EQ(egress(f).verdict, kTcUnspec);
  }
  const MonitorCounters c = monitor.counters();
  EXPECT_EQ(c.egress.packets(), 1u);
  EXPECT_EQ(c.ingress.packets(), 1u);
  EXPECT_EQ(c.ingress.malformed + c.egress.malformed, 0u);
}

TEST_F(MonitorTest, CountsMalformedDatagramsOnTheFabricPort) {
  std::vector<uint8_t> bad_magic = test::fabric_datagram(test::data_header(TrafficClass::kv, 100));
  bad_magic[0] = 0x12;
  std::vector<uint8_t> bad_class = test::fabric_datagram(test::data_header(TrafficClass::kv, 100));
  bad_class[RAILYARD_FABRIC_OFF_CLASS] = 7;
  std::vector<uint8_t> bad_type = test::fabric_datagram(test::data_header(TrafficClass::kv, 100));
  bad_type[RAILYARD_FABRIC_OFF_TYPE] = 9;
  std::vector<uint8_t> type_zero = bad_type;
  type_zero[RAILYARD_FABRIC_OFF_TYPE] = 0;
  const std::vector<uint8_t> short_one(50, 0x52);
  for (const auto& payload : {bad_magic, bad_class, bad_type, type_zero, short_one}) {
    const Frame f = test::frame(payload);
    EXPECT_EQ(ingress(f).out, f);
  }
  const MonitorCounters c = monitor.counters();
  EXPECT_EQ(c.ingress.malformed, 5u);
  EXPECT_EQ(c.ingress.packets(), 0u);
}

TEST_F(MonitorTest, CountsEcnCongestionExperienced) {
  const fabric::Header h = test::data_header(TrafficClass::kv, 500);
  ingress(test::fabric_frame(h, {.tos = 0x03}), 4);  // CE
  ingress(test::fabric_frame(h, {.tos = 0x02}));     // ECT(0)
  ingress(test::fabric_frame(h, {.tos = 0x01}));     // ECT(1)
  ingress(test::fabric_frame(h, {.tos = 0xb8 | 0x03}));  // DSCP EF + CE
  const MonitorCounters c = monitor.counters();
  EXPECT_EQ(c.ingress.classes[1].packets, 7u);
  EXPECT_EQ(c.ingress.classes[1].ecn_ce, 5u);
  EXPECT_EQ(c.ingress.ecn_ce(), 5u);
}

TEST_F(MonitorTest, SplitsAGsoSuperDatagramIntoItsSegments) {
  // Six segments of 200 B (UDP payload: a 32-byte DATA header and 168 of
  // payload) and a last one of 150 B, mixed classes: the UDP rail batches
  // same-size frames to one peer whatever their class.
  const TrafficClass classes[] = {TrafficClass::activation, TrafficClass::kv, TrafficClass::kv, TrafficClass::activation,
                                  TrafficClass::kv, TrafficClass::kv, TrafficClass::activation};
  std::vector<uint8_t> payload;
  uint64_t bytes[2] = {};
  for (size_t i = 0; i < std::size(classes); ++i) {
    const uint32_t body = i + 1 < std::size(classes) ? 200 - fabric::kDataHeaderSize : 150 - fabric::kDataHeaderSize;
    const auto d = test::fabric_datagram(test::data_header(classes[i], body));
    payload.insert(payload.end(), d.begin(), d.end());
    bytes[static_cast<int>(classes[i])] += d.size();
  }
  const Frame f = test::frame(payload, {.tos = 0x03});
  __sk_buff ctx{};
  ctx.gso_segs = std::size(classes);
  ctx.gso_size = 200;
  EXPECT_EQ(egress(f, 1, &ctx).verdict, kTcUnspec);

  const MonitorCounters c = monitor.counters();
  EXPECT_EQ(c.egress.gso_skbs, 1u);
  EXPECT_EQ(c.egress.classes[0].packets, 3u);
  EXPECT_EQ(c.egress.classes[1].packets, 4u);
  EXPECT_EQ(c.egress.classes[0].bytes, bytes[0]);
  EXPECT_EQ(c.egress.classes[1].bytes, bytes[1]);
  EXPECT_EQ(c.egress.ecn_ce(), 7u);
  EXPECT_EQ(c.egress.by_type[1], 7u);
  EXPECT_EQ(c.egress.malformed + c.egress.truncated + c.egress.load_errors, 0u);
}

TEST(MonitorPort, FollowsTheConfiguredFabricPort) {
  RailMonitor monitor(BpfOptions{.fabric_port = 9000, .pin_root = ""});
  monitor.load();
  const fabric::Header h = test::data_header(TrafficClass::kv, 100);
  run(monitor.program_fd(Direction::ingress), test::fabric_frame(h));
  run(monitor.program_fd(Direction::ingress), test::fabric_frame(h, {}, {.sport = 9000, .dport = 9000}));
  EXPECT_EQ(monitor.counters().ingress.packets(), 1u);
}

// -------------------------------------------------------------- fault injector

class InjectorTest : public ::testing::Test {
 protected:
  void SetUp() override { injector.load(); }
  Outcome xdp(const Frame& f, int repeat = 1) { return run(injector.program_fd(), f, repeat); }
  FaultInjector injector;
};

TEST_F(InjectorTest, PassesEverythingUntilSet) {
  const Frame f = test::fabric_frame(test::data_header(TrafficClass::kv, 1000));
  const Outcome r = xdp(f, 100);
  EXPECT_EQ(r.verdict, static_cast<uint32_t>(XDP_PASS));
  EXPECT_EQ(r.out, f);
  const FaultCounters c = injector.counters();
  EXPECT_EQ(c.classes[1].seen, 100u);
  EXPECT_EQ(c.classes[1].matched, 100u);
  EXPECT_EQ(c.total().dropped + c.total().marked, 0u);
}

TEST_F(InjectorTest, DropsWithProbabilityOneAndNeverWithZero) {
  const Frame f = test::fabric_frame(test::data_header(TrafficClass::activation, 64));
  injector.set({.drop = 1});
  EXPECT_EQ(xdp(f, 1000).verdict, static_cast<uint32_t>(XDP_DROP));
  EXPECT_EQ(injector.counters().classes[0].dropped, 1000u);

  injector.set({.drop = 0, .ecn = 0});
  EXPECT_EQ(xdp(f, 10000).verdict, static_cast<uint32_t>(XDP_PASS));
  EXPECT_EQ(injector.counters().classes[0].dropped, 1000u);
  EXPECT_EQ(injector.counters().classes[0].matched, 11000u);

  injector.clear();
  EXPECT_EQ(injector.settings(), FaultSettings{});
  EXPECT_EQ(xdp(f).verdict, static_cast<uint32_t>(XDP_PASS));
}

// Binomial: within 5 standard deviations (a false failure about once in 3.5 million runs).
void expect_ratio(uint64_t hits, uint64_t n, double p) {
  const double sigma = std::sqrt(n * p * (1 - p));
  EXPECT_NEAR(static_cast<double>(hits), n * p, 5 * sigma) << hits << " of " << n << " at p=" << p;
}

TEST_F(InjectorTest, DropsHalfOfTenThousandAtOneHalf) {
  injector.set({.drop = 0.5});
  xdp(test::fabric_frame(test::data_header(TrafficClass::kv, 64)), 10000);
  const FaultClassCounters c = injector.counters().classes[1];
  EXPECT_EQ(c.matched, 10000u);
  expect_ratio(c.dropped, c.matched, 0.5);
}

TEST_F(InjectorTest, DropsFivePercent) {
  injector.set({.drop = 0.05});
  xdp(test::fabric_frame(test::data_header(TrafficClass::kv, 64)), 20000);
  const FaultClassCounters c = injector.counters().classes[1];
  expect_ratio(c.dropped, c.matched, 0.05);
}

TEST_F(InjectorTest, DropsOnlyTheSelectedClass) {
  injector.set({.drop = 1, .only = FaultClass::kv});
  const Frame act = test::fabric_frame(test::data_header(TrafficClass::activation, 64));
  const Frame kv = test::fabric_frame(test::data_header(TrafficClass::kv, 64));
  EXPECT_EQ(xdp(act, 10).verdict, static_cast<uint32_t>(XDP_PASS));
  EXPECT_EQ(xdp(kv, 10).verdict, static_cast<uint32_t>(XDP_DROP));
  const FaultCounters c = injector.counters();
  EXPECT_EQ(c.classes[0], (FaultClassCounters{.seen = 10}));
  EXPECT_EQ(c.classes[1], (FaultClassCounters{.seen = 10, .matched = 10, .dropped = 10}));

  injector.set({.drop = 1, .only = FaultClass::activation});
  EXPECT_EQ(xdp(act).verdict, static_cast<uint32_t>(XDP_DROP));
  EXPECT_EQ(xdp(kv).verdict, static_cast<uint32_t>(XDP_PASS));
}

TEST_F(InjectorTest, MarksCongestionExperiencedWithAValidChecksum) {
  injector.set({.ecn = 1});
  for (const uint8_t ect : {uint8_t{0x02}, uint8_t{0x01}, uint8_t{0xb8 | 0x02}}) {
    const fabric::Header h = test::data_header(TrafficClass::kv, 700);
    const Frame in = test::fabric_frame(h, {.tos = ect});
    const Frame expected = test::fabric_frame(h, {.tos = static_cast<uint8_t>(ect | 0x03)});  // checksum from scratch
    const Outcome r = xdp(in);
    EXPECT_EQ(r.verdict, static_cast<uint32_t>(XDP_PASS));
    EXPECT_EQ(r.out, expected) << "tos " << int{ect};
    EXPECT_EQ(test::ipv4_checksum(r.out.data() + test::kEthHeader, test::kIpHeader), 0);
  }
  EXPECT_EQ(injector.counters().classes[1].marked, 3u);
}

TEST_F(InjectorTest, LeavesNotEctAndCePacketsAlone) {
  injector.set({.ecn = 1});
  const fabric::Header h = test::data_header(TrafficClass::activation, 100);
  const Frame not_ect = test::fabric_frame(h, {.tos = 0x00});
  const Frame ce = test::fabric_frame(h, {.tos = 0x03});
  EXPECT_EQ(xdp(not_ect).out, not_ect);
  EXPECT_EQ(xdp(ce).out, ce);
  const FaultClassCounters c = injector.counters().classes[0];
  EXPECT_EQ(c.marked, 0u);
  EXPECT_EQ(c.not_ect, 1u);
  EXPECT_EQ(c.already_ce, 1u);
}

TEST_F(InjectorTest, IncrementalChecksumMatchesARecomputationOnRandomHeaders) {
  injector.set({.ecn = 1});
  std::mt19937 rng(7470);
  for (int i = 0; i < 2000; ++i) {
    test::Ip ip{.tos = static_cast<uint8_t>((rng() & 0xfc) | (1 + rng() % 2)),
                .id = static_cast<uint16_t>(rng()),
                .frag_off = static_cast<uint16_t>(rng() % 2 ? 0x4000 : 0),
                .ttl = static_cast<uint8_t>(rng()),
                .src = static_cast<uint32_t>(rng()),
                .dst = static_cast<uint32_t>(rng())};
    if (i < 4) ip.src = ip.dst = i % 2 ? 0xffffffff : 0;  // extremes of the ones' complement sum
    const fabric::Header h = test::data_header(TrafficClass::kv, 10 + rng() % 300);
    Frame expected = test::fabric_frame(h, ip);
    expected[test::kEthHeader + 1] |= 0x03;
    test::fix_ipv4_checksum(expected);
    const Outcome r = xdp(test::fabric_frame(h, ip));
    ASSERT_EQ(r.out, expected) << "case " << i;
  }
}

TEST_F(InjectorTest, MarksHalfAtOneHalfAndDropsBeforeMarking) {
  injector.set({.drop = 0.5, .ecn = 0.5});
  // One run per packet: with `repeat` the kernel reuses the (then marked) buffer.
  const Frame f = test::fabric_frame(test::data_header(TrafficClass::kv, 64));
  uint64_t passed_marked = 0;
  for (int i = 0; i < 10000; ++i) {
    const Outcome r = xdp(f);
    if (r.verdict == XDP_PASS && (r.out[test::kEthHeader + 1] & 0x03) == 0x03) ++passed_marked;
  }
  const FaultClassCounters c = injector.counters().classes[1];
  EXPECT_EQ(c.matched, 10000u);
  expect_ratio(c.dropped, 10000, 0.5);
  expect_ratio(c.marked, c.matched - c.dropped, 0.5);
  EXPECT_EQ(passed_marked, c.marked);
}

TEST_F(InjectorTest, PassesOtherTrafficAndCountsMalformed) {
  injector.set({.drop = 1, .ecn = 1});
  const fabric::Header h = test::data_header(TrafficClass::kv, 100);
  const Frame other = test::fabric_frame(h, {}, {.sport = 5000, .dport = 5001});
  EXPECT_EQ(xdp(other).verdict, static_cast<uint32_t>(XDP_PASS));
  EXPECT_EQ(xdp(other).out, other);
  std::vector<uint8_t> bad = test::fabric_datagram(h);
  bad[1] = 0;
  EXPECT_EQ(xdp(test::frame(bad)).verdict, static_cast<uint32_t>(XDP_PASS));
  EXPECT_EQ(xdp(test::frame(std::vector<uint8_t>(40, 0x52))).verdict, static_cast<uint32_t>(XDP_PASS));
  const FaultCounters c = injector.counters();
  EXPECT_EQ(c.malformed, 2u);
  EXPECT_EQ(c.total().seen, 0u);
}

// railyardd.service grants CAP_BPF and CAP_NET_ADMIN, not CAP_PERFMON nor
// CAP_SYS_ADMIN: the verifier then applies its Spectre v1 rules (no
// path-dependent pointer arithmetic, speculative paths explored too), which
// both programs must pass.
bool drop_to_unit_capabilities() {
  __user_cap_header_struct header{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  __user_cap_data_struct data[2]{};
  const uint64_t keep = (1ull << CAP_NET_ADMIN) | (1ull << 39 /* CAP_BPF */);
  for (int i = 0; i < 2; ++i) data[i].effective = data[i].permitted = static_cast<uint32_t>(keep >> (32 * i));
  return syscall(SYS_capset, &header, data) == 0;
}

TEST(Capabilities, ProgramsLoadWithTheCapabilitiesOfTheSystemdUnit) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!drop_to_unit_capabilities()) std::_Exit(10);
    try {
      RailMonitor(BpfOptions{.pin_root = ""}).load();
      FaultInjector(BpfOptions{.pin_root = ""}).load();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      std::_Exit(11);
    }
    std::_Exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child exit " << WEXITSTATUS(status);
}

TEST(Capabilities, MissingOnesAreNamed) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    __user_cap_header_struct header{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    __user_cap_data_struct data[2]{};
    data[0].effective = data[0].permitted = 1u << CAP_NET_ADMIN;
    if (syscall(SYS_capset, &header, data) != 0) std::_Exit(10);
    try {
      RailMonitor().load();
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      std::_Exit(what.find("missing capability CAP_BPF") != what.npos && what.find("CAP_NET_ADMIN") != what.npos ? 0 : 12);
    }
    std::_Exit(11);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child exit " << WEXITSTATUS(status);
}

TEST(Probability, ThresholdsAreOutOfTwoToThe32) {
  EXPECT_EQ(probability_threshold(0), FI_NEVER);
  EXPECT_EQ(probability_threshold(1), FI_ALWAYS);
  EXPECT_EQ(probability_threshold(0.5), 0x80000000u);
  EXPECT_EQ(probability_threshold(0.05), 214748365u);
  EXPECT_EQ(probability_threshold(1 - 1e-12), FI_ALWAYS - 1);
  EXPECT_THROW(probability_threshold(-0.1), std::invalid_argument);
  EXPECT_THROW(probability_threshold(1.5), std::invalid_argument);
  EXPECT_THROW(probability_threshold(std::nan("")), std::invalid_argument);
}

// ------------------------------------------------ attach, pins, crash leftovers
//
// On a veth pair in this process's private network and mount namespaces (set
// up in main), with bpffs mounted by the code under test.

bool g_private_namespaces = false;
std::string g_why_no_namespaces;

class AttachTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_private_namespaces) GTEST_SKIP() << "no private namespaces: " << g_why_no_namespaces;
    ASSERT_EQ(std::system("ip link add rytest0 type veth peer name rytest1 && ip link set rytest0 up && "
                          "ip link set rytest1 up"),
              0);
    ifindex = static_cast<int>(if_nametoindex("rytest0"));
    ASSERT_GT(ifindex, 0);
  }
  void TearDown() override {
    if (g_private_namespaces) (void)std::system("ip link del rytest0 2>/dev/null");
  }
  int ifindex = 0;
  const std::string root = "/sys/fs/bpf/railyard";
};

uint32_t tc_program(int ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof hook;
  hook.ifindex = ifindex;
  hook.attach_point = point;
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.handle = RM_TC_HANDLE;
  opts.priority = RM_TC_PRIORITY;
  return bpf_tc_query(&hook, &opts) == 0 ? opts.prog_id : 0;
}

uint32_t xdp_program(int ifindex) {
  bpf_xdp_query_opts q{};
  q.sz = sizeof q;
  return bpf_xdp_query(ifindex, 0, &q) == 0 ? q.prog_id : 0;
}

bool on_bpffs(const std::string& path) {
  struct statfs s {};
  return ::statfs(path.c_str(), &s) == 0 && s.f_type == BPF_FS_MAGIC;
}

TEST_F(AttachTest, MonitorAttachesPinsAndCleansUp) {
  RailMonitor monitor;
  monitor.attach(ifindex);
  EXPECT_TRUE(monitor.attached());
  EXPECT_EQ(monitor.interface_name(), "rytest0");
  EXPECT_NE(tc_program(ifindex, BPF_TC_INGRESS), 0u);
  EXPECT_NE(tc_program(ifindex, BPF_TC_EGRESS), 0u);
  EXPECT_TRUE(on_bpffs("/sys/fs/bpf")) << "bpffs should have been mounted";
  ASSERT_FALSE(monitor.pin_dir().empty()) << (monitor.notes().empty() ? "" : monitor.notes()[0]);
  EXPECT_TRUE(monitor.pin_dir().starts_with(root + "/rytest0-ns"));
  EXPECT_TRUE(std::filesystem::exists(monitor.pin_dir() + "/rm_class_stats"));
  EXPECT_TRUE(std::filesystem::exists(monitor.pin_dir() + "/rm_dir_stats"));
  const std::string dir = monitor.pin_dir();
  monitor.detach();
  EXPECT_FALSE(monitor.attached());
  EXPECT_EQ(tc_program(ifindex, BPF_TC_INGRESS), 0u);
  EXPECT_EQ(tc_program(ifindex, BPF_TC_EGRESS), 0u);
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ(monitor.counters(), MonitorCounters{});
}

TEST_F(AttachTest, MonitorCountsRealTraffic) {
  RailMonitor monitor;
  monitor.attach(ifindex);
  // Datagrams out of rytest0 (egress) to a neighbour that does not exist.
  ASSERT_EQ(std::system("ip addr add 198.18.9.1/24 dev rytest0 && ip neigh add 198.18.9.2 lladdr 02:00:00:00:00:09 "
                        "dev rytest0"),
            0);
  const auto d = test::fabric_datagram(test::data_header(TrafficClass::kv, 300));
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(7470);
  to.sin_addr.s_addr = htonl(0xc6120902);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(d.size()));
  }
  ::close(fd);
  const MonitorCounters c = monitor.counters();
  EXPECT_EQ(c.egress.classes[1].packets, 10u);
  EXPECT_EQ(c.egress.classes[1].bytes, 10 * d.size());
  EXPECT_EQ(c.egress.classes[1].data_packets, 10u);
}

TEST_F(AttachTest, StaleFiltersAndPinsOfACrashedProcessAreRemoved) {
  std::string dir;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    RailMonitor monitor;
    FaultInjector injector;
    try {
      monitor.attach(ifindex);
      injector.attach(ifindex);
    } catch (...) {
      std::_Exit(1);
    }
    std::_Exit(monitor.pin_dir().empty() ? 2 : 0);  // no destructors: a crash
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  const uint32_t stale = tc_program(ifindex, BPF_TC_INGRESS);
  EXPECT_NE(stale, 0u) << "tc filters outlive their process";
  EXPECT_EQ(xdp_program(ifindex), 0u) << "the injector's bpf_link dies with its process";

  RailMonitor monitor;
  monitor.attach(ifindex);
  bool noted = false;
  for (const std::string& n : monitor.notes()) noted |= n.find("removed a stale rail monitor tc ingress") != n.npos;
  EXPECT_TRUE(noted);
  EXPECT_NE(tc_program(ifindex, BPF_TC_INGRESS), stale);
  monitor.detach();

  // The same through clean_stale(), as the daemon calls it at start.
  const pid_t again = fork();
  ASSERT_GE(again, 0);
  if (again == 0) {
    RailMonitor m;
    FaultInjector f;
    try {
      m.attach(ifindex);
      f.attach(ifindex);
    } catch (...) {
      std::_Exit(1);
    }
    std::_Exit(0);
  }
  ASSERT_EQ(waitpid(again, &status, 0), again);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const auto notes = clean_stale(root);
  EXPECT_GE(notes.size(), 3u);  // two filters and a pin directory
  EXPECT_EQ(tc_program(ifindex, BPF_TC_INGRESS), 0u);
  EXPECT_EQ(tc_program(ifindex, BPF_TC_EGRESS), 0u);
  size_t dirs = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(root)) ++dirs;
  EXPECT_EQ(dirs, 0u);
}

TEST_F(AttachTest, InjectorAttachesNativeAndDetaches) {
  FaultInjector injector;
  injector.attach(ifindex);
  EXPECT_EQ(injector.mode(), "native");
  EXPECT_NE(xdp_program(ifindex), 0u);
  EXPECT_TRUE(std::filesystem::exists(injector.pin_dir() + "/fi_config"));
  injector.set({.drop = 0.25, .only = FaultClass::kv});
  EXPECT_EQ(injector.settings(), (FaultSettings{.drop = 0.25, .only = FaultClass::kv}));

  // The pinned configuration map is the one the program reads.
  const int fd = bpf_obj_get((injector.pin_dir() + "/fi_config").c_str());
  ASSERT_GE(fd, 0);
  fi_config c{};
  const uint32_t key = 0;
  ASSERT_EQ(bpf_map_lookup_elem(fd, &key, &c), 0);
  ::close(fd);
  EXPECT_EQ(c.drop_threshold, probability_threshold(0.25));
  EXPECT_EQ(c.class_mask, FI_CLASS_KV);

  // Monitor and injector share the rail's pin directory.
  RailMonitor monitor;
  monitor.attach(ifindex);
  EXPECT_EQ(monitor.pin_dir(), injector.pin_dir());
  const std::string dir = injector.pin_dir();
  injector.detach();
  EXPECT_EQ(xdp_program(ifindex), 0u);
  EXPECT_TRUE(std::filesystem::exists(dir + "/rm_class_stats"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/fi_config"));
  monitor.detach();
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST_F(AttachTest, AnotherXdpProgramOnTheRailIsAClearError) {
  // A stand-in for DPDK's af_xdp program: "r0 = XDP_PASS; exit", attached through netlink.
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = XDP_PASS},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  const int prog = bpf_prog_load(BPF_PROG_TYPE_XDP, "xsk_def_prog", "GPL", insns, 2, nullptr);
  ASSERT_GE(prog, 0);
  ASSERT_EQ(bpf_xdp_attach(ifindex, prog, XDP_FLAGS_DRV_MODE, nullptr), 0);

  FaultInjector injector;
  try {
    injector.attach(ifindex);
    ADD_FAILURE() << "attach succeeded over another XDP program";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("xsk_def_prog"), what.npos) << what;
    EXPECT_NE(what.find("XDP is exclusive per interface"), what.npos) << what;
  }
  EXPECT_FALSE(injector.attached());
  EXPECT_TRUE(injector.pin_dir().empty());
  // The monitor (tc) coexists with it.
  RailMonitor monitor;
  EXPECT_NO_THROW(monitor.attach(ifindex));
  bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr);
  ::close(prog);
}

// railyardd.service grants CAP_BPF and CAP_NET_ADMIN, not CAP_SYS_ADMIN:
// without it programs cannot be looked up by id (so stale filters are
// recognised by handle/priority alone) and bpffs cannot be mounted.
TEST_F(AttachTest, WorksWithTheCapabilitiesOfTheSystemdUnit) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!drop_to_unit_capabilities()) std::_Exit(10);
    try {
      RailMonitor monitor;
      monitor.attach(ifindex);
      FaultInjector injector;
      injector.attach(ifindex);
      injector.set({.drop = 0.1});
      (void)monitor.counters();
      if (injector.counters().total().seen != 0 || monitor.failed_calls() + injector.failed_calls() != 0) std::_Exit(11);
      injector.detach();
      monitor.detach();
      // A crashed daemon's filters, recognised without program names.
      RailMonitor crashed;
      crashed.attach(ifindex);
      const uint32_t stale = tc_program(ifindex, BPF_TC_EGRESS);
      RailMonitor next;
      next.attach(ifindex);
      if (tc_program(ifindex, BPF_TC_EGRESS) == stale) std::_Exit(12);
      if (next.notes().empty()) std::_Exit(13);
      std::_Exit(0);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      std::_Exit(14);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child exit " << WEXITSTATUS(status);
}

TEST_F(AttachTest, UnknownInterfaceIsAClearError) {
  RailMonitor monitor;
  try {
    monitor.attach(999999);
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no interface with index 999999"), std::string::npos) << e.what();
  }
}

// Sets up private network and mount namespaces (with no bpffs mounted, so
// that the code under test mounts it). False with the reason when not possible.
bool private_namespaces(std::string& why) {
  if (::unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) {
    why = std::string("unshare(CLONE_NEWNET | CLONE_NEWNS): ") + std::strerror(errno);
    return false;
  }
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    why = std::string("making / private: ") + std::strerror(errno);
    return false;
  }
  while (on_bpffs("/sys/fs/bpf") && ::umount2("/sys/fs/bpf", MNT_DETACH) == 0) {
  }
  return std::system("ip link set lo up") == 0 || (why = "ip link set lo up failed", false);
}

}  // namespace
}  // namespace railyard::ebpf

int main(int argc, char** argv) {
  using namespace railyard::ebpf;
  ::testing::InitGoogleTest(&argc, argv);
  if (auto why = unavailable_reason()) {
    std::printf("SKIP: eBPF unavailable here: %s\n", why->c_str());
    return 77;
  }
  try {
    RailMonitor(BpfOptions{.pin_root = ""}).load();
    FaultInjector(BpfOptions{.pin_root = ""}).load();
  } catch (const std::exception& e) {
    std::printf("SKIP: the programs cannot be loaded here: %s\n", e.what());
    return 77;
  }
  g_private_namespaces = private_namespaces(g_why_no_namespaces);
  return RUN_ALL_TESTS();
}
