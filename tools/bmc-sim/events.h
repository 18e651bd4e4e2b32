#pragma once
// Redfish events from what the scenario does: a leak detector changing state
// (Environmental registry LeakDetected*) and a reading crossing one of its
// thresholds (SensorEvent registry). Pure: samples in, event records out.

#include <boost/json/object.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tools/bmc-sim/source.h"

namespace railyard::bmcsim {

class EventMonitor {
 public:
  /// Compares with the previous samples and returns one EventRecord per
  /// change. The first call only records where everything starts.
  std::vector<boost::json::object> update(const Samples& samples, std::string_view timestamp);

 private:
  bool primed_ = false;
  std::map<std::string, int> bands_;
  std::map<std::string, std::string> leaks_;
};

/// The Redfish Event (JSON text) carrying `records`, with Id `id`.
std::string event_payload(std::uint64_t id, std::vector<boost::json::object> records);

/// "2026-11-23T07:57:14Z" for a wall-clock time.
std::string iso8601_now();

}  // namespace railyard::bmcsim
