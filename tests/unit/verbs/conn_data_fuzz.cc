// libFuzzer target for the verbs connection-data decoder, which reads what a
// peer daemon sent: anything it accepts must re-encode to exactly the same
// bytes (one canonical form), and binding must never crash. Without
// -Dfuzz=true this builds with tests/fuzz/replay_main.cc and replays the
// seeds in tests/unit/verbs/corpus/conn/ (suite unit).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "drivers/nic/verbs/conn_data.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace railyard::verbs;
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  ConnectionData d;
  if (decode(in, d) != ConnError::ok) return 0;
  std::vector<std::byte> again;
  encode(d, again);
  if (again.size() != in.size() || !std::equal(again.begin(), again.end(), in.begin())) std::abort();
  (void)bind(d, ConnBinding{.local_node = d.receiver_node, .peer_node = d.sender_node, .rail = d.rail,
                            .connected_epoch = d.epoch});
  return 0;
}
