#pragma once
// What is shared by discovery and extraction: the kinds of Redfish resources
// we read, URI handling, and the problem counters the client logs once per
// episode.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace railyard::redfish {

enum class ResourceKind : std::uint8_t {
  unknown,
  service_root,
  chassis_collection,
  chassis,
  power,    ///< legacy Power
  thermal,  ///< legacy Thermal
  power_subsystem,
  power_supply_collection,
  power_supply,
  power_supply_metrics,
  thermal_subsystem,
  thermal_metrics,
  fan_collection,
  fan,
  pump_collection,
  pump,
  coolant_connector_collection,
  coolant_connector,
  leak_detection,
  leak_detector_collection,
  leak_detector,
  environment_metrics,
  sensor_collection,
  sensor,
  control_collection,
  control,
  thermal_equipment,
  cooling_unit_collection,  ///< CDUs, ImmersionUnits, HeatExchangers
  cooling_unit,
  cooling_loop_collection,
  cooling_loop,
  event_service,
  computer_system_collection,
  computer_system,
  processor_collection,
  processor,
  memory_collection,
  memory,
};
inline constexpr std::size_t kResourceKindCount =
    static_cast<std::size_t>(ResourceKind::memory) + 1;

std::string_view to_string(ResourceKind kind);

/// "#Sensor.v1_12_0.Sensor" -> sensor; unknown for types we do not read.
ResourceKind kind_from_odata_type(std::string_view odata_type);
/// "#Sensor.v1_12_0.Sensor" -> "Sensor"; "" when not of that shape.
std::string_view type_name(std::string_view odata_type);
/// "#Sensor.v1_12_0.Sensor" -> "v1_12_0"; "" for unversioned (collections).
std::string_view type_version(std::string_view odata_type);

bool is_collection(ResourceKind kind);
/// The kind of a collection's members (sensor_collection -> sensor).
ResourceKind member_kind(ResourceKind collection);

/// A URI as a fetch key: no fragment, no trailing '/' (except "/").
std::string normalise_uri(std::string_view uri);
/// True for service-relative URIs ("/redfish/v1/..."). Absolute URLs (a PDU
/// outlet on another host) and anything else are never followed.
bool is_service_uri(std::string_view uri);
/// "/redfish/v1/Chassis/1U/Sensors/X" -> "1U"; "" outside /Chassis/.
std::string chassis_from_uri(std::string_view uri);
/// Last path segment of a URI, without fragment or trailing '/'.
std::string last_segment(std::string_view uri);

enum class ProblemKind : std::uint8_t {
  malformed_json,    ///< not JSON, truncated, too deep
  missing_property,  ///< a property the resource needs is absent
  wrong_type,        ///< a property of the wrong JSON type
  unit_mismatch,     ///< ReadingUnits contradicts ReadingType
  id_mismatch,       ///< @odata.id differs from the URI it was fetched at
};
inline constexpr std::size_t kProblemKindCount =
    static_cast<std::size_t>(ProblemKind::id_mismatch) + 1;
std::string_view to_string(ProblemKind kind);

struct Problem {
  ProblemKind kind;
  std::string uri;     ///< document
  std::string where;   ///< JSON pointer inside it ("/Thresholds/UpperCaution/Reading")
  std::string detail;  ///< what was wrong, for the log
};

/// Counters per kind plus the first few problems in detail: enough for the
/// client to log one line per episode without the list growing with a
/// hostile document.
class Problems {
 public:
  static constexpr std::size_t kMaxDetails = 32;

  void add(ProblemKind kind, std::string_view uri, std::string_view where,
           std::string_view detail);
  void merge(const Problems& other);

  std::uint64_t count(ProblemKind kind) const { return counts_[static_cast<std::size_t>(kind)]; }
  std::uint64_t total() const;
  bool empty() const { return total() == 0; }
  const std::vector<Problem>& details() const { return details_; }
  /// "malformed_json=1 unit_mismatch=2", for a log line.
  std::string summary() const;

 private:
  std::array<std::uint64_t, kProblemKindCount> counts_{};
  std::vector<Problem> details_;
};

}  // namespace railyard::redfish
