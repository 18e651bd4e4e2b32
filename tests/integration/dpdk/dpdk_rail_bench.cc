// dpdk_rail_bench PMD [SECONDS]: a measurement for the report, not a test.
// Run by hand as root: build-dpdk/tests/integration/dpdk/dpdk_rail_bench net_af_packet 3
//
// Creates two network namespaces and one veth pair per case (names with the
// pid, all removed on exit), then:
//  1. throughput, one way, MTU-sized datagrams as fast as tx_burst takes them:
//     DPDK->UDP, UDP->DPDK, UDP->UDP (kernel both ends; GSO off and on) and
//     DPDK->DPDK; frames/s sent and received, and the CPU-seconds of the
//     sending and the receiving thread (receivers sleep on wait_fd when idle);
//  2. idle: a process owning two DPDK rails (peers resolved, no traffic),
//     looping like the daemon's data plane (rx_burst, then ppoll on the wait
//     fds for at most 50 ms); the whole process's CPU (EAL threads included),
//     and the same with wait_fd off and a 1 ms poll instead.
// RY_VDEV_ARGS is appended to every vdev string (",busy_budget=0");
// RY_BENCH_DEBUG=1 prints the receiving DPDK rail's counters and xstats.
#include <linux/if_xdp.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "drivers/nic/dpdk/dpdk_env.h"
#include "drivers/nic/dpdk/dpdk_rail.h"
#include "drivers/nic/udp/udp_rail.h"
#include "tests/integration/netns_scope.h"

using namespace railyard::nic;
using railyard::test::InNamespace;
using Clock = std::chrono::steady_clock;

