#pragma once
// The generated Redfish model of a liquid-cooled GPU host, in the legacy
// schema (Power, Thermal), the current one (PowerSubsystem, ThermalSubsystem,
// EnvironmentMetrics, Sensors, Controls, leak detection, ThermalEquipment with
// a CDU and a cooling loop) or both. Every document is built on request from
// the Timeline, so readings move with scenario time.

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tools/bmc-sim/scenario.h"
#include "tools/bmc-sim/source.h"

namespace railyard::bmcsim {

enum class Schema { legacy, current, both };
std::string_view to_string(Schema schema);
bool parse_schema(std::string_view text, Schema& out);

struct ModelOptions {
  Schema schema = Schema::both;
  std::string chassis_id = "GPUHost";
  /// Advertise ProtocolFeaturesSupported.ExpandQuery in the service root.
  bool expand = false;
  /// EventService.ServerSentEventUri.
  std::string sse_uri = "/redfish/v1/EventService/SSE";
};

class Model : public Source {
 public:
  Model(const Timeline& timeline, ModelOptions options);
  // The document builders capture `this`.
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  std::optional<boost::json::value> get(std::string_view path, double t) const override;
  Samples samples(double t) const override;

  /// Every URI the model serves, sorted.
  std::vector<std::string> paths() const;
  /// URIs of the Sensor resources (current schema), sorted.
  std::vector<std::string> sensor_uris() const;
  /// URIs of the LeakDetector resources (current schema), sorted.
  std::vector<std::string> leak_detector_uris() const;
  const ModelOptions& options() const { return options_; }
  std::string chassis_uri() const;

  /// One physical reading of the host.
  struct SensorDef {
    std::string id;
    std::string name;
    std::string reading_type;  ///< Sensor ReadingType
    std::string units;         ///< ReadingUnits
    std::string context;       ///< PhysicalContext
    Limits limits;
    double precision = 0.1;    ///< readings are rounded to this
    std::function<double(double)> base;  ///< physics at t, before scenario set/ramp
  };
  struct LeakDef {
    std::string uri;
    std::string id;
    std::string name;
    std::string type;  ///< LeakDetectorType
    std::string context;
  };

  /// Value of sensor `id` at t (physics, then scenario set/ramp, rounded).
  double value(std::string_view id, double t) const;
  const std::vector<SensorDef>& sensors() const { return sensors_; }

 private:
  using Builder = std::function<boost::json::value(double)>;

  const SensorDef* find(std::string_view id) const;
  std::string sensor_uri(std::string_view id) const;
  double value(const SensorDef& s, double t) const;
  boost::json::object sensor_doc(const SensorDef& s, double t) const;
  boost::json::object excerpt(std::string_view id, double t) const;
  std::string leak_state(const LeakDef& l, double t) const;

  void add(std::string path, Builder builder);
  void add_common();
  void add_legacy();
  void add_current();
  void add_thermal_equipment();

  const Timeline& timeline_;
  ModelOptions options_;
  std::string chassis_;  // chassis URI
  std::vector<SensorDef> sensors_;
  std::vector<LeakDef> leaks_;
  std::map<std::string, Builder, std::less<>> docs_;
};

}  // namespace railyard::bmcsim
