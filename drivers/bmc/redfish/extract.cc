#include "drivers/bmc/redfish/extract.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <optional>
#include <utility>

#include "drivers/bmc/redfish/json_reader.h"

namespace railyard::redfish {
namespace json = boost::json;

namespace {

// ---------------------------------------------------------------------------
// Sensor ReadingType -> kind and the ReadingUnits the schema mandates for it.

struct ReadingTypeInfo {
  std::string_view type;
  Kind kind;
  std::array<std::string_view, 2> units;
};

constexpr std::array<ReadingTypeInfo, 18> kReadingTypes{{
    {"Temperature", Kind::temperature, {"Cel", ""}},
    {"Humidity", Kind::humidity, {"%", ""}},
    {"Power", Kind::power, {"W", ""}},
    {"EnergykWh", Kind::energy, {"kW.h", ""}},
    {"EnergyJoules", Kind::energy, {"J", ""}},
    {"EnergyWh", Kind::energy, {"W.h", ""}},
    {"Voltage", Kind::voltage, {"V", ""}},
    {"Current", Kind::current, {"A", ""}},
    {"Frequency", Kind::frequency, {"Hz", ""}},
    {"Pressure", Kind::pressure, {"Pa", ""}},  // deprecated, Pa
    {"PressurePa", Kind::pressure, {"Pa", ""}},
    {"PressurekPa", Kind::pressure, {"kPa", ""}},
    {"Barometric", Kind::pressure, {"mm[Hg]", ""}},
    {"LiquidFlow", Kind::flow, {"L/s", ""}},  // deprecated, L/s
    {"LiquidFlowLPM", Kind::flow, {"L/min", ""}},
    {"Rotational", Kind::fan, {"RPM", "{rev}/min"}},
    {"Percent", Kind::percent, {"%", ""}},
    {"Heat", Kind::heat, {"kW", ""}},
}};

const ReadingTypeInfo* find_reading_type(std::string_view type) {
  for (const auto& info : kReadingTypes) {
    if (info.type == type) return &info;
  }
  return nullptr;
}

// A Sensor without ReadingType (common: DMTF's own liquid-cooled mockup has
// temperature sensors with only ReadingUnits "Cel").
Kind kind_for_unit(std::string_view ucum) {
  if (ucum == "kW") return Kind::heat;
  switch (convert_unit(ucum).unit) {
    case Unit::celsius: return Kind::temperature;
    case Unit::watts: return Kind::power;
    case Unit::kilowatt_hours: return Kind::energy;
    case Unit::litres_per_minute: return Kind::flow;
    case Unit::kilopascals: return Kind::pressure;
    case Unit::percent: return Kind::percent;
    case Unit::rpm: return Kind::fan;
    case Unit::volts: return Kind::voltage;
    case Unit::amperes: return Kind::current;
    case Unit::hertz: return Kind::frequency;
    default: return Kind::other;
  }
}

// Kinds a Sensor reports that an excerpt pointing at it may make more precise.
bool is_generic(Kind kind) {
  return kind == Kind::temperature || kind == Kind::pressure || kind == Kind::percent ||
         kind == Kind::other;
}

bool expects_value(State state) { return state == State::enabled || state == State::unknown; }

std::optional<double> health_value(Health health) {
  switch (health) {
    case Health::ok: return 0.0;
    case Health::warning: return 1.0;
    case Health::critical: return 2.0;
    case Health::unknown: break;
  }
  return std::nullopt;
}

// "/redfish/v1/X/" , "/redfish/v1/X?$expand=." and "/redfish/v1/X" are one
// resource; a fragment names a member inside it and is kept.
std::string canonical_ref(std::string_view uri) {
  std::string_view fragment;
  if (const auto hash = uri.find('#'); hash != std::string_view::npos) {
    fragment = uri.substr(hash);
    uri = uri.substr(0, hash);
  }
  if (const auto query = uri.find('?'); query != std::string_view::npos) uri = uri.substr(0, query);
  while (uri.size() > 1 && uri.back() == '/') uri.remove_suffix(1);
  std::string out(uri);
  out.append(fragment);
  return out;
}

struct StatusInfo {
  Health health = Health::unknown;
  State state = State::unknown;
};

// ---------------------------------------------------------------------------

class Extractor {
 public:
  Extractor(std::string_view uri, const ExtractContext& context, ExtractResult& result)
      : uri_(canonical_ref(uri)),
        chassis_(context.chassis_id.empty() ? chassis_from_uri(uri_) : context.chassis_id),
        read_at_(context.read_at),
        result_(result),
        reader_(uri_, result.problems) {}

  void document(const json::value& doc, ResourceKind hint, bool check_id);

 private:
  struct Excerpt {
    std::string_view key;
    Kind kind;
    std::string_view ucum;   // unit fixed by the property name
    std::string_view label;  // appended to the parent's name
  };

  Reading base(std::string id, std::string name) const;
  StatusInfo status(const json::object& o, std::string_view where);
  std::string name_of(const json::object& o, std::string_view where, std::string_view fallback);
  void convert(Reading& r, const UnitConversion& conversion);

