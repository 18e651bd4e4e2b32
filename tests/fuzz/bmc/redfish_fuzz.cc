// Bytes from a BMC -> every Redfish parser: extraction under every resource
// kind, discovery fed the same document at every URI it asks for, merging,
// Event payloads and the SSE stream parser in chunks. Nothing may crash,
// throw, or produce a reading without identity or with a non-finite value.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "drivers/bmc/redfish/discovery.h"
#include "drivers/bmc/redfish/extract.h"
#include "drivers/bmc/redfish/json_reader.h"
#include "drivers/bmc/redfish/sse.h"

namespace rf = railyard::redfish;

namespace {

void check(const std::vector<rf::Reading>& readings) {
  for (const auto& r : readings) {
    if (r.id.empty() || r.source_uri.empty()) std::abort();
    if (r.value && !std::isfinite(*r.value)) std::abort();
  }
}

void check(const rf::Problems& problems) {
  if (problems.details().size() > rf::Problems::kMaxDetails) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kUri = "/redfish/v1/Chassis/1/Resource";

  // The text path, as the client calls it (@odata.type decides).
  auto direct = rf::extract(kUri, text, {});
  check(direct.readings);
  check(direct.problems);

  rf::Problems problems;
  if (auto doc = rf::parse_json(text, kUri, problems)) {
    // The same document read as every kind of resource.
    std::vector<rf::Reading> all;
    for (std::size_t k = 0; k < rf::kResourceKindCount; ++k) {
      auto res = rf::extract_parsed(kUri, *doc,
                                    {.chassis_id = {}, .read_at = {},
                                     .hint = static_cast<rf::ResourceKind>(k)});
      check(res.readings);
      check(res.problems);
      for (auto& r : res.readings) all.push_back(std::move(r));
    }
    check(rf::merge_sweep(std::move(all)));

    // Discovery fed this document for whatever it asks, a bounded number of times.
    rf::Discovery discovery({.max_resources = 64});
    auto queue = discovery.start_parsed(*doc);
    for (std::size_t i = 0; i < queue.size() && i < 64; ++i) {
      auto more = discovery.on_parsed(queue[i].uri, *doc);
      queue.insert(queue.end(), more.begin(), more.end());
    }
    (void)discovery.poll_targets();
    (void)discovery.expand().query();
  }

  if (auto event = rf::parse_event(text, problems)) (void)rf::actions_for(*event);
  check(problems);

  // The stream parser, in chunks whose size the first byte picks.
  rf::SseParser sse(4096);
  std::vector<rf::SseEvent> events;
  const std::size_t chunk = size > 0 ? (data[0] % 13) + 1 : 1;
  for (std::size_t i = 0; i < text.size(); i += chunk) sse.feed(text.substr(i, chunk), events);
  for (const auto& e : events) {
    if (e.data.size() > 4096) std::abort();
  }
  return 0;
}
