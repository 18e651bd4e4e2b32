// policy_workload SOCKET NAME: a workload on librailyard that obeys the
// policy. It connects to railyardd's workload socket, then for every
// ThrottleCommand prints one line
//   command ID level N NAME drain 0|1 unix_ms T reason ...
// (flushed at once, so a test can follow the file) and acknowledges it. It
// runs until SIGTERM/SIGINT or until the daemon goes away (exit 1 then).
#include <poll.h>

#include <csignal>
#include <chrono>
#include <cstdio>
#include <string>

#include "client/workload.h"

namespace {
volatile std::sig_atomic_t stop_requested = 0;
void on_signal(int) { stop_requested = 1; }

long long unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: policy_workload SOCKET NAME\n");
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  auto connected = railyard::Workload::connect(argv[1], argv[2]);
  if (!connected) {
    std::fprintf(stderr, "policy_workload: cannot connect to %s: %s\n", argv[1], connected.message().c_str());
    return 1;
  }
  railyard::Workload& workload = connected.value();
  std::printf("connected to %s as %s\n", argv[1], argv[2]);
  std::fflush(stdout);
  while (!stop_requested) {
    while (auto c = workload.next_command()) {
      std::printf("command %llu level %u %s drain %d unix_ms %lld reason %s\n",
                  static_cast<unsigned long long>(c->command_id), c->level, c->level_name.c_str(), c->drain ? 1 : 0,
                  unix_ms(), c->reason.c_str());
      std::fflush(stdout);
      if (auto acked = workload.ack(c->command_id); !acked) {
        std::fprintf(stderr, "policy_workload: ack of command %llu failed: %s\n",
                     static_cast<unsigned long long>(c->command_id), acked.message().c_str());
        return 1;
      }
    }
    if (!workload.connected()) {
      std::fprintf(stderr, "policy_workload: railyardd at %s went away\n", argv[1]);
      return 1;
    }
    pollfd p{.fd = workload.event_fd(), .events = POLLIN, .revents = 0};
    ::poll(&p, 1, 200);
  }
  return 0;
}