  void sensor(const json::object& o);
  void excerpt(const json::object& parent, const Excerpt& e, std::string_view where,
               std::string_view parent_name, const StatusInfo& st);
  void excerpt_array(const json::object& parent, const Excerpt& e, std::string_view where,
                     std::string_view parent_name, const StatusInfo& st);
  void excerpt_object(const json::object& ex, std::string id, std::string name, Kind kind,
                      std::string_view ucum, const StatusInfo& st, std::string_view where);
  void health_reading(const json::object& o, std::string_view name, const StatusInfo& st);

  void legacy_thermal(const json::object& o);
  void legacy_power(const json::object& o);
  void legacy_member(const json::object& m, std::string_view array, std::size_t index,
                     std::string_view value_key, Kind kind, std::string_view ucum);
  void thermal_metrics(const json::object& o);
  void environment_metrics(const json::object& o);
  void fan(const json::object& o);
  void pump(const json::object& o);
  void coolant_connector(const json::object& o);
  void leak_detector(const json::object& o);
  void leak_detection(const json::object& o);
  void power_supply(const json::object& o);
  void power_supply_metrics(const json::object& o);
  void control(const json::object& o);
  void cooling_unit(const json::object& o);
  void cooling_loop(const json::object& o);
  void collection(const json::object& o, ResourceKind kind);
  std::optional<std::string> member_ref(const json::object& m, std::string_view where);

