#include "tools/bmc-sim/model.h"

#include <boost/json/serialize.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>

namespace railyard::bmcsim {

namespace json = boost::json;

std::string_view to_string(Schema schema) {
  switch (schema) {
    case Schema::legacy: return "legacy";
    case Schema::current: return "current";
    case Schema::both: return "both";
  }
  return "?";
}

bool parse_schema(std::string_view text, Schema& out) {
  if (text == "legacy") {
    out = Schema::legacy;
  } else if (text == "current") {
    out = Schema::current;
  } else if (text == "both") {
    out = Schema::both;
  } else {
    return false;
  }
  return true;
}

std::string canonical_path(std::string_view path) {
  if (const auto q = path.find_first_of("?#"); q != std::string_view::npos) path = path.substr(0, q);
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return std::string(path);
}

namespace {
void render_to(const json::value& v, std::string& out) {
  switch (v.kind()) {
    case json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d)) {
        out += "null";
      } else if (d == std::floor(d) && std::fabs(d) < 1e15) {
        fmt::format_to(std::back_inserter(out), "{}", static_cast<long long>(d));
      } else {
        fmt::format_to(std::back_inserter(out), "{}", d);
      }
      break;
    }
    case json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, child] : v.get_object()) {
        if (!first) out += ',';
        first = false;
        out += json::serialize(json::string_view(k));
        out += ':';
        render_to(child, out);
      }
      out += '}';
      break;
    }
    case json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& child : v.get_array()) {
        if (!first) out += ',';
        first = false;
        render_to(child, out);
      }
      out += ']';
      break;
    }
    default: out += json::serialize(v); break;
  }
}
}  // namespace

std::string render(const json::value& v) {
  std::string out;
  render_to(v, out);
  return out;
}

void expand_members(const Source& source, json::value& doc, double t) {
  auto* o = doc.if_object();
  auto* members = o != nullptr ? o->if_contains("Members") : nullptr;
  if (members == nullptr || !members->is_array()) return;
  for (auto& m : members->as_array()) {
    const auto* id = m.is_object() ? m.as_object().if_contains("@odata.id") : nullptr;
    if (id == nullptr || !id->is_string()) continue;
    if (auto member = source.get(std::string_view(id->as_string()), t)) m = std::move(*member);
  }
}

int band(const Limits& l, double v) {
  if (l.upper_fatal && v >= *l.upper_fatal) return 3;
  if (l.upper_critical && v >= *l.upper_critical) return 2;
  if (l.upper_caution && v >= *l.upper_caution) return 1;
  if (l.lower_critical && v <= *l.lower_critical) return -2;
  if (l.lower_caution && v <= *l.lower_caution) return -1;
  return 0;
}

std::string_view health_for_band(int b) {
  if (b == 0) return "OK";
  if (b == 1 || b == -1) return "Warning";
  return "Critical";
}

namespace {

constexpr std::string_view kCopyright =
    "bmc-sim: a generated model of a liquid-cooled GPU host, shaped after the DMTF Redfish schemas";

json::object link(std::string_view uri) { return json::object{{"@odata.id", uri}}; }

json::object status(std::string_view health = "OK", std::string_view state = "Enabled") {
  return json::object{{"State", state}, {"Health", health}};
}

json::object collection(std::string_view type, std::string_view name, std::string_view path,
                        const std::vector<std::string>& members) {
  json::array m;
  for (const auto& uri : members) m.push_back(link(uri));
  json::object o{{"@odata.type", fmt::format("#{0}.{0}", type)},
                 {"@odata.id", path},
                 {"Name", name},
                 {"Members@odata.count", members.size()}};
  o["Members"] = std::move(m);
  return o;
}

json::object resource(std::string_view type, std::string_view path, std::string_view id,
                      std::string_view name) {
  return json::object{{"@odata.type", type}, {"@odata.id", path}, {"Id", id}, {"Name", name}};
}

double round_to(double v, double precision) {
  if (precision <= 0) return v;
  const double r = std::round(v / precision) * precision;
  // Keep 0.1 from printing as 0.30000000000000004.
  return std::round(r * 1e6) / 1e6;
}

json::object thresholds(const Limits& l) {
  json::object t;
  auto put = [&t](std::string_view key, const std::optional<double>& v, std::string_view activation) {
    if (v) t[key] = json::object{{"Reading", *v}, {"Activation", activation}};
  };
  put("UpperCaution", l.upper_caution, "Increasing");
  put("UpperCritical", l.upper_critical, "Increasing");
  put("UpperFatal", l.upper_fatal, "Increasing");
  put("LowerCaution", l.lower_caution, "Decreasing");
  put("LowerCritical", l.lower_critical, "Decreasing");
  return t;
}

constexpr double kFanMaxRpm = 12000.0;

}  // namespace

