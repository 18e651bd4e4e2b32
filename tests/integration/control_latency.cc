// Measures railctl-style status round trips on a control socket while K
// "stalled" watch subscribers (they ask for updates every 50 ms and never
// read) are connected, and prints {"p50_us":..,"p99_us":..,"max_us":..}.
//   control_latency SOCKET CALLS STALLED_WATCHERS
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "client/control_client.h"
#include "client/framing.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: control_latency SOCKET CALLS STALLED_WATCHERS\n");
    return 2;
  }
  const std::string path = argv[1];
  const int calls = std::stoi(argv[2]), stalled = std::stoi(argv[3]);
  std::vector<int> watchers;
  for (int i = 0; i < stalled; ++i) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    int small = 4096;  // a tiny receive buffer fills at once
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::perror("connect");
      return 1;
    }
    railyard::v1::Request request;
    request.set_protocol_version(railyard::v1::PROTOCOL_VERSION_CURRENT);
    request.mutable_watch()->set_interval_ms(50);
    const std::string frame = railyard::framing::encode(request);
    if (::write(fd, frame.data(), frame.size()) != static_cast<ssize_t>(frame.size())) return 1;
    watchers.push_back(fd);  // never read
  }
  if (stalled > 0) ::usleep(2'000'000);  // let their buffers fill and the daemon start skipping
  std::vector<double> us;
  for (int i = 0; i < calls; ++i) {
    auto client = railyard::client::ControlClient::connect(path, std::chrono::seconds(5));
    railyard::v1::Request request;
    request.mutable_status();
    const auto start = std::chrono::steady_clock::now();
    client.call(request);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    ::usleep(10'000);
  }
  std::sort(us.begin(), us.end());
  std::printf("{\"p50_us\":%.0f,\"p99_us\":%.0f,\"max_us\":%.0f}\n", us[us.size() / 2], us[us.size() * 99 / 100],
              us.back());
  for (int fd : watchers) ::close(fd);
  return 0;
}
