// librailyard misuse against a running railyardd: each mistake must come back
// as its documented error, and the connection must stay usable.
//   workload_misuse WORKLOAD_SOCKET PEER
#include <cstdio>
#include <string>

#include "client/workload.h"

using railyard::Error;

static int passed = 0, failed = 0;

template <class T>
static void expect(const char* what, const railyard::Result<T>& r, Error want) {
  if (r.error() == want) {
    std::printf("ok   - %s: %s (%s)\n", what, railyard::error_name(want), r.message().c_str());
    ++passed;
  } else {
    std::printf("FAIL - %s: got %s (%s), want %s\n", what, railyard::error_name(r.error()), r.message().c_str(),
                railyard::error_name(want));
    ++failed;
  }
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: workload_misuse WORKLOAD_SOCKET PEER\n");
    return 2;
  }
  const std::string socket = argv[1], peer = argv[2];
  expect("connect to a socket nobody serves", railyard::Workload::connect(socket + ".absent", "misuse"),
         Error::daemon_gone);
  auto w = railyard::Workload::connect(socket, "misuse");
  expect("connect", w, Error::none);
  if (!w) return 1;
  auto& wl = w.value();
  auto region = wl.register_region(4096, 0, "misuse");
  expect("register a region", region, Error::none);
  if (!region) return 1;
  const uint32_t id = region.value().id;
  expect("register the same region id again", wl.register_region(4096, id, "again"), Error::region_in_use);
  expect("register region id 4000 (out of range)", wl.register_region(4096, 4000, "big-id"), Error::bad_request);
  expect("post to an unknown peer",
         wl.post({.local_region = id, .length = 16, .peer = "no-such-host", .remote_region = 7}), Error::unknown_peer);
  expect("post from a region nobody registered",
         wl.post({.local_region = 200, .length = 16, .peer = peer, .remote_region = 7}), Error::unknown_region);
  expect("post a range past the region's end",
         wl.post({.local_region = id, .local_offset = 4000, .length = 200, .peer = peer, .remote_region = 7}),
         Error::out_of_range);
  expect("post with an offset that overflows",
         wl.post({.local_region = id, .local_offset = ~0ull, .length = 2, .peer = peer, .remote_region = 7}),
         Error::out_of_range);
  expect("post to remote region 0", wl.post({.local_region = id, .length = 16, .peer = peer, .remote_region = 0}),
         Error::bad_request);
  expect("deregister a region that is not ours", wl.deregister_region(201), Error::unknown_region);
  expect("deregister our region", wl.deregister_region(id), Error::none);
  expect("post from the deregistered region",
         wl.post({.local_region = id, .length = 16, .peer = peer, .remote_region = 7}), Error::unknown_region);
  expect("register a zero-length region", wl.register_region(0), Error::bad_request);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
