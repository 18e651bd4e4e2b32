#pragma once
// bmc-sim scenarios: a timeline of readings and faults, and the pure math
// that says what every simulated signal reads at scenario time t.
//
// Scenario time is in seconds since the simulator started, multiplied by
// --speed. Everything here is a function of t alone (no clock, no I/O), so the
// same t always gives the same answer and tests can evaluate any instant.
// The file format is described in tools/bmc-sim/README.md.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace railyard::bmcsim {

/// The physical parameters of the simulated liquid-cooled GPU host.
struct HostParams {
  int gpus = 8;
  double supply_celsius = 30.0;      ///< secondary-loop coolant supply temperature
  double inlet_celsius = 24.0;       ///< front-panel air inlet
  double gpu_watts = 700.0;          ///< per GPU, steady load
  double other_watts = 1800.0;       ///< CPUs, memory, NICs, fans, conversion losses
  double power_limit_watts = 10000.0;
  double gpu_kelvin_per_watt = 0.04; ///< cold-plate thermal resistance: GPU over coolant
  double gpu_tau_seconds = 60.0;     ///< first-order lag of GPU temperature
  double flow_lpm = 12.0;            ///< coolant flow through the host
  double liquid_fraction = 0.85;     ///< share of the host's heat taken by the coolant
  double supply_kpa = 240.0;
  double return_kpa = 165.0;
  double fan_rpm = 6200.0;
  int fans = 4;
  double coolant_level_percent = 92.0;
};

enum class FaultKind { http_error, hang, malformed, slow, unavailable };
std::string_view to_string(FaultKind kind);

enum class Malformation { truncated, garbage, empty };

/// An HTTP misbehaviour active for an interval of scenario time.
struct Fault {
  FaultKind kind = FaultKind::http_error;
  double at = 0;
  double duration = 0;                 ///< scenario seconds; <= 0: until the end
  std::vector<std::string> paths;      ///< glob patterns ('*' any run); empty: every path
  int status = 500;                    ///< http_error
  int delay_ms = 0;                    ///< slow: wall-clock milliseconds
  int retry_after = 5;                 ///< unavailable: Retry-After seconds
  Malformation malformation = Malformation::truncated;

  bool active(double t) const { return t >= at && (duration <= 0 || t < at + duration); }
  bool matches(std::string_view path) const;
};

/// A change of the host's physics or of one named reading.
struct Change {
  enum class Kind {
    coolant_ramp,  ///< supply temperature rises by `rate` °C/min for `duration`
    power_spike,   ///< host power up by `watts` (shared by the GPUs) for `duration`
    leak,          ///< leak detector `target` reads `state` from `at` (for `duration`)
    set,           ///< reading `target` is `value` from `at` (for `duration`)
    ramp,          ///< reading `target` changes by `rate` units/min for `duration`
  };
  Kind kind = Kind::set;
  double at = 0;
  double duration = 0;  ///< <= 0: until the end (a ramp then keeps rising)
  double rate = 0;      ///< per minute
  double watts = 0;
  double value = 0;
  std::string target;   ///< sensor / leak detector name (Id, path suffix or URI)
  std::string state = "Critical";

  bool active(double t) const { return t >= at && (duration <= 0 || t < at + duration); }
};

struct Scenario {
  std::string name;
  HostParams host;
  std::vector<Change> changes;
  std::vector<Fault> faults;
};

/// Parses a scenario file (TOML). On error returns nullopt and sets `error`
/// to "file:line: what is wrong (and the fix)".
std::optional<Scenario> parse_scenario(std::string_view text, std::string_view source_name,
                                       std::string& error);
std::optional<Scenario> load_scenario(const std::string& path, std::string& error);

/// True when `name` designates the resource at `uri`: the whole URI, or a
/// suffix of it on a '/' boundary ("CPU1Temp", "Sensors/CPU1Temp").
bool names_resource(std::string_view name, std::string_view uri);

/// What the scenario makes every signal read at scenario time t.
class Timeline {
 public:
  explicit Timeline(Scenario scenario);

  const Scenario& scenario() const { return scenario_; }
  const HostParams& host() const { return scenario_.host; }

  /// Coolant supply temperature: base + every coolant ramp so far (a ramp that
  /// ended holds the temperature it reached).
  double supply_celsius(double t) const;
  /// Extra host power from power spikes active at t.
  double spike_watts(double t) const;
  double gpu_watts(double t) const;
  double host_watts(double t) const;
  /// Where GPU i's temperature settles at t (supply + R * power + offset).
  double gpu_steady_celsius(int gpu, double t) const;
  /// GPU i's temperature: a first-order lag (time constant gpu_tau_seconds)
  /// behind gpu_steady_celsius, solved exactly over the piecewise-linear input.
  double gpu_celsius(int gpu, double t) const;
  /// Return temperature: supply plus the coolant's share of the host heat over
  /// the heat capacity of the flow (`flow_lpm`, as the flow sensor reads).
  double return_celsius(double t, double flow_lpm) const;

  /// The value `set`/`ramp` changes make reading `uri` have at t given its
  /// unchanged value `base`; `base` itself when none applies.
  double adjust(std::string_view uri, double base, double t) const;
  /// Whether any set/ramp change names `uri`.
  bool adjusts(std::string_view uri) const;
  /// DetectorState of leak detector `uri` at t: "OK" unless a leak is active.
  std::string leak_state(std::string_view uri, double t) const;
  /// Whether any leak change names `uri`.
  bool leaks(std::string_view uri) const;

  /// The strongest fault on `path` at t, by precedence hang > unavailable >
  /// http_error > malformed; `slow` is reported separately as it composes.
  const Fault* fault(std::string_view path, double t) const;
  /// Total slow-down (wall ms) of the slow faults on `path` at t.
  int delay_ms(std::string_view path, double t) const;

 private:
  double gpu_offset(int gpu) const;
  /// Slope (°C/s) of the supply temperature just after t.
  double supply_slope(double t) const;

  Scenario scenario_;
  std::vector<double> breakpoints_;  // sorted starts/ends of physics changes
};

}  // namespace railyard::bmcsim
