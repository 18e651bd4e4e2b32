// libFuzzer target: parse_link_messages, the part of LinkMonitor that reads
// what arrives on the rtnetlink socket. Seeds in corpus/netlink/ are real
// RTM_NEWLINK/RTM_DELLINK messages (a dump and veth up/down/delete
// notifications) captured from a kernel.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "drivers/nic/link_monitor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto input = std::as_bytes(std::span(data, size));
  std::vector<railyard::nic::LinkUpdate> updates;
  const auto result = railyard::nic::parse_link_messages(input, updates);
  // Invariants: every update is well-formed and its name lies inside the input.
  for (const auto& u : updates) {
    if (u.ifindex <= 0 || u.name.size() >= 16) std::abort();
    if (!u.name.empty()) {
      const auto* first = reinterpret_cast<const uint8_t*>(u.name.data());
      if (first < data || first + u.name.size() > data + size) std::abort();
    }
    if (u.deleted && u.state != railyard::nic::LinkState::down) std::abort();
  }
  if (updates.size() > result.messages) std::abort();
  if ((result.messages + result.malformed) * 16 > size + 16) std::abort();  // each costs at least a header
  return 0;
}