// ---------------------------------------------------------------------------

Model::Model(const Timeline& timeline, ModelOptions options)
    : timeline_(timeline), options_(std::move(options)),
      chassis_("/redfish/v1/Chassis/" + options_.chassis_id) {
  const auto& h = timeline_.host();
  const Timeline* tl = &timeline_;
  sensors_.push_back({.id = "TotalPower", .name = "Host Input Power", .reading_type = "Power",
                      .units = "W", .context = "Chassis",
                      .limits = {.upper_caution = std::round(h.power_limit_watts * 0.9),
                                 .upper_critical = h.power_limit_watts},
                      .precision = 1.0,
                      .base = [tl](double t) { return tl->host_watts(t); }});
  for (int i = 0; i < h.gpus; ++i) {
    sensors_.push_back({.id = fmt::format("GPU{}Temp", i), .name = fmt::format("GPU {} Temperature", i),
                        .reading_type = "Temperature", .units = "Cel", .context = "GPU",
                        .limits = {.upper_caution = 83, .upper_critical = 90, .upper_fatal = 95},
                        .precision = 0.1,
                        .base = [tl, i](double t) { return tl->gpu_celsius(i, t); }});
  }
  sensors_.push_back({.id = "InletTemp", .name = "Air Inlet Temperature", .reading_type = "Temperature",
                      .units = "Cel", .context = "Intake",
                      .limits = {.upper_caution = 35, .upper_critical = 40},
                      .precision = 0.1,
                      .base = [tl](double) { return tl->host().inlet_celsius; }});
  sensors_.push_back({.id = "CoolantSupplyTemp", .name = "Coolant Supply Temperature",
                      .reading_type = "Temperature", .units = "Cel", .context = "LiquidInlet",
                      .limits = {.upper_caution = 40, .upper_critical = 45},
                      .precision = 0.1,
                      .base = [tl](double t) { return tl->supply_celsius(t); }});
  sensors_.push_back({.id = "CoolantReturnTemp", .name = "Coolant Return Temperature",
                      .reading_type = "Temperature", .units = "Cel", .context = "LiquidOutlet",
                      .limits = {.upper_caution = 55, .upper_critical = 60},
                      .precision = 0.1,
                      .base = [this, tl](double t) { return tl->return_celsius(t, value("CoolantFlow", t)); }});
  sensors_.push_back({.id = "CoolantFlow", .name = "Coolant Flow", .reading_type = "LiquidFlowLPM",
                      .units = "L/min", .context = "LiquidInlet",
                      .limits = {.lower_caution = std::round(h.flow_lpm * 0.6 * 10) / 10,
                                 .lower_critical = std::round(h.flow_lpm * 0.4 * 10) / 10},
                      .precision = 0.01,
                      .base = [tl](double) { return tl->host().flow_lpm; }});
  sensors_.push_back({.id = "CoolantSupplyPressure", .name = "Coolant Supply Pressure",
                      .reading_type = "PressurekPa", .units = "kPa", .context = "LiquidInlet",
                      .limits = {.upper_caution = 300, .upper_critical = 350, .lower_caution = 150},
                      .precision = 0.1,
                      .base = [tl](double) { return tl->host().supply_kpa; }});
  sensors_.push_back({.id = "CoolantReturnPressure", .name = "Coolant Return Pressure",
                      .reading_type = "PressurekPa", .units = "kPa", .context = "LiquidOutlet",
                      .limits = {.upper_caution = 260, .upper_critical = 300},
                      .precision = 0.1,
                      .base = [tl](double) { return tl->host().return_kpa; }});
  for (int i = 1; i <= h.fans; ++i) {
    sensors_.push_back({.id = fmt::format("Fan{}", i), .name = fmt::format("Chassis Fan {}", i),
                        .reading_type = "Percent", .units = "%", .context = "Fan",
                        .limits = {.lower_critical = 10},
                        .precision = 1.0,
                        .base = [tl, i](double) {
                          return (tl->host().fan_rpm + 60.0 * (i - 1)) / kFanMaxRpm * 100.0;
                        }});
  }

  const std::string ld = chassis_ + "/ThermalSubsystem/LeakDetection/LeakDetectors/";
  leaks_.push_back({ld + "ColdPlateTray", "ColdPlateTray", "GPU Cold Plate Drip Tray", "Moisture", "GPU"});
  leaks_.push_back({ld + "Manifold", "Manifold", "Coolant Manifold", "Moisture", "LiquidInlet"});
  leaks_.push_back({"/redfish/v1/ThermalEquipment/CDUs/1/LeakDetection/LeakDetectors/CDUDrip",
                    "CDUDrip", "CDU Drip Pan", "Moisture", "Chassis"});

  add_common();
  if (options_.schema != Schema::current) add_legacy();
  if (options_.schema != Schema::legacy) {
    add_current();
    add_thermal_equipment();
  }
}

