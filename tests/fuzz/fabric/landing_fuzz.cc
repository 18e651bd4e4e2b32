// What a peer controls on a verbs host: the transfer ids of its
// announcements (peer channel) and the IMMs its RDMA WRITEs land with, in any
// order, any number of times. The input is a list of operations:
//   0x00 transfer id (8 bytes)  announce it     0x01 imm (4 bytes)  a landing
//   0x02                        a new session   0x03 transfer id (8 bytes)  withdraw it
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
  std::unordered_set<uint64_t> delivered;  // transfer ids, this session
  LandingDescriptor ready;
  size_t at = 0;
  while (at < size) {
    const uint8_t op = data[at++] % 4;
    if (op == 2) {
      m.reset();
      delivered.clear();
      continue;
    }
    bool deliver = false;
    if (op == 0 || op == 3) {
      if (at + 8 > size) break;
      uint64_t transfer_id;
      std::memcpy(&transfer_id, data + at, 8);
      at += 8;
      if (op == 3) {
        m.withdraw(transfer_id);
        continue;
      }
      deliver = m.announce(LandingDescriptor{.transfer_id = transfer_id}, ready) == Announce::deliver;
    } else {
      if (at + 4 > size) break;
      uint32_t imm;
      std::memcpy(&imm, data + at, 4);
      at += 4;
      deliver = m.land(imm, ready) == Landing::deliver;
    }
    if (deliver && !delivered.insert(ready.transfer_id).second) std::abort();  // delivered twice
    if (m.waiting() > kCapacity || m.early() > kCapacity) std::abort();
  }
  return 0;
}