  std::string uri_;
  std::string chassis_;
  TimePoint read_at_;
  ExtractResult& result_;
  JsonReader reader_;
};

// A member's own @odata.id, canonical, when it names a resource of this
// service: anything else ("?x", "http://elsewhere/...", "") would give a
// reading no identity, or another host's, so it is counted and not used.
std::optional<std::string> Extractor::member_ref(const json::object& m, std::string_view where) {
  const auto id = reader_.string(m, "@odata.id", where);
  if (!id) return std::nullopt;
  auto ref = canonical_ref(*id);
  if (is_service_uri(ref)) return ref;
  reader_.report(ProblemKind::id_mismatch, pointer(where, "@odata.id"),
                 fmt::format("@odata.id {:?} is not a /redfish/v1 path", std::string_view(*id).substr(0, 80)));
  return std::nullopt;
}

Reading Extractor::base(std::string id, std::string name) const {
  Reading r;
  r.id = std::move(id);
  r.name = std::move(name);
  r.chassis_id = chassis_;
  r.source_uri = uri_;
  r.read_at = read_at_;
  return r;
}

StatusInfo Extractor::status(const json::object& o, std::string_view where) {
  StatusInfo st;
  const auto* s = reader_.object(o, "Status", where);
  if (s == nullptr) return st;
  const auto sw = pointer(where, "Status");
  if (auto h = reader_.string(*s, "Health", sw)) st.health = parse_health(*h);
  if (auto state = reader_.string(*s, "State", sw)) st.state = parse_state(*state);
  return st;
}

std::string Extractor::name_of(const json::object& o, std::string_view where,
                               std::string_view fallback) {
  if (auto n = reader_.string(o, "Name", where)) return std::string(*n);
  if (auto n = reader_.string(o, "DeviceName", where)) return std::string(*n);
  return std::string(fallback);
}

void Extractor::convert(Reading& r, const UnitConversion& conversion) {
  // 1e308 kW is not a reading: a value that overflows on conversion is
  // withheld rather than reported as infinity.
  auto apply = [this, &conversion](std::optional<double>& v) {
    if (!v) return;
    v = conversion.apply(*v);
    if (!std::isfinite(*v)) {
      v.reset();
      reader_.report(ProblemKind::wrong_type, "", "number out of range after unit conversion");
    }
  };
  r.unit = conversion.unit;
  apply(r.value);
  auto& t = r.thresholds;
  for (auto* v : {&t.upper_caution, &t.upper_critical, &t.upper_fatal, &t.lower_caution,
                  &t.lower_critical, &t.lower_fatal, &t.upper_caution_user,
                  &t.upper_critical_user, &t.lower_caution_user, &t.lower_critical_user}) {
    apply(*v);
  }
}

void Extractor::document(const json::value& doc, ResourceKind hint, bool check_id) {
  const auto* o = doc.if_object();
  if (o == nullptr) {
    reader_.report(ProblemKind::wrong_type, "", "document is not a JSON object");
    return;
  }
  ResourceKind kind = ResourceKind::unknown;
  if (auto type = reader_.string(*o, "@odata.type", "")) {
    kind = kind_from_odata_type(*type);
    if (kind == ResourceKind::unknown && hint == ResourceKind::unknown) {
      result_.kind = kind;
      return;  // a resource we do not read: not a problem
    }
  } else if (hint == ResourceKind::unknown) {
    reader_.missing("", "@odata.type");
  }
  if (kind == ResourceKind::unknown) kind = hint;
  result_.kind = kind;

  if (check_id) {
    if (auto id = reader_.string(*o, "@odata.id", "")) {
      if (canonical_ref(*id) != uri_) {
        reader_.report(ProblemKind::id_mismatch, "/@odata.id",
                       fmt::format("@odata.id is {}", *id));
      }
    }
  }

  using K = ResourceKind;
  switch (kind) {
    case K::sensor: sensor(*o); break;
    case K::thermal: legacy_thermal(*o); break;
    case K::power: legacy_power(*o); break;
    case K::thermal_metrics: thermal_metrics(*o); break;
    case K::environment_metrics: environment_metrics(*o); break;
    case K::fan: fan(*o); break;
    case K::pump: pump(*o); break;
    case K::coolant_connector: coolant_connector(*o); break;
    case K::leak_detector: leak_detector(*o); break;
    case K::leak_detection: leak_detection(*o); break;
    case K::power_supply: power_supply(*o); break;
    case K::power_supply_metrics: power_supply_metrics(*o); break;
    case K::control: control(*o); break;
    case K::cooling_unit: cooling_unit(*o); break;
    case K::cooling_loop: cooling_loop(*o); break;
    default:
      if (is_collection(kind)) collection(*o, kind);
      break;  // discovery-only resources carry no readings
  }
}

// An expanded collection ($expand): each member is a whole resource.
void Extractor::collection(const json::object& o, ResourceKind kind) {
  const auto* members = reader_.array(o, "Members", "");
  if (members == nullptr) return;
  for (std::size_t i = 0; i < members->size(); ++i) {
    const auto* m = (*members)[i].if_object();
    const auto where = pointer("/Members", i);
    if (m == nullptr) {
      reader_.report(ProblemKind::wrong_type, where, "member is not an object");
      continue;
    }
    if (m->size() <= 1) continue;  // a bare link: not expanded
    if (!m->contains("@odata.id")) {
      reader_.missing(where, "@odata.id");
      continue;
    }
    const auto id = member_ref(*m, where);
    if (!id) continue;
    ExtractContext member_context{.chassis_id = chassis_, .read_at = read_at_,
                                  .hint = member_kind(kind)};
    // Members of a chassis collection belong to themselves, not to the caller's chassis.
    if (kind == ResourceKind::chassis_collection) member_context.chassis_id.clear();
    Extractor member(*id, member_context, result_);
    const auto before = result_.kind;
    member.document((*members)[i], member_kind(kind), false);
    result_.kind = before;
  }
}

// --- Sensor ----------------------------------------------------------------

void Extractor::sensor(const json::object& o) {
  const auto st = status(o, "");
  Reading r = base(uri_, name_of(o, "", last_segment(uri_)));
  r.health = st.health;
  r.state = st.state;
  if (auto pc = reader_.string(o, "PhysicalContext", "")) r.physical_context = *pc;

  const auto type = reader_.string(o, "ReadingType", "");
  const auto units = reader_.string(o, "ReadingUnits", "");
  if (units) r.raw_unit = *units;

  const ReadingTypeInfo* info = type ? find_reading_type(*type) : nullptr;
  UnitConversion conversion;
  bool trusted = true;
  if (info != nullptr) {
    r.kind = info->kind;
    std::string_view ucum = info->units[0];
    if (units) {
      const bool allowed = std::find(info->units.begin(), info->units.end(), *units) !=
                               info->units.end() &&
                           !units->empty();
      if (!allowed) {
        reader_.report(ProblemKind::unit_mismatch, "/ReadingUnits",
                       fmt::format("ReadingType {} with ReadingUnits '{}'", *type, *units));
        trusted = false;
      } else {
        ucum = *units;
      }
    }
    conversion = convert_unit(ucum);
  } else if (units) {
    r.kind = type ? Kind::other : kind_for_unit(*units);
    conversion = convert_unit(*units);
  } else {
    r.kind = Kind::other;
    conversion = {Unit::none, 1.0, 0.0};
  }
  // A speed (Percent or Rotational) says what spins only in PhysicalContext.
  if (r.kind == Kind::percent || r.kind == Kind::fan) {
    if (r.physical_context == "Fan") r.kind = Kind::fan;
    if (r.physical_context == "Pump") r.kind = Kind::pump;
  }

  r.value = reader_.number(o, "Reading", "");
  if (!o.contains("Reading") && expects_value(st.state)) reader_.missing("", "Reading");

  if (const auto* t = reader_.object(o, "Thresholds", "")) {
    auto threshold = [&](std::string_view key) -> std::optional<double> {
      const auto* entry = reader_.object(*t, key, "/Thresholds");
      if (entry == nullptr) return std::nullopt;
      return reader_.number(*entry, "Reading", pointer("/Thresholds", key));
    };
    auto& th = r.thresholds;
    th.upper_caution = threshold("UpperCaution");
    th.upper_critical = threshold("UpperCritical");
    th.upper_fatal = threshold("UpperFatal");
    th.lower_caution = threshold("LowerCaution");
    th.lower_critical = threshold("LowerCritical");
    th.lower_fatal = threshold("LowerFatal");
    th.upper_caution_user = threshold("UpperCautionUser");
    th.upper_critical_user = threshold("UpperCriticalUser");
    th.lower_caution_user = threshold("LowerCautionUser");
    th.lower_critical_user = threshold("LowerCriticalUser");
  }
  if (!trusted) {
    // Never guess a scale: the value and its limits are withheld.
    r.value.reset();
    r.thresholds = {};
    r.unit = convert_unit(r.raw_unit).unit;
  } else {
    convert(r, conversion);
  }
  result_.readings.push_back(std::move(r));
}

// --- Excerpts (SensorExcerpt and friends) ------------------------------------

void Extractor::excerpt_object(const json::object& ex, std::string id, std::string name, Kind kind,
                               std::string_view ucum, const StatusInfo& st,
                               std::string_view where) {
  Reading r = base(std::move(id), std::move(name));
  r.kind = kind;
  r.raw_unit = ucum;
  r.health = st.health;
  r.state = st.state;
  r.value = reader_.number(ex, "Reading", where);
  if (auto dsu = reader_.string(ex, "DataSourceUri", where)) r.data_source_uri = canonical_ref(*dsu);
  if (auto pc = reader_.string(ex, "PhysicalContext", where)) r.physical_context = *pc;
  convert(r, ucum == "boolean" ? UnitConversion{Unit::boolean, 1.0, 0.0} : convert_unit(ucum));
  result_.readings.push_back(std::move(r));
}

void Extractor::excerpt(const json::object& parent, const Excerpt& e, std::string_view where,
                        std::string_view parent_name, const StatusInfo& st) {
  const auto* ex = reader_.object(parent, e.key, where);
  if (ex == nullptr) return;
  const auto ptr = pointer(where, e.key);
  std::string name = parent_name.empty() ? std::string(e.label)
                                         : fmt::format("{} {}", parent_name, e.label);
  if (auto dn = reader_.string(*ex, "DeviceName", ptr)) name = *dn;
  excerpt_object(*ex, uri_ + "#" + ptr, std::move(name), e.kind, e.ucum, st, ptr);
}

void Extractor::excerpt_array(const json::object& parent, const Excerpt& e,
                              std::string_view where, std::string_view parent_name,
                              const StatusInfo& st) {
  const auto* items = reader_.array(parent, e.key, where);
  if (items == nullptr) return;
  const auto base_ptr = pointer(where, e.key);
  for (std::size_t i = 0; i < items->size(); ++i) {
    const auto ptr = pointer(base_ptr, i);
    const auto* ex = (*items)[i].if_object();
    if (ex == nullptr) {
      reader_.report(ProblemKind::wrong_type, ptr, "array member is not an object");
      continue;
    }
    std::string name = fmt::format("{} {} {}", parent_name, e.label, i);
    if (auto dn = reader_.string(*ex, "DeviceName", ptr)) name = *dn;
    excerpt_object(*ex, uri_ + "#" + ptr, std::move(name), e.kind, e.ucum, st, ptr);
  }
}

void Extractor::health_reading(const json::object& o, std::string_view name,
                               const StatusInfo& st) {
  if (!o.contains("Status")) {
    reader_.missing("", "Status");
    return;
  }
  Reading r = base(uri_, std::string(name));
  r.kind = Kind::health;
  r.unit = Unit::none;
  r.health = st.health;
  r.state = st.state;
  if (expects_value(st.state)) r.value = health_value(st.health);
  result_.readings.push_back(std::move(r));
}

// --- Legacy Thermal / Power --------------------------------------------------

void Extractor::legacy_member(const json::object& m, std::string_view array, std::size_t index,
                              std::string_view value_key, Kind kind, std::string_view ucum) {
  const auto where = pointer(pointer("", array), index);
  std::string id = member_ref(m, where).value_or(uri_ + "#" + where);
  std::string name = name_of(m, where, "");
  if (name.empty()) {
    if (auto fan_name = reader_.string(m, "FanName", where)) name = *fan_name;  // Thermal v1_0
  }
  if (name.empty()) name = fmt::format("{} {}", array, index);
  const auto st = status(m, where);
  Reading r = base(std::move(id), std::move(name));
  r.kind = kind;
  r.health = st.health;
  r.state = st.state;
  r.raw_unit = ucum;
  if (auto pc = reader_.string(m, "PhysicalContext", where)) r.physical_context = *pc;

  r.value = reader_.number(m, value_key, where);
  if (!m.contains(value_key) && expects_value(st.state)) reader_.missing(where, value_key);

  auto& th = r.thresholds;
  th.upper_caution = reader_.number(m, "UpperThresholdNonCritical", where);
  th.upper_critical = reader_.number(m, "UpperThresholdCritical", where);
  th.upper_fatal = reader_.number(m, "UpperThresholdFatal", where);
  th.lower_caution = reader_.number(m, "LowerThresholdNonCritical", where);
  th.lower_critical = reader_.number(m, "LowerThresholdCritical", where);
  th.lower_fatal = reader_.number(m, "LowerThresholdFatal", where);
  convert(r, convert_unit(ucum));
  result_.readings.push_back(std::move(r));
}

void Extractor::legacy_thermal(const json::object& o) {
  if (const auto* temps = reader_.array(o, "Temperatures", "")) {
    for (std::size_t i = 0; i < temps->size(); ++i) {
      if (const auto* m = (*temps)[i].if_object()) {
        legacy_member(*m, "Temperatures", i, "ReadingCelsius", Kind::temperature, "Cel");
      } else {
        reader_.report(ProblemKind::wrong_type, pointer("/Temperatures", i), "not an object");
      }
    }
  }
  if (const auto* fans = reader_.array(o, "Fans", "")) {
    for (std::size_t i = 0; i < fans->size(); ++i) {
      const auto* m = (*fans)[i].if_object();
      const auto where = pointer("/Fans", i);
      if (m == nullptr) {
        reader_.report(ProblemKind::wrong_type, where, "not an object");
        continue;
      }
      // Thermal v1_0 had ReadingRPM; later Reading + ReadingUnits (RPM | Percent).
      std::string_view key = "Reading";
      std::string_view units = "RPM";
      if (!m->contains("Reading") && m->contains("ReadingRPM")) {
        key = "ReadingRPM";
      } else if (auto u = reader_.string(*m, "ReadingUnits", where)) {
        units = *u;
        if (convert_unit(units).unit != Unit::rpm && convert_unit(units).unit != Unit::percent) {
          reader_.report(ProblemKind::unit_mismatch, pointer(where, "ReadingUnits"),
                         fmt::format("fan ReadingUnits '{}'", units));
          units = "";
        }
      }
      const auto before = result_.readings.size();
      legacy_member(*m, "Fans", i, key, Kind::fan, units);
      if (units.empty() && result_.readings.size() > before) {
        auto& r = result_.readings.back();
        r.value.reset();
        r.thresholds = {};
        r.unit = Unit::other;
      }
    }
  }
}

void Extractor::legacy_power(const json::object& o) {
  if (const auto* controls = reader_.array(o, "PowerControl", "")) {
    for (std::size_t i = 0; i < controls->size(); ++i) {
      const auto where = pointer("/PowerControl", i);
      const auto* m = (*controls)[i].if_object();
      if (m == nullptr) {
        reader_.report(ProblemKind::wrong_type, where, "not an object");
        continue;
      }
      const auto before = result_.readings.size();
      legacy_member(*m, "PowerControl", i, "PowerConsumedWatts", Kind::power, "W");
      std::string name = result_.readings.size() > before ? result_.readings.back().name
                                                          : std::string("PowerControl");
      const auto st = status(*m, where);
      if (const auto* limit = reader_.object(*m, "PowerLimit", where)) {
        const auto lw = pointer(where, "PowerLimit");
        // LimitInWatts null means "no limit configured": no reading.
        if (auto watts = reader_.number(*limit, "LimitInWatts", lw)) {
          const std::string member_id = result_.readings.size() > before
                                            ? result_.readings.back().id
                                            : uri_ + "#" + where;
          Reading r = base(member_id + "/PowerLimit", name + " limit");
          r.kind = Kind::power_limit;
          r.unit = Unit::watts;
          r.raw_unit = "W";
          r.value = watts;
          r.health = st.health;
          r.state = st.state;
          result_.readings.push_back(std::move(r));
        }
      }
    }
  }
  if (const auto* volts = reader_.array(o, "Voltages", "")) {
    for (std::size_t i = 0; i < volts->size(); ++i) {
      if (const auto* m = (*volts)[i].if_object()) {
        legacy_member(*m, "Voltages", i, "ReadingVolts", Kind::voltage, "V");
      } else {
        reader_.report(ProblemKind::wrong_type, pointer("/Voltages", i), "not an object");
      }
    }
  }
  if (const auto* psus = reader_.array(o, "PowerSupplies", "")) {
    for (std::size_t i = 0; i < psus->size(); ++i) {
      const auto where = pointer("/PowerSupplies", i);
      const auto* m = (*psus)[i].if_object();
      if (m == nullptr) {
        reader_.report(ProblemKind::wrong_type, where, "not an object");
        continue;
      }
      const std::string id = member_ref(*m, where).value_or(uri_ + "#" + where);
      const std::string name = name_of(*m, where, fmt::format("PowerSupplies {}", i));
      const auto st = status(*m, where);
      if (m->contains("Status")) {
        Reading r = base(id, name);
        r.kind = Kind::health;
        r.health = st.health;
        r.state = st.state;
        if (expects_value(st.state)) r.value = health_value(st.health);
        result_.readings.push_back(std::move(r));
      }
      for (std::string_view key : {"PowerInputWatts", "LastPowerOutputWatts"}) {
        if (!m->contains(key)) continue;
        Reading r = base(id + "/" + std::string(key),
                         fmt::format("{} {}", name, key == "PowerInputWatts" ? "input" : "output"));
        r.kind = Kind::power;
        r.unit = Unit::watts;
        r.raw_unit = "W";
        r.health = st.health;
        r.state = st.state;
        r.value = reader_.number(*m, key, where);
        result_.readings.push_back(std::move(r));
      }
    }
  }
}

// --- Current schema ----------------------------------------------------------

void Extractor::thermal_metrics(const json::object& o) {
  const StatusInfo none;
  const std::string name = name_of(o, "", "ThermalMetrics");
  if (const auto* summary = reader_.object(o, "TemperatureSummaryCelsius", "")) {
    for (std::string_view key : {"Internal", "Intake", "Ambient", "Exhaust"}) {
      excerpt(*summary, {key, Kind::temperature, "Cel", key}, "/TemperatureSummaryCelsius",
              "", none);
    }
  }
  excerpt_array(o, {"TemperatureReadingsCelsius", Kind::temperature, "Cel", "temperature"}, "",
                name, none);
  excerpt(o, {"DeltaPressurekPa", Kind::pressure, "kPa", "delta pressure"}, "", name, none);
  excerpt(o, {"AirFlowCubicMetersPerMinute", Kind::other, "m3/min", "air flow"}, "", name, none);
  excerpt(o, {"EnergykWh", Kind::energy, "kW.h", "energy"}, "", name, none);
  excerpt(o, {"PowerWatts", Kind::power, "W", "power"}, "", name, none);
}

void Extractor::environment_metrics(const json::object& o) {
  const StatusInfo none;
  const std::string name = name_of(o, "", "EnvironmentMetrics");
  static constexpr std::array<Excerpt, 9> kExcerpts{{
      {"TemperatureCelsius", Kind::temperature, "Cel", "temperature"},
      {"AmbientTemperatureCelsius", Kind::temperature, "Cel", "ambient temperature"},
      {"DewPointCelsius", Kind::temperature, "Cel", "dew point"},
      {"HumidityPercent", Kind::humidity, "%", "humidity"},
      {"AbsoluteHumidity", Kind::other, "g/m3", "absolute humidity"},
      {"PowerWatts", Kind::power, "W", "power"},
      {"PowerLoadPercent", Kind::percent, "%", "power load"},
      {"EnergykWh", Kind::energy, "kW.h", "energy"},
      {"EnergyJoules", Kind::energy, "J", "energy"},
  }};
  for (const auto& e : kExcerpts) excerpt(o, e, "", name, none);
  excerpt_array(o, {"FanSpeedsPercent", Kind::fan, "%", "fan"}, "", name, none);

  // A control excerpt: the configured limit is SetPoint, not Reading.
  if (const auto* limit = reader_.object(o, "PowerLimitWatts", "")) {
    if (auto sp = reader_.number(*limit, "SetPoint", "/PowerLimitWatts")) {
      Reading r = base(uri_ + "#/PowerLimitWatts", name + " power limit");
      r.kind = Kind::power_limit;
      r.unit = Unit::watts;
      r.raw_unit = "W";
      r.value = sp;
      if (auto dsu = reader_.string(*limit, "DataSourceUri", "/PowerLimitWatts")) {
        r.data_source_uri = canonical_ref(*dsu);
      }
      result_.readings.push_back(std::move(r));
    }
  }
}

void Extractor::fan(const json::object& o) {
  const auto st = status(o, "");
  const std::string name = name_of(o, "", last_segment(uri_));
  const auto before = result_.readings.size();
  excerpt(o, {"SpeedPercent", Kind::fan, "%", "speed"}, "", name, st);
  if (result_.readings.size() > before) {
    auto& r = result_.readings.back();
    r.name = name;
    if (auto pc = reader_.string(o, "PhysicalContext", "")) r.physical_context = *pc;
  } else if (expects_value(st.state)) {
    reader_.missing("", "SpeedPercent");
  }
  excerpt(o, {"PowerWatts", Kind::power, "W", "power"}, "", name, st);
}

void Extractor::pump(const json::object& o) {
  const auto st = status(o, "");
  const std::string name = name_of(o, "", last_segment(uri_));
  const auto before = result_.readings.size();
  excerpt(o, {"PumpSpeedPercent", Kind::pump, "%", "speed"}, "", name, st);
  if (result_.readings.size() > before) {
    result_.readings.back().name = name;
  } else if (expects_value(st.state)) {
    reader_.missing("", "PumpSpeedPercent");
  }
}

void Extractor::coolant_connector(const json::object& o) {
  const auto st = status(o, "");
  const std::string name = name_of(o, "", last_segment(uri_));
  static constexpr std::array<Excerpt, 8> kExcerpts{{
      {"SupplyTemperatureCelsius", Kind::coolant_supply_temperature, "Cel", "supply temperature"},
      {"ReturnTemperatureCelsius", Kind::coolant_return_temperature, "Cel", "return temperature"},
      {"DeltaTemperatureCelsius", Kind::coolant_delta_temperature, "Cel", "delta temperature"},
      {"FlowLitersPerMinute", Kind::flow, "L/min", "flow"},
      {"SupplyPressurekPa", Kind::coolant_supply_pressure, "kPa", "supply pressure"},
      {"ReturnPressurekPa", Kind::coolant_return_pressure, "kPa", "return pressure"},
      {"DeltaPressurekPa", Kind::coolant_delta_pressure, "kPa", "delta pressure"},
      {"HeatRemovedkW", Kind::heat, "kW", "heat removed"},
  }};
  for (const auto& e : kExcerpts) excerpt(o, e, "", name, st);
}

void Extractor::leak_detector(const json::object& o) {
  const auto st = status(o, "");
  Reading r = base(uri_, name_of(o, "", last_segment(uri_)));
  r.kind = Kind::leak;
  r.unit = Unit::boolean;
  r.raw_unit = "boolean";
  r.state = st.state;
  r.health = st.health;
  if (auto pc = reader_.string(o, "PhysicalContext", "")) r.physical_context = *pc;
  if (auto ds = reader_.string(o, "DetectorState", "")) {
    const auto h = parse_health(*ds);
    if (h == Health::unknown) {
      reader_.report(ProblemKind::wrong_type, "/DetectorState",
                     fmt::format("DetectorState '{}' is not OK, Warning or Critical", *ds));
    } else {
      r.health = h;  // for a leak reading, the leak's severity
      r.value = h == Health::ok ? 0.0 : 1.0;
    }
  } else if (!o.contains("DetectorState") && expects_value(st.state)) {
    reader_.missing("", "DetectorState");
  }
  result_.readings.push_back(std::move(r));
}

void Extractor::leak_detection(const json::object& o) {
  const auto* groups = reader_.array(o, "LeakDetectorGroups", "");
  if (groups == nullptr) return;
  for (std::size_t g = 0; g < groups->size(); ++g) {
    const auto gw = pointer("/LeakDetectorGroups", g);
    const auto* group = (*groups)[g].if_object();
    if (group == nullptr) {
      reader_.report(ProblemKind::wrong_type, gw, "not an object");
      continue;
    }
    const std::string group_name = [&] {
      if (auto n = reader_.string(*group, "GroupName", gw)) return std::string(*n);
      return fmt::format("group {}", g);
    }();
    excerpt(*group, {"HumidityPercent", Kind::humidity, "%", "humidity"}, gw, group_name, {});
    const auto* detectors = reader_.array(*group, "Detectors", gw);
    if (detectors == nullptr) continue;
    for (std::size_t d = 0; d < detectors->size(); ++d) {
      const auto dw = pointer(pointer(gw, "Detectors"), d);
      const auto* det = (*detectors)[d].if_object();
      if (det == nullptr) {
        reader_.report(ProblemKind::wrong_type, dw, "not an object");
        continue;
      }
      std::string name = fmt::format("{} detector {}", group_name, d);
      if (auto dn = reader_.string(*det, "DeviceName", dw)) name = *dn;
      Reading r = base(uri_ + "#" + dw, std::move(name));
      r.kind = Kind::leak;
      r.unit = Unit::boolean;
      r.raw_unit = "boolean";
      if (auto dsu = reader_.string(*det, "DataSourceUri", dw)) r.data_source_uri = canonical_ref(*dsu);
      if (auto ds = reader_.string(*det, "DetectorState", dw)) {
        const auto h = parse_health(*ds);
        if (h == Health::unknown) {
          reader_.report(ProblemKind::wrong_type, pointer(dw, "DetectorState"),
                         fmt::format("DetectorState '{}'", *ds));
        } else {
          r.health = h;
          r.value = h == Health::ok ? 0.0 : 1.0;
        }
      } else if (!det->contains("DetectorState")) {
        reader_.missing(dw, "DetectorState");
      }
      result_.readings.push_back(std::move(r));
    }
  }
}

void Extractor::power_supply(const json::object& o) {
  const auto st = status(o, "");
  health_reading(o, name_of(o, "", last_segment(uri_)), st);
}

void Extractor::power_supply_metrics(const json::object& o) {
  const auto st = status(o, "");
  const std::string name = name_of(o, "", "PowerSupplyMetrics");
  static constexpr std::array<Excerpt, 8> kExcerpts{{
      {"InputVoltage", Kind::voltage, "V", "input voltage"},
      {"InputCurrentAmps", Kind::current, "A", "input current"},
      {"InputPowerWatts", Kind::power, "W", "input power"},
      {"OutputPowerWatts", Kind::power, "W", "output power"},
      {"EnergykWh", Kind::energy, "kW.h", "energy"},
      {"FrequencyHz", Kind::frequency, "Hz", "frequency"},
      {"TemperatureCelsius", Kind::temperature, "Cel", "temperature"},
      {"FanSpeedPercent", Kind::fan, "%", "fan"},
  }};
  for (const auto& e : kExcerpts) excerpt(o, e, "", name, st);
  excerpt_array(o, {"FanSpeedsPercent", Kind::fan, "%", "fan"}, "", name, st);
  excerpt_array(o, {"RailVoltage", Kind::voltage, "V", "rail voltage"}, "", name, st);
  excerpt_array(o, {"RailCurrentAmps", Kind::current, "A", "rail current"}, "", name, st);
  excerpt_array(o, {"RailPowerWatts", Kind::power, "W", "rail power"}, "", name, st);
}

void Extractor::control(const json::object& o) {
  const auto type = reader_.string(o, "ControlType", "");
  if (!type || *type != "Power") return;  // only power limits matter to the policy
  const auto st = status(o, "");
  const std::string name = name_of(o, "", last_segment(uri_));
  Reading r = base(uri_, name);
  r.kind = Kind::power_limit;
  r.health = st.health;
  r.state = st.state;
  r.raw_unit = "W";
  bool trusted = true;
  if (auto u = reader_.string(o, "SetPointUnits", "")) {
    r.raw_unit = *u;
    if (convert_unit(*u).unit != Unit::watts) {
      reader_.report(ProblemKind::unit_mismatch, "/SetPointUnits",
                     fmt::format("Power control with SetPointUnits '{}'", *u));
      trusted = false;
    }
  }
  r.value = reader_.number(o, "SetPoint", "");
  if (trusted) {
    convert(r, convert_unit(r.raw_unit));
  } else {
    r.value.reset();
    r.unit = Unit::other;
  }
  result_.readings.push_back(std::move(r));
  // The controlled sensor is an excerpt of the power Sensor.
  excerpt(o, {"Sensor", Kind::power, "W", "reading"}, "", name, st);
}

void Extractor::cooling_unit(const json::object& o) {
  if (auto linked = linked_chassis(o); !linked.empty()) chassis_ = std::move(linked);
  const auto st = status(o, "");
  health_reading(o, name_of(o, "", last_segment(uri_)), st);
}

void Extractor::cooling_loop(const json::object& o) {
  if (auto linked = linked_chassis(o); !linked.empty()) chassis_ = std::move(linked);
  const auto st = status(o, "");
  const std::string name = name_of(o, "", last_segment(uri_));
  health_reading(o, name, st);
  excerpt(o, {"CoolantLevelPercent", Kind::coolant_level, "%", "coolant level"}, "", name, st);
}

}  // namespace

ExtractResult extract(std::string_view uri, std::string_view json_text,
                      const ExtractContext& context) {
  ExtractResult result;
  const auto canonical = canonical_ref(uri);
  auto doc = parse_json(json_text, canonical, result.problems);
  if (!doc) {
    result.kind = context.hint;
    return result;
  }
  Extractor(uri, context, result).document(*doc, context.hint, true);
  return result;
}

ExtractResult extract_parsed(std::string_view uri, const json::value& document,
                             const ExtractContext& context) {
  ExtractResult result;
  Extractor(uri, context, result).document(document, context.hint, true);
  return result;
}

std::vector<Reading> merge_sweep(std::vector<Reading> readings) {
  std::stable_sort(readings.begin(), readings.end(),
                   [](const Reading& a, const Reading& b) { return a.id < b.id; });
  // The same resource read twice in one sweep (an event-driven refresh racing
  // the poll): the first copy stands.
  readings.erase(std::unique(readings.begin(), readings.end(),
                             [](const Reading& a, const Reading& b) { return a.id == b.id; }),
                 readings.end());
  // Primary readings (Sensors, legacy members, leak detectors ...) by identity.
  std::map<std::string, std::size_t, std::less<>> primary;
  for (std::size_t i = 0; i < readings.size(); ++i) {
    if (readings[i].data_source_uri.empty()) primary.emplace(readings[i].id, i);
  }
  std::vector<bool> keep(readings.size(), true);
  std::vector<std::size_t> kept_excerpts;
  for (std::size_t i = 0; i < readings.size(); ++i) {
    const Reading& ex = readings[i];
    if (ex.data_source_uri.empty()) continue;
    if (auto it = primary.find(ex.data_source_uri); it != primary.end()) {
      Reading& sensor = readings[it->second];
      if (is_generic(sensor.kind) && !is_generic(ex.kind) && sensor.unit == ex.unit) {
        sensor.kind = ex.kind;
      }
      if (sensor.chassis_id.empty()) sensor.chassis_id = ex.chassis_id;
      keep[i] = false;
      continue;
    }
    const bool duplicate = std::any_of(
        kept_excerpts.begin(), kept_excerpts.end(), [&readings, &ex](std::size_t j) {
          const Reading& other = readings[j];
          return other.data_source_uri == ex.data_source_uri && other.kind == ex.kind &&
                 other.value == ex.value;
        });
    if (duplicate) {
      keep[i] = false;
    } else {
      kept_excerpts.push_back(i);
    }
  }
  std::vector<Reading> out;
  out.reserve(readings.size());
  for (std::size_t i = 0; i < readings.size(); ++i) {
    if (keep[i]) out.push_back(std::move(readings[i]));
  }
  return out;
}

}  // namespace railyard::redfish
