#pragma once
// Redfish document -> sensor readings. Pure: the HTTP client fetches the
// documents Discovery names and hands each one here.
//
// Handled (legacy and current schemas):
//   Sensor, Thermal (Temperatures, Fans), Power (PowerControl, Voltages,
//   PowerSupplies), ThermalMetrics, EnvironmentMetrics, Fan, Pump,
//   CoolantConnector, LeakDetector, LeakDetection, PowerSupply,
//   PowerSupplyMetrics, Control (power limits), CoolingUnit, CoolingLoop,
//   and any of their collections returned with $expand.
// Nothing here throws on bad input: every problem is counted in the result.

#include <boost/json/value.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "drivers/bmc/redfish/reading.h"
#include "drivers/bmc/redfish/resource.h"

namespace railyard::redfish {

struct ExtractContext {
  /// Chassis the readings belong to; derived from the URI when empty.
  std::string chassis_id;
  /// When the document was read (stamped on every reading).
  TimePoint read_at{};
  /// What Discovery expects this document to be; used only when the
  /// document has no usable @odata.type.
  ResourceKind hint = ResourceKind::unknown;
};

struct ExtractResult {
  ResourceKind kind = ResourceKind::unknown;
  std::vector<Reading> readings;
  Problems problems;
};

/// `uri` is the URI the document was fetched at: it is the identity of the
/// readings (a document whose @odata.id disagrees is counted as id_mismatch
/// but still read under `uri`).
ExtractResult extract(std::string_view uri, std::string_view json_text,
                      const ExtractContext& context);
/// Same, for a document the caller already parsed.
ExtractResult extract_parsed(std::string_view uri, const boost::json::value& document,
                             const ExtractContext& context);

/// Combines the readings of every document of one sweep:
///  - an excerpt (data_source_uri set) whose Sensor was read in the sweep is
///    dropped; if the excerpt knew more about what the value is (a
///    CoolantConnector's SupplyTemperatureCelsius vs. a bare Temperature
///    Sensor, a Fan's SpeedPercent vs. a Percent Sensor) the Sensor reading
///    takes that kind and keeps its own value, thresholds and status;
///  - excerpts of a Sensor that was not read are kept, except that copies
///    with the same data_source_uri, kind and value collapse into one;
///  - the result is ordered by id.
std::vector<Reading> merge_sweep(std::vector<Reading> readings);

}  // namespace railyard::redfish
