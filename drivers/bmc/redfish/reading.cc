#include "drivers/bmc/redfish/reading.h"

#include <array>
#include <utility>

namespace railyard::redfish {
namespace {

constexpr std::array<std::string_view, kKindCount> kKindNames{
    "temperature",
    "coolant_supply_temperature",
    "coolant_return_temperature",
    "coolant_delta_temperature",
    "power",
    "power_limit",
    "energy",
    "heat",
    "flow",
    "pressure",
    "coolant_supply_pressure",
    "coolant_return_pressure",
    "coolant_delta_pressure",
    "coolant_level",
    "leak",
    "fan",
    "pump",
    "humidity",
    "voltage",
    "current",
    "frequency",
    "percent",
    "health",
    "other",
};

constexpr std::array<std::pair<std::string_view, State>, 13> kStates{{
    {"Enabled", State::enabled},
    {"Disabled", State::disabled},
    {"StandbyOffline", State::standby_offline},
    {"StandbySpare", State::standby_spare},
    {"InTest", State::in_test},
    {"Starting", State::starting},
    {"Absent", State::absent},
    {"UnavailableOffline", State::unavailable_offline},
    {"Deferring", State::deferring},
    {"Quiesced", State::quiesced},
    {"Updating", State::updating},
    {"Qualified", State::qualified},
    {"Degraded", State::degraded},
}};

struct UnitEntry {
  std::string_view ucum;
  UnitConversion conversion;
};

// Every ReadingUnits value the Sensor schema pairs with a ReadingType we
// normalise, plus the legacy Thermal Fan enum ("RPM", "Percent").
constexpr std::array<UnitEntry, 19> kUnits{{
    {"Cel", {Unit::celsius, 1.0, 0.0}},
    {"K", {Unit::celsius, 1.0, -273.15}},
    {"W", {Unit::watts, 1.0, 0.0}},
    {"kW", {Unit::watts, 1000.0, 0.0}},
    {"kW.h", {Unit::kilowatt_hours, 1.0, 0.0}},
    {"W.h", {Unit::kilowatt_hours, 1e-3, 0.0}},
    {"J", {Unit::kilowatt_hours, 1.0 / 3.6e6, 0.0}},
    {"L/min", {Unit::litres_per_minute, 1.0, 0.0}},
    {"L/s", {Unit::litres_per_minute, 60.0, 0.0}},
    {"kPa", {Unit::kilopascals, 1.0, 0.0}},
    {"Pa", {Unit::kilopascals, 1e-3, 0.0}},
    {"mm[Hg]", {Unit::kilopascals, 0.133322387415, 0.0}},
    {"%", {Unit::percent, 1.0, 0.0}},
    {"Percent", {Unit::percent, 1.0, 0.0}},
    {"RPM", {Unit::rpm, 1.0, 0.0}},
    {"{rev}/min", {Unit::rpm, 1.0, 0.0}},
    {"V", {Unit::volts, 1.0, 0.0}},
    {"A", {Unit::amperes, 1.0, 0.0}},
    {"Hz", {Unit::hertz, 1.0, 0.0}},
}};

}  // namespace

std::string_view to_string(Kind kind) {
  const auto i = static_cast<std::size_t>(kind);
  return i < kKindNames.size() ? kKindNames[i] : "other";
}

std::string_view symbol(Unit unit) {
  switch (unit) {
    case Unit::celsius: return "Cel";
    case Unit::watts: return "W";
    case Unit::kilowatt_hours: return "kW.h";
    case Unit::litres_per_minute: return "L/min";
    case Unit::kilopascals: return "kPa";
    case Unit::percent: return "%";
    case Unit::rpm: return "RPM";
    case Unit::boolean: return "boolean";
    case Unit::volts: return "V";
    case Unit::amperes: return "A";
    case Unit::hertz: return "Hz";
    case Unit::none:
    case Unit::other: break;
  }
  return "";
}

std::string_view to_string(Health health) {
  switch (health) {
    case Health::ok: return "OK";
    case Health::warning: return "Warning";
    case Health::critical: return "Critical";
    case Health::unknown: break;
  }
  return "unknown";
}

Health parse_health(std::string_view text) {
  if (text == "OK") return Health::ok;
  if (text == "Warning") return Health::warning;
  if (text == "Critical") return Health::critical;
  return Health::unknown;
}

std::string_view to_string(State state) {
  for (const auto& [name, s] : kStates) {
    if (s == state) return name;
  }
  return "unknown";
}

State parse_state(std::string_view text) {
  for (const auto& [name, s] : kStates) {
    if (name == text) return s;
  }
  return State::unknown;
}

bool Thresholds::empty() const { return *this == Thresholds{}; }

UnitConversion convert_unit(std::string_view ucum) {
  for (const auto& entry : kUnits) {
    if (entry.ucum == ucum) return entry.conversion;
  }
  return {Unit::other, 1.0, 0.0};
}

}  // namespace railyard::redfish
