// udp_rail_bench NS_A IF_A ADDR_A NS_B IF_B ADDR_B [SECONDS]: B sends
// MTU-sized frames to A as fast as tx_burst takes them, with UDP GSO off and
// then on; prints frames/s sent and received and the sender's CPU per frame.
// A measurement for the report, not a test (run by hand in two namespaces).
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "drivers/nic/udp/udp_rail.h"

using namespace railyard::nic;
using Clock = std::chrono::steady_clock;

namespace {

void enter(const std::string& ns) {
  const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
    std::perror(ns.c_str());
    std::exit(1);
  }
  ::close(fd);
}

double thread_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: %s NS_A IF_A ADDR_A NS_B IF_B ADDR_B [SECONDS]\n", argv[0]);
    return 2;
  }
  const std::string ns_a = argv[1], if_a = argv[2], addr_a = argv[3], ns_b = argv[4], if_b = argv[5], addr_b = argv[6];
  const double seconds = argc > 7 ? std::atof(argv[7]) : 2.0;
  std::printf("%-8s %12s %12s %10s %14s %12s\n", "gso", "sent/s", "recv/s", "loss %", "tx cpu ns/fr", "syscalls/fr");
  for (const bool gso : {false, true}) {
    std::atomic<bool> receiving{true};
    std::atomic<uint64_t> received{0};
    std::atomic<bool> ready{false};
    std::thread receiver([&] {
      enter(ns_a);
      UdpRail a(UdpRailConfig{.name = "A", .interface = if_a, .address = addr_a, .port = 48001,
                              .peers = {{.slot = 0, .address = addr_b, .port = 48002}},
                              .receive_buffer = 8 << 20, .burst = 64});
      ready = true;
      std::array<RxFrame, 64> frames{};
      auto idle_since = Clock::now();
      while (receiving || Clock::now() - idle_since < std::chrono::milliseconds(200)) {
        const size_t n = a.rx_burst(frames);
        if (n == 0) {
          pollfd p{.fd = a.wait_fd(), .events = POLLIN, .revents = 0};
          ::poll(&p, 1, 20);
          continue;
        }
        idle_since = Clock::now();
        received += n;
      }
    });
    while (!ready) std::this_thread::yield();
    std::thread sender([&] {
      enter(ns_b);
      UdpRail b(UdpRailConfig{.name = "B", .interface = if_b, .address = addr_b, .port = 48002,
                              .peers = {{.slot = 0, .address = addr_a, .port = 48001}},
                              .send_buffer = 4 << 20, .burst = 32, .gso = gso});
      std::vector<std::byte> header(32), payload(b.max_datagram() - 32);
      std::vector<TxFrame> frames(32, TxFrame{header, payload, 0});
      const double cpu0 = thread_cpu_seconds();
      const auto start = Clock::now();
      const auto end = start + std::chrono::duration<double>(seconds);
      uint64_t sent = 0;
      while (Clock::now() < end) {
        const size_t n = b.tx_burst(frames);
        sent += n;
        if (n == 0) {
          pollfd p{.fd = b.wait_fd(), .events = POLLOUT, .revents = 0};
          ::poll(&p, 1, 5);
        }
      }
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const double cpu = thread_cpu_seconds() - cpu0;
      receiving = false;
      receiver.join();
      std::printf("%-8s %12.0f %12.0f %10.2f %14.0f %12.3f\n", gso ? "on" : "off", sent / elapsed,
                  received / elapsed, 100.0 * (1.0 - double(received) / double(sent)), cpu * 1e9 / double(sent),
                  double(b.stats().tx_syscalls) / double(sent));
    });
    sender.join();
  }
}
