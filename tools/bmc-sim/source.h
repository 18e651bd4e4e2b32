#pragma once
// What bmc-sim serves: a Source answers GETs with documents at scenario time
// t. Two implementations: Model (the generated liquid-cooled GPU host) and
// MockupSource (a DMTF mockup directory with the scenario applied on top).

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace railyard::bmcsim {

/// A sensor's thresholds, as the Redfish document states them.
struct Limits {
  std::optional<double> upper_caution;
  std::optional<double> upper_critical;
  std::optional<double> upper_fatal;
  std::optional<double> lower_caution;
  std::optional<double> lower_critical;
};

struct SensorSample {
  std::string uri;
  std::string name;
  std::string units;  ///< ReadingUnits ("Cel", "W", "L/min", ...)
  double value = 0;
  Limits limits;
};

struct LeakSample {
  std::string uri;
  std::string name;
  std::string state;  ///< DetectorState: OK, Warning, Critical
};

/// What the event monitor watches: readings with thresholds, leak detectors.
struct Samples {
  std::vector<SensorSample> sensors;
  std::vector<LeakSample> leaks;
};

class Source {
 public:
  virtual ~Source() = default;
  /// The document at `path` ("/redfish/v1/...", no query, no trailing '/')
  /// at scenario time t; nullopt when there is none (404).
  virtual std::optional<boost::json::value> get(std::string_view path, double t) const = 0;
  /// The readings events are raised for, at t.
  virtual Samples samples(double t) const = 0;
};

/// "/redfish/v1/Chassis/" and "/redfish/v1/Chassis" are one resource.
std::string canonical_path(std::string_view path);

/// JSON text with numbers written as BMCs write them ("60.2", "83"), where
/// boost::json::serialize would write "6.02E1".
std::string render(const boost::json::value& v);

/// $expand=.($levels=1) on a collection: each member of `doc`'s Members
/// replaced by the member's document from `source`.
void expand_members(const Source& source, boost::json::value& doc, double t);

/// Which threshold band `value` is in: 0 normal, 1 caution, 2 critical,
/// 3 fatal; negative for the lower bands (-1 caution, -2 critical).
int band(const Limits& limits, double value);

/// Redfish Status.Health for a band ("OK", "Warning", "Critical").
std::string_view health_for_band(int band);

}  // namespace railyard::bmcsim
