// What a peer controls on a verbs host: the ids of its transfer
// announcements (peer channel) and of the IMMs its RDMA WRITEs land with, in
// any order, any number of times. The input is a list of operations:
//   0x00 id(4 bytes)  announce id     0x01 id(4 bytes)  a landing of id
//   0x02              a new session
// Nothing may crash, no transfer may be delivered twice in one session, and
// the matcher never holds more than its capacity.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "fabric/landing_match.h"

using namespace railyard::fabric;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr size_t kCapacity = 64;
  LandingMatch m(kCapacity);
  std::unordered_set<uint32_t> delivered;  // this session
  LandingDescriptor ready;
  size_t at = 0;
  while (at < size) {
    const uint8_t op = data[at++] % 3;
    if (op == 2) {
      m.reset();
      delivered.clear();
      continue;
    }
    if (at + 4 > size) break;
    uint32_t id;
    std::memcpy(&id, data + at, 4);
    at += 4;
    const bool deliver = op == 0 ? m.announce(LandingDescriptor{.id = id}, ready) == Announce::deliver
                                 : m.land(id, ready) == Landing::deliver;
    if (deliver && !delivered.insert(ready.id).second) std::abort();  // delivered twice
    if (m.waiting() > kCapacity || m.early() > kCapacity) std::abort();
  }
  return 0;
}