namespace {

std::string g_ns_a, g_ns_b;
std::string g_pmd;
int g_vdev = 0;
int g_pair = 0;
std::shared_ptr<DpdkEnv> g_env;

void sh(const std::string& command) {
  if (std::system(command.c_str()) != 0) {
    std::fprintf(stderr, "failed: %s\n", command.c_str());
    std::exit(1);
  }
}

void cleanup() {
  std::system(fmt::format("ip netns del {} 2>/dev/null; ip netns del {} 2>/dev/null", g_ns_a, g_ns_b).c_str());
}

double thread_cpu() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
double process_cpu() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Pair {
  std::string if_a, if_b, addr_a, addr_b;
};
/// A fresh veth pair; the kernel gets an address on each end that asks for one.
Pair new_pair(bool kernel_a, bool kernel_b) {
  ++g_pair;
  Pair p{fmt::format("rba{}x{}", ::getpid(), g_pair), fmt::format("rbb{}x{}", ::getpid(), g_pair),
         fmt::format("10.210.{}.1", g_pair), fmt::format("10.210.{}.2", g_pair)};
  sh(fmt::format("ip link add {} netns {} type veth peer name {} netns {}", p.if_a, g_ns_a, p.if_b, g_ns_b));
  if (kernel_a) sh(fmt::format("ip -n {} address add {}/24 dev {}", g_ns_a, p.addr_a, p.if_a));
  if (kernel_b) sh(fmt::format("ip -n {} address add {}/24 dev {}", g_ns_b, p.addr_b, p.if_b));
  sh(fmt::format("ip -n {} link set {} up && ip -n {} link set {} up", g_ns_a, p.if_a, g_ns_b, p.if_b));
  return p;
}

constexpr uint16_t kPort = 48100;

std::unique_ptr<Rail> dpdk_end(const std::string& ns, const std::string& iface, const std::string& addr,
                               const std::string& peer, bool wait_fd = true) {
  InNamespace in(ns);
  DpdkRailConfig c{.name = fmt::format("d{}", g_vdev),
                   .device = fmt::format("{}{},iface={}{}", g_pmd, g_vdev++, iface,
                                         std::getenv("RY_VDEV_ARGS") ? std::getenv("RY_VDEV_ARGS") : ""),
                   .address = addr,
                   .port = kPort,
                   .peers = {{.slot = 0, .address = peer, .port = kPort}},
                   .rx_wait_fd = wait_fd};
  return std::make_unique<DpdkRail>(g_env, c);
}
std::unique_ptr<Rail> udp_end(const std::string& ns, const std::string& iface, const std::string& addr,
                              const std::string& peer, bool gso = false) {
  InNamespace in(ns);
  return std::make_unique<UdpRail>(UdpRailConfig{.name = "u",
                                                 .interface = iface,
                                                 .address = addr,
                                                 .port = kPort,
                                                 .peers = {{.slot = 0, .address = peer, .port = kPort}},
                                                 .send_buffer = 4 << 20,
                                                 .receive_buffer = 8 << 20,
                                                 .gso = gso});
}

/// Both ends know each other (ARP done): a few datagrams each way.
void introduce(Rail& a, Rail& b) {
  const std::string hello(92, 'h');
  const TxFrame f{.header = std::as_bytes(std::span(hello.data(), hello.size())), .payload = {}, .peer = 0};
  std::array<RxFrame, 32> sink{};
  for (int i = 0; i < 300; ++i) {
    a.tx_burst(std::span(&f, 1));
    b.tx_burst(std::span(&f, 1));
    a.rx_burst(sink);
    b.rx_burst(sink);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  while (a.rx_burst(sink) > 0 || b.rx_burst(sink) > 0) {
  }
}

void throughput(const char* label, Rail& tx, Rail& rx, double seconds) {
  introduce(tx, rx);
  const size_t payload = tx.max_datagram() - 92;
  const std::string header(92, 'H'), data(payload, 'P');
  std::vector<TxFrame> frames(32, TxFrame{.header = std::as_bytes(std::span(header.data(), header.size())),
                                          .payload = std::as_bytes(std::span(data.data(), data.size())),
                                          .peer = 0});
  std::atomic<bool> sending{true};
  std::atomic<uint64_t> received{0};
  double rx_cpu = 0;
  std::thread receiver([&] {
    const double c0 = thread_cpu();
    std::array<RxFrame, 64> sink{};
    uint64_t n = 0;
    auto quiet_since = Clock::now();
    while (true) {
      const size_t got = rx.rx_burst(sink);
      n += got;
      if (got > 0) {
        quiet_since = Clock::now();
        continue;
      }
      if (!sending.load() && Clock::now() - quiet_since > std::chrono::milliseconds(200)) break;
      if (rx.wait_fd() >= 0) {
        pollfd p{.fd = rx.wait_fd(), .events = POLLIN, .revents = 0};
        ::poll(&p, 1, 1);
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
    received = n;
    rx_cpu = thread_cpu() - c0;
  });
  const double c0 = thread_cpu();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  uint64_t sent = 0;
  std::array<RxFrame, 32> sink{};
  while (Clock::now() < end) {
    const size_t n = tx.tx_burst(frames);
    sent += n;
    if (n == 0) {
      tx.rx_burst(sink);  // housekeeping (ARP), as the data plane does every loop
      ::sched_yield();
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double tx_cpu = thread_cpu() - c0;
  sending = false;
  receiver.join();
  const double frame_bytes = static_cast<double>(payload + 92);
  if (auto* d = dynamic_cast<DpdkRail*>(&rx); d != nullptr && std::getenv("RY_BENCH_DEBUG") != nullptr) {
    const auto s = d->stats();
    const auto c = d->counters();
    std::printf("  rx: frames %lu errors %lu imissed %lu ierrors %lu nombuf %lu malformed %lu other %lu\n",
                (unsigned long)c.rx_frames, (unsigned long)c.rx_errors, (unsigned long)s.port_imissed,
                (unsigned long)s.port_ierrors, (unsigned long)s.port_rx_nombuf, (unsigned long)s.rx_malformed,
                (unsigned long)s.rx_other);
    for (const auto& x : d->xstats()) if (x.value) std::printf("    %s %lu\n", x.name.c_str(), (unsigned long)x.value);
    if (d->pmd() == "net_af_xdp" && d->wait_fd() >= 0) {
      // The XDP socket's own counters (the PMD reports only rx_dropped).
      xdp_statistics x{};
      socklen_t length = sizeof x;
      if (::getsockopt(d->wait_fd(), SOL_XDP, XDP_STATISTICS, &x, &length) == 0) {
        std::printf("    xsk: rx_dropped %llu rx_invalid_descs %llu rx_ring_full %llu rx_fill_ring_empty_descs %llu\n",
                    (unsigned long long)x.rx_dropped, (unsigned long long)x.rx_invalid_descs,
                    (unsigned long long)x.rx_ring_full, (unsigned long long)x.rx_fill_ring_empty_descs);
      }
    }
  }
  std::printf("%-22s %11.0f %11.0f %7.2f %8.2f %8.2f %12.0f %10.2f\n", label, sent / elapsed, received / elapsed,
              sent ? 100.0 * (1.0 - static_cast<double>(received) / static_cast<double>(sent)) : 0.0, tx_cpu, rx_cpu,
              received / (tx_cpu + rx_cpu), received * frame_bytes * 8 / elapsed / 1e9);
}

void idle(bool wait_fd, double seconds) {
  const Pair p1 = new_pair(false, true), p2 = new_pair(false, true);
  std::vector<std::unique_ptr<Rail>> rails, peers;
  rails.push_back(dpdk_end(g_ns_a, p1.if_a, p1.addr_a, p1.addr_b, wait_fd));
  rails.push_back(dpdk_end(g_ns_a, p2.if_a, p2.addr_a, p2.addr_b, wait_fd));
  peers.push_back(udp_end(g_ns_b, p1.if_b, p1.addr_b, p1.addr_a));
  peers.push_back(udp_end(g_ns_b, p2.if_b, p2.addr_b, p2.addr_a));
  introduce(*rails[0], *peers[0]);
  introduce(*rails[1], *peers[1]);
  std::array<RxFrame, 32> sink{};
  const double c0 = process_cpu();
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  uint64_t loops = 0;
  while (Clock::now() < end) {
    ++loops;
    bool any = false;
    for (auto& r : rails) any |= r->rx_burst(sink) > 0;
    if (any) continue;
    std::array<pollfd, 2> fds{};
    nfds_t n = 0;
    for (auto& r : rails) {
      if (r->wait_fd() >= 0) fds[n++] = pollfd{.fd = r->wait_fd(), .events = POLLIN, .revents = 0};
    }
    // The daemon sleeps until its next timer, at most 50 ms; a rail without a
    // wait fd forces a short poll instead.
    const int timeout_ms = n == rails.size() ? 50 : 1;
    ::poll(fds.data(), n, timeout_ms);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = process_cpu() - c0;
  std::printf("idle, 2 %s rails, %-24s %6.2f %% of a core (%.0f loops/s)\n", g_pmd.c_str(),
              wait_fd ? "sleeping on wait_fd:" : "polling every 1 ms:", 100.0 * cpu / elapsed, loops / elapsed);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s net_af_packet|net_af_xdp [SECONDS]\n", argv[0]);
    return 2;
  }
  g_pmd = argv[1];
  const double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  g_ns_a = fmt::format("ry-bench-a-{}", ::getpid());
  g_ns_b = fmt::format("ry-bench-b-{}", ::getpid());
  std::atexit(cleanup);
  std::signal(SIGINT, [](int) { std::exit(130); });
  std::signal(SIGTERM, [](int) { std::exit(143); });
  sh(fmt::format("ip netns add {} && ip netns add {}", g_ns_a, g_ns_b));
  for (const auto& ns : {g_ns_a, g_ns_b}) {
    sh(fmt::format("ip netns exec {} sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1", ns));
  }
  {
    InNamespace in(g_ns_a);
    g_env = DpdkEnv::start(DpdkEnvConfig{.cores = "0",
                                         .memory_mb = 1024,
                                         .no_huge = true,
                                         .file_prefix = fmt::format("ry-bench-{}", ::getpid()),
                                         .no_pci = true,
                                         .log_level = "error"});
  }
  std::printf("%-22s %11s %11s %7s %8s %8s %12s %10s\n", "one way, MTU frames", "sent/s", "recv/s", "loss %",
              "tx cpu s", "rx cpu s", "recv/cpu-s", "Gbit/s");
  {
    const Pair p = new_pair(false, true);
    auto d = dpdk_end(g_ns_a, p.if_a, p.addr_a, p.addr_b);
    auto u = udp_end(g_ns_b, p.if_b, p.addr_b, p.addr_a);
    throughput(fmt::format("{}->udp", g_pmd.substr(4)).c_str(), *d, *u, seconds);
    throughput(fmt::format("udp->{}", g_pmd.substr(4)).c_str(), *u, *d, seconds);
  }
  for (const bool gso : {false, true}) {
    const Pair p = new_pair(true, true);
    auto a = udp_end(g_ns_a, p.if_a, p.addr_a, p.addr_b, gso);
    auto b = udp_end(g_ns_b, p.if_b, p.addr_b, p.addr_a, gso);
    throughput(gso ? "udp->udp (gso)" : "udp->udp (no gso)", *a, *b, seconds);
  }
  {
    const Pair p = new_pair(false, false);
    auto a = dpdk_end(g_ns_a, p.if_a, p.addr_a, p.addr_b);
    auto b = dpdk_end(g_ns_b, p.if_b, p.addr_b, p.addr_a);
    throughput(fmt::format("{}->{}", g_pmd.substr(4), g_pmd.substr(4)).c_str(), *a, *b, seconds);
  }
  idle(true, seconds);
  idle(false, seconds);
  return 0;
}
