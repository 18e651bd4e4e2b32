#include "drivers/bmc/redfish/resource.h"

#include <fmt/format.h>

#include <utility>

namespace railyard::redfish {
namespace {

constexpr std::array<std::string_view, kResourceKindCount> kKindNames{
    "unknown",
    "service_root",
    "chassis_collection",
    "chassis",
    "power",
    "thermal",
    "power_subsystem",
    "power_supply_collection",
    "power_supply",
    "power_supply_metrics",
    "thermal_subsystem",
    "thermal_metrics",
    "fan_collection",
    "fan",
    "pump_collection",
    "pump",
    "coolant_connector_collection",
    "coolant_connector",
    "leak_detection",
    "leak_detector_collection",
    "leak_detector",
    "environment_metrics",
    "sensor_collection",
    "sensor",
    "control_collection",
    "control",
    "thermal_equipment",
    "cooling_unit_collection",
    "cooling_unit",
    "cooling_loop_collection",
    "cooling_loop",
    "event_service",
    "computer_system_collection",
    "computer_system",
    "processor_collection",
    "processor",
    "memory_collection",
    "memory",
};

// Schema names as they appear in @odata.type.
constexpr std::array<std::pair<std::string_view, ResourceKind>, 37> kTypes{{
    {"ServiceRoot", ResourceKind::service_root},
    {"ChassisCollection", ResourceKind::chassis_collection},
    {"Chassis", ResourceKind::chassis},
    {"Power", ResourceKind::power},
    {"Thermal", ResourceKind::thermal},
    {"PowerSubsystem", ResourceKind::power_subsystem},
    {"PowerSupplyCollection", ResourceKind::power_supply_collection},
    {"PowerSupply", ResourceKind::power_supply},
    {"PowerSupplyMetrics", ResourceKind::power_supply_metrics},
    {"ThermalSubsystem", ResourceKind::thermal_subsystem},
    {"ThermalMetrics", ResourceKind::thermal_metrics},
    {"FanCollection", ResourceKind::fan_collection},
    {"Fan", ResourceKind::fan},
    {"PumpCollection", ResourceKind::pump_collection},
    {"Pump", ResourceKind::pump},
    {"CoolantConnectorCollection", ResourceKind::coolant_connector_collection},
    {"CoolantConnector", ResourceKind::coolant_connector},
    {"LeakDetection", ResourceKind::leak_detection},
    {"LeakDetectorCollection", ResourceKind::leak_detector_collection},
    {"LeakDetector", ResourceKind::leak_detector},
    {"EnvironmentMetrics", ResourceKind::environment_metrics},
    {"SensorCollection", ResourceKind::sensor_collection},
    {"Sensor", ResourceKind::sensor},
    {"ControlCollection", ResourceKind::control_collection},
    {"Control", ResourceKind::control},
    {"ThermalEquipment", ResourceKind::thermal_equipment},
    {"CoolingUnitCollection", ResourceKind::cooling_unit_collection},
    {"CoolingUnit", ResourceKind::cooling_unit},
    {"CoolingLoopCollection", ResourceKind::cooling_loop_collection},
    {"CoolingLoop", ResourceKind::cooling_loop},
    {"EventService", ResourceKind::event_service},
    {"ComputerSystemCollection", ResourceKind::computer_system_collection},
    {"ComputerSystem", ResourceKind::computer_system},
    {"ProcessorCollection", ResourceKind::processor_collection},
    {"Processor", ResourceKind::processor},
    {"MemoryCollection", ResourceKind::memory_collection},
    {"Memory", ResourceKind::memory},
}};

constexpr std::array<std::string_view, kProblemKindCount> kProblemNames{
    "malformed_json", "missing_property", "wrong_type", "unit_mismatch", "id_mismatch"};

std::string_view strip_fragment(std::string_view uri) {
  const auto hash = uri.find('#');
  return hash == std::string_view::npos ? uri : uri.substr(0, hash);
}

}  // namespace

std::string_view to_string(ResourceKind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < kKindNames.size() ? kKindNames[i] : "unknown";
}

std::string_view type_name(std::string_view odata_type) {
  if (odata_type.empty() || odata_type.front() != '#') return {};
  odata_type.remove_prefix(1);
  return odata_type.substr(0, odata_type.find('.'));
}

std::string_view type_version(std::string_view odata_type) {
  const auto first = odata_type.find('.');
  if (first == std::string_view::npos) return {};
  const auto second = odata_type.find('.', first + 1);
  if (second == std::string_view::npos) return {};
  auto version = odata_type.substr(first + 1, second - first - 1);
  return version.starts_with('v') ? version : std::string_view{};
}

ResourceKind kind_from_odata_type(std::string_view odata_type) {
  const auto name = type_name(odata_type);
  for (const auto& [n, kind] : kTypes) {
    if (n == name) return kind;
  }
  return ResourceKind::unknown;
}

bool is_collection(ResourceKind kind) { return member_kind(kind) != ResourceKind::unknown; }

ResourceKind member_kind(ResourceKind collection) {
  using K = ResourceKind;
  switch (collection) {
    case K::chassis_collection: return K::chassis;
    case K::power_supply_collection: return K::power_supply;
    case K::fan_collection: return K::fan;
    case K::pump_collection: return K::pump;
    case K::coolant_connector_collection: return K::coolant_connector;
    case K::leak_detector_collection: return K::leak_detector;
    case K::sensor_collection: return K::sensor;
    case K::control_collection: return K::control;
    case K::cooling_unit_collection: return K::cooling_unit;
    case K::cooling_loop_collection: return K::cooling_loop;
    case K::computer_system_collection: return K::computer_system;
    case K::processor_collection: return K::processor;
    case K::memory_collection: return K::memory;
    default: return K::unknown;
  }
}

std::string normalise_uri(std::string_view uri) {
  uri = strip_fragment(uri);
  while (uri.size() > 1 && uri.back() == '/') uri.remove_suffix(1);
  return std::string(uri);
}

bool is_service_uri(std::string_view uri) {
  return uri == "/redfish/v1" || uri.starts_with("/redfish/v1/");
}

std::string last_segment(std::string_view uri) {
  const auto path = normalise_uri(uri);
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string chassis_from_uri(std::string_view uri) {
  constexpr std::string_view kPrefix = "/redfish/v1/Chassis/";
  uri = strip_fragment(uri);
  if (!uri.starts_with(kPrefix)) return {};
  uri.remove_prefix(kPrefix.size());
  return std::string(uri.substr(0, uri.find('/')));
}

std::string_view to_string(ProblemKind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < kProblemNames.size() ? kProblemNames[i] : "unknown";
}

void Problems::add(ProblemKind kind, std::string_view uri, std::string_view where,
                   std::string_view detail) {
  ++counts_[static_cast<std::size_t>(kind)];
  if (details_.size() < kMaxDetails) {
    details_.push_back({kind, std::string(uri), std::string(where), std::string(detail)});
  }
}

void Problems::merge(const Problems& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  for (const auto& p : other.details_) {
    if (details_.size() >= kMaxDetails) break;
    details_.push_back(p);
  }
}

std::uint64_t Problems::total() const {
  std::uint64_t sum = 0;
  for (auto c : counts_) sum += c;
  return sum;
}

std::string Problems::summary() const {
  std::string out;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    if (!out.empty()) out += ' ';
    out += fmt::format("{}={}", kProblemNames[i], counts_[i]);
  }
  return out;
}

}  // namespace railyard::redfish