void Model::add(std::string path, Builder builder) { docs_.emplace(std::move(path), std::move(builder)); }

std::string Model::chassis_uri() const { return chassis_; }

std::string Model::sensor_uri(std::string_view id) const { return fmt::format("{}/Sensors/{}", chassis_, id); }

const Model::SensorDef* Model::find(std::string_view id) const {
  for (const auto& s : sensors_) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

double Model::value(const SensorDef& s, double t) const {
  return round_to(timeline_.adjust(sensor_uri(s.id), s.base(t), t), s.precision);
}

double Model::value(std::string_view id, double t) const {
  const auto* s = find(id);
  return s == nullptr ? 0.0 : value(*s, t);
}

std::string Model::leak_state(const LeakDef& l, double t) const { return timeline_.leak_state(l.uri, t); }

json::object Model::sensor_doc(const SensorDef& s, double t) const {
  const double v = value(s, t);
  auto o = resource("#Sensor.v1_12_0.Sensor", sensor_uri(s.id), s.id, s.name);
  o["ReadingType"] = s.reading_type;
  o["Reading"] = v;
  o["ReadingUnits"] = s.units;
  o["PhysicalContext"] = s.context;
  o["Status"] = status(health_for_band(band(s.limits, v)));
  o["SensingInterval"] = "PT1S";
  auto th = thresholds(s.limits);
  if (!th.empty()) o["Thresholds"] = std::move(th);
  return o;
}

// {"Reading": v, "DataSourceUri": ".../Sensors/<id>"}
json::object Model::excerpt(std::string_view id, double t) const {
  return json::object{{"Reading", value(id, t)}, {"DataSourceUri", sensor_uri(id)}};
}

// --- resources present in every schema variant -----------------------------

void Model::add_common() {
  const bool current = options_.schema != Schema::legacy;
  add("/redfish/v1", [this, current](double) -> json::value {
    auto o = resource("#ServiceRoot.v1_20_0.ServiceRoot", "/redfish/v1", "RootService", "Root Service");
    o["RedfishVersion"] = "1.20.0";
    o["UUID"] = "92384634-2938-2342-8820-4892399054b1";
    o["Vendor"] = "railyard bmc-sim";
    json::object features{{"SelectQuery", false}, {"FilterQuery", false}, {"OnlyMemberQuery", false},
                          {"ExcerptQuery", false}};
    if (options_.expand) {
      features["ExpandQuery"] = json::object{{"ExpandAll", false}, {"Levels", true}, {"MaxLevels", 1},
                                             {"Links", false}, {"NoLinks", true}};
    }
    o["ProtocolFeaturesSupported"] = std::move(features);
    o["Chassis"] = link("/redfish/v1/Chassis");
    o["SessionService"] = link("/redfish/v1/SessionService");
    o["EventService"] = link("/redfish/v1/EventService");
    if (current) o["ThermalEquipment"] = link("/redfish/v1/ThermalEquipment");
    o["Links"] = json::object{{"Sessions", link("/redfish/v1/SessionService/Sessions")}};
    o["@Redfish.Copyright"] = kCopyright;
    return o;
  });
  add("/redfish/v1/Chassis", [this](double) -> json::value {
    return collection("ChassisCollection", "Chassis Collection", "/redfish/v1/Chassis", {chassis_});
  });
  add(chassis_, [this, current](double) -> json::value {
    auto o = resource("#Chassis.v1_25_0.Chassis", chassis_, options_.chassis_id, "GPU Compute Node");
    o["ChassisType"] = "RackMount";
    o["Manufacturer"] = "railyard";
    o["Model"] = "LC-8GPU-SIM";
    o["SerialNumber"] = "SIM-" + options_.chassis_id;
    o["PowerState"] = "On";
    o["Status"] = status();
    if (options_.schema != Schema::current) {
      o["Power"] = link(chassis_ + "/Power");
      o["Thermal"] = link(chassis_ + "/Thermal");
    }
    if (current) {
      o["PowerSubsystem"] = link(chassis_ + "/PowerSubsystem");
      o["ThermalSubsystem"] = link(chassis_ + "/ThermalSubsystem");
      o["EnvironmentMetrics"] = link(chassis_ + "/EnvironmentMetrics");
      o["Sensors"] = link(chassis_ + "/Sensors");
      o["Controls"] = link(chassis_ + "/Controls");
    }
    return o;
  });
  add("/redfish/v1/EventService", [this](double) -> json::value {
    auto o = resource("#EventService.v1_10_0.EventService", "/redfish/v1/EventService", "EventService",
                      "Event Service");
    o["Status"] = status();
    o["ServiceEnabled"] = true;
    o["DeliveryRetryAttempts"] = 3;
    o["DeliveryRetryIntervalSeconds"] = 60;
    o["EventFormatTypes"] = json::array{"Event"};
    o["RegistryPrefixes"] = json::array{"ResourceEvent", "SensorEvent", "Environmental"};
    o["ServerSentEventUri"] = options_.sse_uri;
    o["SSEFilterPropertiesSupported"] =
        json::object{{"EventFormatType", false}, {"MessageId", false}, {"OriginResource", false},
                     {"RegistryPrefix", false}, {"ResourceType", false}};
    o["Subscriptions"] = link("/redfish/v1/EventService/Subscriptions");
    return o;
  });
  add("/redfish/v1/EventService/Subscriptions", [](double) -> json::value {
    return collection("EventDestinationCollection", "Event Subscriptions",
                      "/redfish/v1/EventService/Subscriptions", {});
  });
}

// --- legacy: Power and Thermal ------------------------------------------------

void Model::add_legacy() {
  add(chassis_ + "/Power", [this](double t) -> json::value {
    const std::string path = chassis_ + "/Power";
    auto o = resource("#Power.v1_7_1.Power", path, "Power", "Power");
    const double watts = value("TotalPower", t);
    const double limit = timeline_.host().power_limit_watts;
    json::object control{
        {"@odata.id", path + "#/PowerControl/0"},
        {"MemberId", "0"},
        {"Name", "Host Input Power"},
        {"PowerConsumedWatts", watts},
        {"PowerRequestedWatts", limit},
        {"PowerAvailableWatts", std::max(0.0, limit - watts)},
        {"PowerCapacityWatts", limit},
        {"PowerAllocatedWatts", limit},
        {"PhysicalContext", "Chassis"},
    };
    control["PowerLimit"] = json::object{{"LimitInWatts", limit}, {"LimitException", "LogEventOnly"},
                                         {"CorrectionInMs", 100}};
    control["Status"] = status();
    o["PowerControl"] = json::array{std::move(control)};
    return o;
  });
  add(chassis_ + "/Thermal", [this](double t) -> json::value {
    const std::string path = chassis_ + "/Thermal";
    auto o = resource("#Thermal.v1_7_1.Thermal", path, "Thermal", "Thermal");
    json::array temps;
    for (const auto& s : sensors_) {
      if (s.reading_type != "Temperature") continue;
      const double v = value(s, t);
      json::object m{{"@odata.id", fmt::format("{}#/Temperatures/{}", path, temps.size())},
                     {"MemberId", std::to_string(temps.size())},
                     {"Name", s.name},
                     {"ReadingCelsius", v},
                     {"PhysicalContext", s.context}};
      m["Status"] = status(health_for_band(band(s.limits, v)));
      if (s.limits.upper_caution) m["UpperThresholdNonCritical"] = *s.limits.upper_caution;
      if (s.limits.upper_critical) m["UpperThresholdCritical"] = *s.limits.upper_critical;
      if (s.limits.upper_fatal) m["UpperThresholdFatal"] = *s.limits.upper_fatal;
      m["MinReadingRangeTemp"] = 0;
      m["MaxReadingRangeTemp"] = 120;
      temps.push_back(std::move(m));
    }
    o["Temperatures"] = std::move(temps);
    json::array fans;
    for (int i = 1; i <= timeline_.host().fans; ++i) {
      const double rpm = std::round(value(fmt::format("Fan{}", i), t) / 100.0 * kFanMaxRpm);
      json::object m{{"@odata.id", fmt::format("{}#/Fans/{}", path, fans.size())},
                     {"MemberId", std::to_string(fans.size())},
                     {"Name", fmt::format("Chassis Fan {}", i)},
                     {"PhysicalContext", "Backplane"},
                     {"Reading", rpm},
                     {"ReadingUnits", "RPM"},
                     {"LowerThresholdCritical", 1200},
                     {"MinReadingRange", 0},
                     {"MaxReadingRange", kFanMaxRpm}};
      m["Status"] = status(rpm <= 1200 ? "Critical" : "OK");
      fans.push_back(std::move(m));
    }
    o["Fans"] = std::move(fans);
    return o;
  });
}

// --- current: subsystems, sensors, leak detection ------------------------------

void Model::add_current() {
  std::vector<std::string> sensor_members;
  for (const auto& s : sensors_) {
    sensor_members.push_back(sensor_uri(s.id));
    add(sensor_uri(s.id), [this, &s](double t) -> json::value { return sensor_doc(s, t); });
  }
  add(chassis_ + "/Sensors", [this, sensor_members](double) -> json::value {
    return collection("SensorCollection", "Sensors", chassis_ + "/Sensors", sensor_members);
  });

  add(chassis_ + "/PowerSubsystem", [this](double t) -> json::value {
    auto o = resource("#PowerSubsystem.v1_1_3.PowerSubsystem", chassis_ + "/PowerSubsystem",
                      "PowerSubsystem", "Power Subsystem");
    o["CapacityWatts"] = timeline_.host().power_limit_watts;
    o["Allocation"] = json::object{{"RequestedWatts", value("TotalPower", t)},
                                   {"AllocatedWatts", timeline_.host().power_limit_watts}};
    o["Status"] = status();
    return o;
  });
  add(chassis_ + "/Controls", [this](double) -> json::value {
    return collection("ControlCollection", "Controls", chassis_ + "/Controls", {chassis_ + "/Controls/PowerLimit"});
  });
  add(chassis_ + "/Controls/PowerLimit", [this](double t) -> json::value {
    auto o = resource("#Control.v1_5_0.Control", chassis_ + "/Controls/PowerLimit", "PowerLimit",
                      "Host Power Limit");
    const double limit = timeline_.host().power_limit_watts;
    o["ControlType"] = "Power";
    o["ControlMode"] = "Automatic";
    o["SetPoint"] = limit;
    o["SetPointUnits"] = "W";
    o["AllowableMin"] = std::round(limit * 0.3);
    o["AllowableMax"] = limit;
    o["PhysicalContext"] = "Chassis";
    o["Sensor"] = excerpt("TotalPower", t);
    o["Status"] = status();
    return o;
  });
  add(chassis_ + "/EnvironmentMetrics", [this](double t) -> json::value {
    auto o = json::object{{"@odata.type", "#EnvironmentMetrics.v1_3_0.EnvironmentMetrics"},
                          {"@odata.id", chassis_ + "/EnvironmentMetrics"},
                          {"Id", "EnvironmentMetrics"},
                          {"Name", "Chassis Environment Metrics"}};
    o["TemperatureCelsius"] = excerpt("InletTemp", t);
    o["PowerWatts"] = excerpt("TotalPower", t);
    o["PowerLimitWatts"] = json::object{{"SetPoint", timeline_.host().power_limit_watts},
                                        {"ControlMode", "Automatic"},
                                        {"DataSourceUri", chassis_ + "/Controls/PowerLimit"}};
    json::array fans;
    for (int i = 1; i <= timeline_.host().fans; ++i) {
      auto e = excerpt(fmt::format("Fan{}", i), t);
      e["DeviceName"] = fmt::format("Chassis Fan {}", i);
      fans.push_back(std::move(e));
    }
    o["FanSpeedsPercent"] = std::move(fans);
    return o;
  });

  const std::string ts = chassis_ + "/ThermalSubsystem";
  add(ts, [ts](double) -> json::value {
    auto o = resource("#ThermalSubsystem.v1_3_0.ThermalSubsystem", ts, "ThermalSubsystem",
                      "Thermal Subsystem");
    o["ThermalMetrics"] = link(ts + "/ThermalMetrics");
    o["Fans"] = link(ts + "/Fans");
    o["CoolantConnectors"] = link(ts + "/CoolantConnectors");
    o["LeakDetection"] = link(ts + "/LeakDetection");
    o["Status"] = status();
    return o;
  });
  add(ts + "/ThermalMetrics", [this, ts](double t) -> json::value {
    auto o = resource("#ThermalMetrics.v1_3_0.ThermalMetrics", ts + "/ThermalMetrics", "ThermalMetrics",
                      "Chassis Thermal Metrics");
    // Internal: the hottest GPU, as BMCs summarise.
    std::string hottest = "GPU0Temp";
    for (int i = 1; i < timeline_.host().gpus; ++i) {
      const auto id = fmt::format("GPU{}Temp", i);
      if (value(id, t) > value(hottest, t)) hottest = id;
    }
    o["TemperatureSummaryCelsius"] =
        json::object{{"Internal", excerpt(hottest, t)}, {"Intake", excerpt("InletTemp", t)}};
    json::array readings;
    for (const auto& s : sensors_) {
      if (s.reading_type != "Temperature") continue;
      auto e = excerpt(s.id, t);
      e["DeviceName"] = s.name;
      readings.push_back(std::move(e));
    }
    o["TemperatureReadingsCelsius"] = std::move(readings);
    return o;
  });
  std::vector<std::string> fan_members;
  for (int i = 1; i <= timeline_.host().fans; ++i) fan_members.push_back(fmt::format("{}/Fans/Fan{}", ts, i));
  add(ts + "/Fans", [ts, fan_members](double) -> json::value {
    return collection("FanCollection", "Fans", ts + "/Fans", fan_members);
  });
  for (int i = 1; i <= timeline_.host().fans; ++i) {
    add(fmt::format("{}/Fans/Fan{}", ts, i), [this, ts, i](double t) -> json::value {
      const auto id = fmt::format("Fan{}", i);
      auto o = resource("#Fan.v1_5_0.Fan", fmt::format("{}/Fans/{}", ts, id), id, fmt::format("Chassis Fan {}", i));
      auto speed = excerpt(id, t);
      speed["SpeedRPM"] = std::round(value(id, t) / 100.0 * kFanMaxRpm);
      o["SpeedPercent"] = std::move(speed);
      o["PhysicalContext"] = "Fan";
      o["HotPluggable"] = true;
      o["Status"] = status();
      return o;
    });
  }
  add(ts + "/CoolantConnectors", [ts](double) -> json::value {
    return collection("CoolantConnectorCollection", "Coolant Connectors", ts + "/CoolantConnectors",
                      {ts + "/CoolantConnectors/Manifold"});
  });
  add(ts + "/CoolantConnectors/Manifold", [this, ts](double t) -> json::value {
    auto o = resource("#CoolantConnector.v1_1_0.CoolantConnector", ts + "/CoolantConnectors/Manifold",
                      "Manifold", "Host Coolant Manifold");
    o["CoolantConnectorType"] = "Pair";
    o["Coolant"] = json::object{{"CoolantType", "Water"}, {"AdditiveName", "Propylene glycol"},
                                {"AdditivePercent", 25}};
    o["RatedFlowLitersPerMinute"] = 30;
    o["FlowLitersPerMinute"] = excerpt("CoolantFlow", t);
    o["SupplyTemperatureCelsius"] = excerpt("CoolantSupplyTemp", t);
    o["ReturnTemperatureCelsius"] = excerpt("CoolantReturnTemp", t);
    o["SupplyPressurekPa"] = excerpt("CoolantSupplyPressure", t);
    o["ReturnPressurekPa"] = excerpt("CoolantReturnPressure", t);
    o["Status"] = status();
    return o;
  });

  const std::string leak = ts + "/LeakDetection";
  add(leak, [this, leak](double t) -> json::value {
    auto o = resource("#LeakDetection.v1_1_0.LeakDetection", leak, "LeakDetection", "Leak Detection");
    json::array detectors;
    std::string worst = "OK";
    for (const auto& l : leaks_) {
      if (!l.uri.starts_with(leak)) continue;
      const auto state = leak_state(l, t);
      if (state == "Critical" || (state == "Warning" && worst == "OK")) worst = state;
      detectors.push_back(json::object{{"DataSourceUri", l.uri}, {"DeviceName", l.name}, {"DetectorState", state}});
    }
    json::object group{{"GroupName", "Host liquid cooling"}};
    group["Status"] = json::object{{"Health", worst}};
    group["Detectors"] = std::move(detectors);
    o["LeakDetectorGroups"] = json::array{std::move(group)};
    o["LeakDetectors"] = link(leak + "/LeakDetectors");
    o["Status"] = status(worst);
    return o;
  });
  std::vector<std::string> host_detectors;
  for (const auto& l : leaks_) {
    if (l.uri.starts_with(leak)) host_detectors.push_back(l.uri);
  }
  add(leak + "/LeakDetectors", [leak, host_detectors](double) -> json::value {
    return collection("LeakDetectorCollection", "Leak Detectors", leak + "/LeakDetectors", host_detectors);
  });
  for (const auto& l : leaks_) {
    add(l.uri, [this, &l](double t) -> json::value {
      auto o = resource("#LeakDetector.v1_3_0.LeakDetector", l.uri, l.id, l.name);
      const auto state = leak_state(l, t);
      o["LeakDetectorType"] = l.type;
      o["DetectorState"] = state;
      o["PhysicalContext"] = l.context;
      o["Status"] = status(state);
      return o;
    });
  }
}

// --- ThermalEquipment: the rack CDU that feeds this host, and its loop ----------

void Model::add_thermal_equipment() {
  add("/redfish/v1/ThermalEquipment", [](double) -> json::value {
    auto o = resource("#ThermalEquipment.v1_1_0.ThermalEquipment", "/redfish/v1/ThermalEquipment",
                      "ThermalEquipment", "Cooling Equipment");
    o["Status"] = json::object{{"State", "Enabled"}, {"HealthRollup", "OK"}};
    o["CDUs"] = link("/redfish/v1/ThermalEquipment/CDUs");
    o["CoolingLoops"] = link("/redfish/v1/ThermalEquipment/CoolingLoops");
    return o;
  });
  const std::string cdu = "/redfish/v1/ThermalEquipment/CDUs/1";
  add("/redfish/v1/ThermalEquipment/CDUs", [cdu](double) -> json::value {
    return collection("CoolingUnitCollection", "Cooling Distribution Units", "/redfish/v1/ThermalEquipment/CDUs", {cdu});
  });
  add(cdu, [this, cdu](double t) -> json::value {
    auto o = resource("#CoolingUnit.v1_1_0.CoolingUnit", cdu, "1", "In-Rack Cooling Distribution Unit");
    o["EquipmentType"] = "CDU";
    o["Manufacturer"] = "railyard";
    o["Model"] = "CDU-SIM";
    std::string health = "OK";
    for (const auto& l : leaks_) {
      if (l.uri.starts_with(cdu) && leak_state(l, t) != "OK") health = leak_state(l, t);
    }
    o["Status"] = status(health);
    o["Coolant"] = json::object{{"CoolantType", "Water"}, {"AdditiveName", "Propylene glycol"},
                                {"AdditivePercent", 25}, {"SpecificHeatkJoulesPerKgK", 3.9},
                                {"DensityKgPerCubicMeter", 1030}};
    o["PrimaryCoolantConnectors"] = link(cdu + "/PrimaryCoolantConnectors");
    o["SecondaryCoolantConnectors"] = link(cdu + "/SecondaryCoolantConnectors");
    o["LeakDetection"] = link(cdu + "/LeakDetection");
    o["Links"] = json::object{{"Chassis", json::array{link(chassis_)}}};
    return o;
  });
  add(cdu + "/PrimaryCoolantConnectors", [cdu](double) -> json::value {
    return collection("CoolantConnectorCollection", "Facility Side Connections", cdu + "/PrimaryCoolantConnectors",
                      {cdu + "/PrimaryCoolantConnectors/1"});
  });
  add(cdu + "/PrimaryCoolantConnectors/1", [this, cdu](double t) -> json::value {
    // The facility side has no Sensors of its own in this host's view: plain
    // readings. It warms a little when the secondary loop does.
    auto o = resource("#CoolantConnector.v1_1_0.CoolantConnector", cdu + "/PrimaryCoolantConnectors/1", "1",
                      "Facility Water Connection");
    o["CoolantConnectorType"] = "Pair";
    const double supply = round_to(timeline_.host().supply_celsius - 6.0, 0.1);
    const double back = round_to(timeline_.supply_celsius(t) + 2.0, 0.1);
    o["SupplyTemperatureCelsius"] = json::object{{"Reading", supply}};
    o["ReturnTemperatureCelsius"] = json::object{{"Reading", back}};
    o["FlowLitersPerMinute"] = json::object{{"Reading", 180.0}};
    o["SupplyPressurekPa"] = json::object{{"Reading", 310.0}};
    o["Status"] = status();
    return o;
  });
  add(cdu + "/SecondaryCoolantConnectors", [cdu](double) -> json::value {
    return collection("CoolantConnectorCollection", "Rack Side Connections", cdu + "/SecondaryCoolantConnectors",
                      {cdu + "/SecondaryCoolantConnectors/1"});
  });
  add(cdu + "/SecondaryCoolantConnectors/1", [this, cdu](double t) -> json::value {
    auto o = resource("#CoolantConnector.v1_1_0.CoolantConnector", cdu + "/SecondaryCoolantConnectors/1", "1",
                      "Connection to " + options_.chassis_id);
    o["CoolantConnectorType"] = "Pair";
    o["SupplyTemperatureCelsius"] = excerpt("CoolantSupplyTemp", t);
    o["ReturnTemperatureCelsius"] = excerpt("CoolantReturnTemp", t);
    o["FlowLitersPerMinute"] = excerpt("CoolantFlow", t);
    o["SupplyPressurekPa"] = excerpt("CoolantSupplyPressure", t);
    o["ReturnPressurekPa"] = excerpt("CoolantReturnPressure", t);
    o["Status"] = status();
    return o;
  });
  const std::string leak = cdu + "/LeakDetection";
  add(leak, [this, leak](double t) -> json::value {
    auto o = resource("#LeakDetection.v1_1_0.LeakDetection", leak, "LeakDetection", "CDU Leak Detection");
    json::array detectors;
    for (const auto& l : leaks_) {
      if (!l.uri.starts_with(leak)) continue;
      detectors.push_back(
          json::object{{"DataSourceUri", l.uri}, {"DeviceName", l.name}, {"DetectorState", leak_state(l, t)}});
    }
    json::object group{{"GroupName", "CDU"}};
    group["Detectors"] = std::move(detectors);
    o["LeakDetectorGroups"] = json::array{std::move(group)};
    o["LeakDetectors"] = link(leak + "/LeakDetectors");
    o["Status"] = status();
    return o;
  });
  std::vector<std::string> cdu_detectors;
  for (const auto& l : leaks_) {
    if (l.uri.starts_with(leak)) cdu_detectors.push_back(l.uri);
  }
  add(leak + "/LeakDetectors", [leak, cdu_detectors](double) -> json::value {
    return collection("LeakDetectorCollection", "Leak Detectors", leak + "/LeakDetectors", cdu_detectors);
  });

  const std::string loop = "/redfish/v1/ThermalEquipment/CoolingLoops/RackSecondary";
  add("/redfish/v1/ThermalEquipment/CoolingLoops", [loop](double) -> json::value {
    return collection("CoolingLoopCollection", "Cooling Loops", "/redfish/v1/ThermalEquipment/CoolingLoops", {loop});
  });
  add(loop, [this, loop](double t) -> json::value {
    auto o = resource("#CoolingLoop.v1_0_3.CoolingLoop", loop, "RackSecondary", "Rack Secondary Loop");
    const double level = round_to(
        timeline_.adjust(loop + "/CoolantLevelPercent", timeline_.host().coolant_level_percent, t), 0.1);
    o["CoolantLevelPercent"] = json::object{{"Reading", level}};
    o["CoolantLevelStatus"] = level < 50 ? "Critical" : level < 70 ? "Warning" : "OK";
    o["Coolant"] = json::object{{"CoolantType", "Water"}, {"AdditiveName", "Propylene glycol"},
                                {"AdditivePercent", 25}};
    o["SupplyEquipmentNames"] = json::array{"CDU 1"};
    o["ConsumingEquipmentNames"] = json::array{options_.chassis_id};
    o["RatedFlowLitersPerMinute"] = 240;
    o["Status"] = status();
    o["Links"] = json::object{{"Chassis", json::array{link(chassis_)}}};
    return o;
  });
}

// ---------------------------------------------------------------------------

std::optional<json::value> Model::get(std::string_view path, double t) const {
  const auto it = docs_.find(canonical_path(path));
  if (it == docs_.end()) return std::nullopt;
  return it->second(t);
}

Samples Model::samples(double t) const {
  Samples out;
  if (options_.schema == Schema::legacy) {
    // Legacy documents carry no stable URIs per sensor: events point at the
    // Thermal/Power member.
    int temp = 0;
    for (const auto& s : sensors_) {
      if (s.reading_type == "Temperature") {
        out.sensors.push_back({fmt::format("{}/Thermal#/Temperatures/{}", chassis_, temp++), s.name, s.units,
                               value(s, t), s.limits});
      } else if (s.id == "TotalPower") {
        out.sensors.push_back({chassis_ + "/Power#/PowerControl/0", s.name, s.units, value(s, t), s.limits});
      }
    }
  } else {
    for (const auto& s : sensors_) out.sensors.push_back({sensor_uri(s.id), s.name, s.units, value(s, t), s.limits});
  }
  for (const auto& l : leaks_) {
    // The legacy schema has no leak detectors; the event still names where.
    out.leaks.push_back({options_.schema == Schema::legacy ? chassis_ : l.uri, l.name, leak_state(l, t)});
  }
  return out;
}

std::vector<std::string> Model::paths() const {
  std::vector<std::string> out;
  for (const auto& [p, b] : docs_) out.push_back(p);
  return out;
}

std::vector<std::string> Model::sensor_uris() const {
  std::vector<std::string> out;
  if (options_.schema == Schema::legacy) return out;
  for (const auto& s : sensors_) out.push_back(sensor_uri(s.id));
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Model::leak_detector_uris() const {
  std::vector<std::string> out;
  if (options_.schema == Schema::legacy) return out;
  for (const auto& l : leaks_) out.push_back(l.uri);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace railyard::bmcsim
