#pragma once
// One sensor reading taken from a Redfish document, with the BMC's own
// thresholds, in normalised units. Pure data: no I/O, no JSON.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace railyard::redfish {

/// Wall-clock time, so a reading can be exported with its timestamp; the
/// caller passes it in (extraction never reads a clock).
using TimePoint = std::chrono::system_clock::time_point;

/// What a reading measures. The coolant_* kinds come from CoolantConnector
/// properties (or a Sensor they point at); a Sensor alone only says
/// "temperature".
enum class Kind : std::uint8_t {
  temperature,
  coolant_supply_temperature,
  coolant_return_temperature,
  coolant_delta_temperature,
  power,
  power_limit,  ///< a configured cap (legacy PowerLimit, Control SetPoint), W
  energy,
  heat,  ///< heat removed by a coolant loop, W
  flow,
  pressure,
  coolant_supply_pressure,
  coolant_return_pressure,
  coolant_delta_pressure,
  coolant_level,
  leak,  ///< 0 = dry, 1 = leak (DetectorState Warning or Critical)
  fan,
  pump,
  humidity,
  voltage,
  current,
  frequency,
  percent,
  health,  ///< a device's Status.Health as a value: 0 OK, 1 Warning, 2 Critical
  other,
};
inline constexpr std::size_t kKindCount = static_cast<std::size_t>(Kind::other) + 1;
std::string_view to_string(Kind kind);

/// Units after normalisation; `other` keeps the BMC's UCUM string in
/// Reading::raw_unit.
enum class Unit : std::uint8_t {
  none,
  celsius,           ///< "Cel"
  watts,             ///< "W"
  kilowatt_hours,    ///< "kW.h"
  litres_per_minute, ///< "L/min"
  kilopascals,       ///< "kPa"
  percent,           ///< "%"
  rpm,               ///< "RPM"
  boolean,           ///< "boolean" (leak)
  volts,             ///< "V"
  amperes,           ///< "A"
  hertz,             ///< "Hz"
  other,
};
/// The UCUM symbol Redfish uses ("Cel", "W", "L/min", ...); "" for none/other.
std::string_view symbol(Unit unit);

enum class Health : std::uint8_t { unknown, ok, warning, critical };
std::string_view to_string(Health health);
/// Redfish "OK" / "Warning" / "Critical"; unknown otherwise.
Health parse_health(std::string_view text);

/// Redfish Resource.State.
enum class State : std::uint8_t {
  unknown,
  enabled,
  disabled,
  standby_offline,
  standby_spare,
  in_test,
  starting,
  absent,
  unavailable_offline,
  deferring,
  quiesced,
  updating,
  qualified,
  degraded,
};
std::string_view to_string(State state);
State parse_state(std::string_view text);

/// The BMC's thresholds, in the reading's normalised unit. Each is optional:
/// BMCs publish any subset. The *_user ones are set by an operator on the BMC.
struct Thresholds {
  std::optional<double> upper_caution;
  std::optional<double> upper_critical;
  std::optional<double> upper_fatal;
  std::optional<double> lower_caution;
  std::optional<double> lower_critical;
  std::optional<double> lower_fatal;
  std::optional<double> upper_caution_user;
  std::optional<double> upper_critical_user;
  std::optional<double> lower_caution_user;
  std::optional<double> lower_critical_user;

  bool empty() const;
  bool operator==(const Thresholds&) const = default;
};

struct Reading {
  /// Stable identity across sweeps: the Sensor/LeakDetector/... URI, or for a
  /// value embedded in a larger document the document URI plus a JSON pointer
  /// ("/redfish/v1/Chassis/1U/Thermal#/Temperatures/0").
  std::string id;
  std::string name;
  /// Chassis the reading belongs to ("1U"), "" when none is known.
  std::string chassis_id;
  Kind kind = Kind::other;
  Unit unit = Unit::none;
  /// ReadingUnits as the BMC wrote it ("kW", "Pa", ...), "" when absent.
  std::string raw_unit;
  /// Normalised value; empty when the BMC gave none (absent device, null
  /// Reading) or when it could not be trusted (unit contradicting the type).
  std::optional<double> value;
  Health health = Health::unknown;
  State state = State::unknown;
  Thresholds thresholds;
  /// Document the reading was taken from (no fragment).
  std::string source_uri;
  /// For excerpts (EnvironmentMetrics, ThermalMetrics, CoolantConnector ...):
  /// the Sensor they copy. merge_sweep() drops an excerpt whose Sensor was
  /// read in the same sweep.
  std::string data_source_uri;
  std::string physical_context;
  TimePoint read_at{};
};

/// How to bring a Redfish ReadingUnits string to our unit: value * scale + offset.
struct UnitConversion {
  Unit unit = Unit::other;
  double scale = 1.0;
  double offset = 0.0;

  double apply(double v) const { return v * scale + offset; }
};

/// UCUM strings Redfish uses ("Cel", "kW", "Pa", "L/s", "kW.h", "{rev}/min",
/// legacy fan "RPM"/"Percent" ...). Unknown strings give Unit::other, scale 1.
UnitConversion convert_unit(std::string_view ucum);

}  // namespace railyard::redfish
