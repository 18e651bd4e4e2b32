#include "tools/bmc-sim/mockup.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

namespace railyard::bmcsim {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

std::optional<json::value> parse_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

std::optional<double> number_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

std::string string_at(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

bool of_type(const json::object& o, std::string_view type) {
  return string_at(o, "@odata.type").starts_with(fmt::format("#{}.", type));
}

std::optional<double> threshold(const json::object& o, std::string_view key) {
  const auto* t = o.if_contains("Thresholds");
  if (t == nullptr || !t->is_object()) return std::nullopt;
  const auto* e = t->as_object().if_contains(key);
  if (e == nullptr || !e->is_object()) return std::nullopt;
  return number_at(e->as_object(), "Reading");
}

}  // namespace

MockupSource::MockupSource(const Timeline& timeline, const fs::path& dir, std::string sse_uri)
    : timeline_(timeline), sse_uri_(std::move(sse_uri)) {
  if (fs::exists(dir / "redfish" / "v1" / "index.json")) {
    root_ = dir / "redfish" / "v1";
  } else if (fs::exists(dir / "index.json")) {
    root_ = dir;
  } else {
    throw std::runtime_error(fmt::format(
        "{}: no mockup here: expected {}/redfish/v1/index.json or {}/index.json (the service root)",
        dir.string(), dir.string(), dir.string()));
  }
  for (const auto& entry : fs::recursive_directory_iterator(root_)) {
    if (!entry.is_regular_file() || entry.path().filename() != "index.json") continue;
    const auto rel = fs::relative(entry.path().parent_path(), root_).generic_string();
    const std::string uri = rel == "." ? "/redfish/v1" : "/redfish/v1/" + rel;
    files_.emplace(uri, entry.path());
    const auto doc = parse_file(entry.path());
    if (!doc || !doc->is_object()) continue;
    const auto& o = doc->as_object();
    if (uri == "/redfish/v1") {
      const auto* f = o.if_contains("ProtocolFeaturesSupported");
      advertises_expand_ = f != nullptr && f->is_object() && f->as_object().contains("ExpandQuery");
    }
    if (of_type(o, "Sensor")) {
      SensorInfo s{.name = string_at(o, "Name"), .units = string_at(o, "ReadingUnits"),
                   .reading = number_at(o, "Reading").value_or(0.0), .limits = {}};
      s.limits = {.upper_caution = threshold(o, "UpperCaution"),
                  .upper_critical = threshold(o, "UpperCritical"),
                  .upper_fatal = threshold(o, "UpperFatal"),
                  .lower_caution = threshold(o, "LowerCaution"),
                  .lower_critical = threshold(o, "LowerCritical")};
      sensors_.emplace(uri, std::move(s));
    } else if (of_type(o, "LeakDetector")) {
      detectors_.emplace(uri, string_at(o, "Name"));
    }
  }
}

void MockupSource::rewrite(json::value& v, double t, int depth) const {
  if (depth > 32) return;
  if (auto* arr = v.if_array()) {
    for (auto& e : *arr) rewrite(e, t, depth + 1);
    return;
  }
  auto* o = v.if_object();
  if (o == nullptr) return;
  if (const auto dsu = canonical_path(string_at(*o, "DataSourceUri")); !dsu.empty()) {
    if (auto s = sensors_.find(dsu); s != sensors_.end() && o->contains("Reading") && timeline_.adjusts(dsu)) {
      (*o)["Reading"] = timeline_.adjust(dsu, s->second.reading, t);
    }
    if (detectors_.contains(dsu) && o->contains("DetectorState") && timeline_.leaks(dsu)) {
      (*o)["DetectorState"] = timeline_.leak_state(dsu, t);
    }
  }
  for (auto& [k, child] : *o) {
    if (child.is_object() || child.is_array()) rewrite(child, t, depth + 1);
  }
}

std::optional<json::value> MockupSource::get(std::string_view path, double t) const {
  const auto uri = canonical_path(path);
  const auto it = files_.find(uri);
  if (it == files_.end()) return std::nullopt;
  auto doc = parse_file(it->second);
  if (!doc) return std::nullopt;
  auto* o = doc->if_object();
  if (o == nullptr) return doc;
  if (auto s = sensors_.find(uri); s != sensors_.end() && timeline_.adjusts(uri)) {
    const double v = timeline_.adjust(uri, s->second.reading, t);
    (*o)["Reading"] = v;
    if (auto* st = o->if_contains("Status"); st != nullptr && st->is_object()) {
      st->as_object()["Health"] = health_for_band(band(s->second.limits, v));
    }
  }
  if (detectors_.contains(uri) && timeline_.leaks(uri)) {
    const auto state = timeline_.leak_state(uri, t);
    (*o)["DetectorState"] = state;
    if (auto* st = o->if_contains("Status"); st != nullptr && st->is_object()) st->as_object()["Health"] = state;
  }
  // Mockups rarely offer SSE; bmc-sim does, so that scenario events reach the client.
  if (uri == "/redfish/v1/EventService" && !o->contains("ServerSentEventUri")) {
    (*o)["ServerSentEventUri"] = sse_uri_;
  }
  rewrite(*doc, t, 0);
  return doc;
}

Samples MockupSource::samples(double t) const {
  Samples out;
  for (const auto& [uri, s] : sensors_) {
    if (!timeline_.adjusts(uri)) continue;
    out.sensors.push_back({uri, s.name, s.units, timeline_.adjust(uri, s.reading, t), s.limits});
  }
  for (const auto& [uri, name] : detectors_) {
    if (timeline_.leaks(uri)) out.leaks.push_back({uri, name, timeline_.leak_state(uri, t)});
  }
  return out;
}

}  // namespace railyard::bmcsim
