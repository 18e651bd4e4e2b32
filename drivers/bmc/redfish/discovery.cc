#include "drivers/bmc/redfish/discovery.h"

#include <utility>

#include "drivers/bmc/redfish/json_reader.h"

namespace railyard::redfish {
namespace json = boost::json;

namespace {

// Resources whose documents carry readings (what extract() reads).
bool has_readings(ResourceKind kind) {
  using K = ResourceKind;
  switch (kind) {
    case K::power:
    case K::thermal:
    case K::thermal_metrics:
    case K::environment_metrics:
    case K::sensor:
    case K::fan:
    case K::pump:
    case K::coolant_connector:
    case K::leak_detection:
    case K::leak_detector:
    case K::power_supply:
    case K::power_supply_metrics:
    case K::control:
    case K::cooling_unit:
    case K::cooling_loop: return true;
    default: return false;
  }
}

}  // namespace

std::string ExpandSupport::query() const {
  std::string_view what = no_links ? "." : expand_all ? "*" : "";
  if (what.empty()) return {};
  std::string q = "?$expand=";
  q.append(what);
  if (levels) q.append("($levels=1)");
  return q;
}

Discovery::Discovery(DiscoveryOptions options) : options_(options) {}

std::vector<Fetch> Discovery::start(std::string_view root_json) {
  auto doc = parse_json(root_json, "/redfish/v1", problems_);
  if (!doc) {
    started_ = true;
    return {};
  }
  return start_parsed(*doc);
}

std::vector<Fetch> Discovery::start_parsed(const json::value& root) {
  started_ = true;
  std::vector<Fetch> out;
  seen_.insert("/redfish/v1");
  handle("/redfish/v1", root, ResourceKind::service_root, "", false, out);
  return out;
}

std::vector<Fetch> Discovery::on_document(std::string_view uri, std::string_view json_text) {
  const auto key = normalise_uri(uri);
  auto it = pending_.find(key);
  if (it == pending_.end()) return {};
  auto doc = parse_json(json_text, key, problems_);
  if (!doc) {
    pending_.erase(it);
    failed_.insert(key);
    return {};
  }
  return on_parsed(uri, *doc);
}

std::vector<Fetch> Discovery::on_parsed(std::string_view uri, const json::value& document) {
  const auto key = normalise_uri(uri);
  auto it = pending_.find(key);
  if (it == pending_.end()) return {};
  const Pending p = std::move(it->second);
  pending_.erase(it);
  std::vector<Fetch> out;
  const bool requested_expand =
      is_collection(p.kind) && options_.use_expand && expand_.usable();
  handle(key, document, p.kind, p.chassis_id, requested_expand, out);
  return out;
}

void Discovery::on_failure(std::string_view uri) {
  const auto key = normalise_uri(uri);
  if (pending_.erase(key) > 0) failed_.insert(key);
}

std::vector<PollTarget> Discovery::poll_targets() const {
  std::vector<PollTarget> out;
  out.reserve(targets_.size());
  for (const auto& [uri, target] : targets_) out.push_back(target);
  return out;
}

void Discovery::queue(std::string_view link, ResourceKind kind, const std::string& chassis_id,
                      std::vector<Fetch>& out) {
  if (!is_service_uri(link)) return;  // another host, or garbage: never followed
  auto uri = normalise_uri(link);
  if (seen_.contains(uri)) return;
  if (seen_.size() >= options_.max_resources) {
    failed_.insert(std::move(uri));
    return;
  }
  seen_.insert(uri);
  pending_.emplace(uri, Pending{kind, chassis_id});
  out.push_back(Fetch{.uri = uri,
                      .kind = kind,
                      .chassis_id = chassis_id,
                      .expand = is_collection(kind) && options_.use_expand && expand_.usable()});
}

void Discovery::follow(const json::object& doc, std::string_view uri, std::string_view key,
                       ResourceKind kind, const std::string& chassis_id,
                       std::vector<Fetch>& out) {
  JsonReader reader(uri, problems_);
  const auto link = reader.link(doc, key, "");
  if (!link.empty()) queue(link, kind, chassis_id, out);
}

void Discovery::root(const json::object& doc, std::vector<Fetch>& out) {
  JsonReader reader("/redfish/v1", problems_);
  if (const auto* features = reader.object(doc, "ProtocolFeaturesSupported", "")) {
    if (const auto* e = reader.object(*features, "ExpandQuery", "/ProtocolFeaturesSupported")) {
      auto flag = [e](std::string_view key) {
        const auto* v = e->if_contains(json::string_view(key.data(), key.size()));
        return v != nullptr && v->is_bool() && v->get_bool();
      };
      expand_.expand_all = flag("ExpandAll");
      expand_.no_links = flag("NoLinks");
      expand_.links = flag("Links");
      expand_.levels = flag("Levels");
      if (auto max = reader.number(*e, "MaxLevels", "/ProtocolFeaturesSupported/ExpandQuery")) {
        expand_.max_levels = *max >= 0 && *max < 1000 ? static_cast<int>(*max) : 0;
      }
    }
  }
  const std::string none;
  follow(doc, "/redfish/v1", "Chassis", ResourceKind::chassis_collection, none, out);
  follow(doc, "/redfish/v1", "ThermalEquipment", ResourceKind::thermal_equipment, none, out);
  follow(doc, "/redfish/v1", "EventService", ResourceKind::event_service, none, out);
  if (options_.processors || options_.memory) {
    follow(doc, "/redfish/v1", "Systems", ResourceKind::computer_system_collection, none, out);
  }
}

void Discovery::collection(const std::string& uri, const json::object& doc, ResourceKind kind,
                           const std::string& chassis_id, bool requested_expand,
                           std::vector<Fetch>& out) {
  JsonReader reader(uri, problems_);
  const auto* members = reader.array(doc, "Members", "");
  if (members == nullptr) {
    if (!doc.contains("Members")) reader.missing("", "Members");
    return;
  }
  const auto child = member_kind(kind);
  std::size_t inline_members = 0;
  std::vector<std::string> inline_uris;
  for (std::size_t i = 0; i < members->size(); ++i) {
    const auto where = pointer("/Members", i);
    const auto* m = (*members)[i].if_object();
    if (m == nullptr) {
      reader.report(ProblemKind::wrong_type, where, "member is not an object");
      continue;
    }
    const auto id = reader.string(*m, "@odata.id", where);
    if (!id) {
      if (!m->contains("@odata.id")) reader.missing(where, "@odata.id");
      continue;
    }
    // Members of the chassis collection are chassis of their own.
    const std::string& member_chassis = kind == ResourceKind::chassis_collection
                                            ? last_segment(*id)
                                            : chassis_id;
    if (m->size() > 1 && is_service_uri(*id)) {
      // Expanded: the member is here in full.
      auto member_uri = normalise_uri(*id);
      ++inline_members;
      if (!seen_.contains(member_uri)) {
        seen_.insert(member_uri);
        handle(member_uri, (*members)[i], child, member_chassis, false, out);
      }
      inline_uris.push_back(std::move(member_uri));
    } else {
      queue(*id, child, member_chassis, out);
    }
  }
  // Poll a fully expanded collection of readings in one GET per sweep.
  if (requested_expand && has_readings(child) && inline_members > 0 &&
      inline_members == members->size()) {
    for (const auto& u : inline_uris) {
      targets_.erase(u);
      covered_.insert(u);
    }
    targets_[uri] = PollTarget{.uri = uri, .kind = kind, .chassis_id = chassis_id, .expand = true};
  }
}

void Discovery::handle(const std::string& uri, const json::value& value, ResourceKind expected,
                       const std::string& chassis_id, bool requested_expand,
                       std::vector<Fetch>& out) {
  JsonReader reader(uri, problems_);
  const auto* doc = value.if_object();
  if (doc == nullptr) {
    reader.report(ProblemKind::wrong_type, "", "document is not a JSON object");
    return;
  }
  ResourceKind kind = expected;
  if (auto type = reader.string(*doc, "@odata.type", "")) {
    ++types_[std::string(*type)];
    if (auto k = kind_from_odata_type(*type); k != ResourceKind::unknown) kind = k;
  }

  using K = ResourceKind;
  std::string chassis = chassis_id;
  switch (kind) {
    case K::service_root: root(*doc, out); break;
    case K::chassis: {
      chassis = last_segment(uri);
      const bool has_sensors = doc->contains("Sensors");
      if (!has_sensors || options_.legacy_with_sensors) {
        follow(*doc, uri, "Power", K::power, chassis, out);
        follow(*doc, uri, "Thermal", K::thermal, chassis, out);
      }
      follow(*doc, uri, "PowerSubsystem", K::power_subsystem, chassis, out);
      follow(*doc, uri, "ThermalSubsystem", K::thermal_subsystem, chassis, out);
      follow(*doc, uri, "EnvironmentMetrics", K::environment_metrics, chassis, out);
      follow(*doc, uri, "Sensors", K::sensor_collection, chassis, out);
      follow(*doc, uri, "LeakDetectors", K::leak_detector_collection, chassis, out);
      if (options_.controls) follow(*doc, uri, "Controls", K::control_collection, chassis, out);
      break;
    }
    case K::power_subsystem:
      if (options_.power_supplies) {
        follow(*doc, uri, "PowerSupplies", K::power_supply_collection, chassis, out);
      }
      break;
    case K::power_supply:
      if (options_.power_supplies) follow(*doc, uri, "Metrics", K::power_supply_metrics, chassis, out);
      break;
    case K::thermal_subsystem:
      follow(*doc, uri, "ThermalMetrics", K::thermal_metrics, chassis, out);
      follow(*doc, uri, "Fans", K::fan_collection, chassis, out);
      follow(*doc, uri, "Pumps", K::pump_collection, chassis, out);
      follow(*doc, uri, "CoolantConnectors", K::coolant_connector_collection, chassis, out);
      follow(*doc, uri, "LeakDetection", K::leak_detection, chassis, out);
      break;
    case K::leak_detection:
      follow(*doc, uri, "LeakDetectors", K::leak_detector_collection, chassis, out);
      break;
    case K::thermal_equipment:
      follow(*doc, uri, "CDUs", K::cooling_unit_collection, chassis, out);
      follow(*doc, uri, "ImmersionUnits", K::cooling_unit_collection, chassis, out);
      follow(*doc, uri, "HeatExchangers", K::cooling_unit_collection, chassis, out);
      follow(*doc, uri, "CoolingLoops", K::cooling_loop_collection, chassis, out);
      break;
    case K::cooling_unit:
    case K::cooling_loop: {
      if (auto linked = linked_chassis(*doc); !linked.empty()) chassis = std::move(linked);
      follow(*doc, uri, "EnvironmentMetrics", K::environment_metrics, chassis, out);
      follow(*doc, uri, "PrimaryCoolantConnectors", K::coolant_connector_collection, chassis, out);
      follow(*doc, uri, "SecondaryCoolantConnectors", K::coolant_connector_collection, chassis,
             out);
      follow(*doc, uri, "Pumps", K::pump_collection, chassis, out);
      follow(*doc, uri, "LeakDetection", K::leak_detection, chassis, out);
      break;
    }
    case K::computer_system: {
      if (auto linked = linked_chassis(*doc); !linked.empty()) chassis = std::move(linked);
      if (options_.processors) follow(*doc, uri, "Processors", K::processor_collection, chassis, out);
      if (options_.memory) follow(*doc, uri, "Memory", K::memory_collection, chassis, out);
      break;
    }
    case K::processor:
    case K::memory:
      follow(*doc, uri, "EnvironmentMetrics", K::environment_metrics, chassis, out);
      break;
    case K::event_service: {
      bool enabled = true;
      if (const auto* e = doc->if_contains("ServiceEnabled"); e != nullptr && e->is_bool()) {
        enabled = e->get_bool();
      }
      if (auto sse = reader.string(*doc, "ServerSentEventUri", ""); sse && enabled) {
        if (is_service_uri(*sse)) sse_uri_ = std::string(*sse);
      }
      break;
    }
    default:
      if (is_collection(kind)) collection(uri, *doc, kind, chassis, requested_expand, out);
      break;
  }
  // Only power limits are read from Controls (see extract.h).
  const bool power_control = kind != K::control || [&reader, doc] {
    auto type = reader.string(*doc, "ControlType", "");
    return type && *type == "Power";
  }();
  if (has_readings(kind) && power_control) {
    if (!covered_.contains(uri)) {
      targets_[uri] = PollTarget{.uri = uri, .kind = kind, .chassis_id = chassis, .expand = false};
    }
    if (options_.follow_data_sources) data_sources(value, chassis, 0, out);
  }
}

void Discovery::data_sources(const json::value& v, const std::string& chassis_id, int depth,
                             std::vector<Fetch>& out) {
  if (depth > 8) return;
  if (const auto* a = v.if_array()) {
    for (const auto& item : *a) data_sources(item, chassis_id, depth + 1, out);
    return;
  }
  const auto* o = v.if_object();
  if (o == nullptr) return;
  for (const auto& [key, item] : *o) {
    if (key == "DataSourceUri") {
      const auto* s = item.if_string();
      if (s == nullptr) continue;
      const std::string_view link(s->data(), s->size());
      // The kind is in the path: .../Sensors/<id>, .../Controls/<id>, .../LeakDetectors/<id>.
      const auto uri = normalise_uri(link);
      const auto slash = uri.rfind('/');
      if (slash == std::string::npos || slash == 0) continue;
      const std::string_view parent = std::string_view(uri).substr(0, slash);
      ResourceKind kind = ResourceKind::unknown;
      if (parent.ends_with("/Sensors")) kind = ResourceKind::sensor;
      if (parent.ends_with("/LeakDetectors")) kind = ResourceKind::leak_detector;
      if (parent.ends_with("/Controls") && options_.controls) kind = ResourceKind::control;
      if (kind == ResourceKind::unknown) continue;
      auto chassis = chassis_from_uri(uri);
      queue(link, kind, chassis.empty() ? chassis_id : chassis, out);
    } else if (item.is_object() || item.is_array()) {
      data_sources(item, chassis_id, depth + 1, out);
    }
  }
}

}  // namespace railyard::redfish
