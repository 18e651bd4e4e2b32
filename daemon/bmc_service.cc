#include "daemon/bmc_service.h"

#include <stdexcept>

#include <fmt/format.h>

#include "common/log.h"

namespace railyard::daemon {

namespace tel = railyard::telemetry;
using redfish::Kind;

namespace {
redfish::ClientConfig client_config(const config::BmcSection& b) {
  redfish::ClientConfig c;
  c.url = b.url;
  c.ca_file = b.ca_file;
  c.insecure = b.insecure;
  c.credentials_file = b.credentials_file;
  c.credential_name = b.credential;
  c.poll_interval = std::chrono::milliseconds(b.poll_interval_ms);
  c.request_timeout = std::chrono::milliseconds(b.timeout_ms);
  c.max_in_flight = b.max_in_flight;
  // The daemon stops within a second; the session DELETE gets half of it.
  c.stop_timeout = std::chrono::milliseconds(500);
  return c;
}

// The exported family of a reading, and the factor from Redfish's unit to
// the family's base unit.
struct Family {
  const char* name;
  const char* help;
  tel::Unit unit;
  double scale;
};

std::optional<Family> family_of(Kind kind, redfish::Unit unit) {
  switch (kind) {
    case Kind::temperature:
      return Family{"railyard_bmc_temperature_celsius", "BMC temperature sensors", tel::Unit::celsius, 1};
    case Kind::coolant_supply_temperature:
    case Kind::coolant_return_temperature:
    case Kind::coolant_delta_temperature:
      return Family{"railyard_bmc_coolant_temperature_celsius", "Coolant supply, return and delta temperatures",
                    tel::Unit::celsius, 1};
    case Kind::power:
    case Kind::heat:
      return Family{"railyard_bmc_power_watts", "Power drawn (or heat removed) as the BMC reports it",
                    tel::Unit::watts, 1};
    case Kind::power_limit:
      return Family{"railyard_bmc_power_limit_watts", "Power limits set in the BMC", tel::Unit::watts, 1};
    case Kind::flow:
      return Family{"railyard_bmc_coolant_flow_cubic_meters_per_second", "Coolant flow (BMC: L/min)",
                    tel::Unit::cubic_meters_per_second, 1.0 / 60000};
    case Kind::pressure:
    case Kind::coolant_supply_pressure:
    case Kind::coolant_return_pressure:
    case Kind::coolant_delta_pressure:
      return Family{"railyard_bmc_pressure_pascals", "Coolant pressures (BMC: kPa)", tel::Unit::pascals, 1000};
    case Kind::leak:
      return Family{"railyard_bmc_leak", "1 while a leak detector reports a leak", tel::Unit::none, 1};
    case Kind::fan:
    case Kind::pump:
      // One unit per family: a BMC reports some speeds in RPM and others in
      // percent of the maximum, and one series name for both mixed them.
      if (unit == redfish::Unit::rpm)
        return Family{"railyard_bmc_fan_speed_rpm", "Fan and pump speeds reported in RPM", tel::Unit::rpm, 1};
      if (unit == redfish::Unit::percent)
        return Family{"railyard_bmc_fan_speed_ratio",
                      "Fan and pump speeds reported as a share of their maximum (BMC: %)", tel::Unit::ratio, 0.01};
      return std::nullopt;
    default:
      return std::nullopt;
  }
}
}  // namespace

BmcService::BmcService(boost::asio::io_context& io, tel::CurlMulti& curl, tel::Registry& registry,
                       const config::Config& config)
    : url_(config.bmc.url),
      host_(config.daemon.host_name),
      client_(io, curl, client_config(config.bmc)),
      registry_(registry) {
  client_.on_sweep([this] {
    export_new_sensors();
    for (const auto& h : sweep_handlers_) h();
  });
  client_.on_event([this](const redfish::BmcEvent& e) {
    for (const auto& h : event_handlers_) h(e);
  });
  std::string error;
  if (!client_.start(error)) throw std::runtime_error(fmt::format("bmc: {}", error));
  log::info("bmc: reading {} every {} ms", url_, config.bmc.poll_interval_ms);
}

BmcService::~BmcService() = default;

void BmcService::stop(std::function<void()> done) { client_.stop(std::move(done)); }

void BmcService::export_new_sensors() {
  latest_.clear();
  for (auto& s : client_.snapshot()) latest_[s.reading.id] = s;
  for (const auto& [id, s] : latest_) {
    if (!exported_.insert(id).second) continue;
    const auto family = family_of(s.reading.kind, s.reading.unit);
    if (!family) continue;
    const std::string sensor = s.reading.name.empty() ? id : s.reading.name;
    const double scale = family->scale;
    registry_
        .gauge_family({.name = family->name,
                       .help = family->help,
                       .unit = family->unit,
                       .labels = {"host", "chassis", "sensor"},
                       .group = "bmc"})
        .callback({host_, s.reading.chassis_id, sensor}, [this, id = id, scale] {
          auto it = latest_.find(id);
          if (it == latest_.end() || it->second.stale || !it->second.reading.value) return std::nan("");
          return *it->second.reading.value * scale;
        });
    registry_
        .gauge_family({.name = "railyard_bmc_reading_age_seconds",
                       .help = "Age of the BMC value behind each sensor series",
                       .unit = tel::Unit::seconds,
                       .labels = {"host", "chassis", "sensor"},
                       .group = "bmc"})
        .callback({host_, s.reading.chassis_id, sensor}, [this, id = id] {
          auto it = latest_.find(id);
          return it == latest_.end() ? std::nan("") : static_cast<double>(it->second.age.count()) / 1000;
        });
  }
}

v1::BmcReply BmcService::reply() const {
  v1::BmcReply out;
  out.set_url(url_);
  const auto status = client_.status();
  const auto counters = client_.counters();
  out.set_state(std::string(redfish::to_string(status.phase)));
  out.set_last_sweep_ms(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(client_.sweep_duration()).count()));
  out.set_events(status.sse_connected);
  out.set_sessions_created(counters.sessions_created);
  out.set_requests(counters.requests);
  for (size_t i = 0; i < redfish::kIssueCount; ++i) {
    if (counters.issues[i] != 0)
      (*out.mutable_problems())[std::string(redfish::to_string(static_cast<redfish::Issue>(i)))] = counters.issues[i];
  }
  for (const auto& s : client_.snapshot()) {
    const auto& r = s.reading;
    auto* x = out.add_sensors();
    x->set_id(r.id);
    x->set_name(r.name);
    x->set_chassis(r.chassis_id);
    x->set_kind(std::string(redfish::to_string(r.kind)));
    x->set_unit(std::string(redfish::symbol(r.unit)));
    if (r.value) x->set_reading(*r.value);
    x->set_health(std::string(redfish::to_string(r.health)));
    x->set_state(std::string(redfish::to_string(r.state)));
    const auto& t = r.thresholds;
    if (t.upper_caution) x->set_upper_caution(*t.upper_caution);
    if (t.upper_critical) x->set_upper_critical(*t.upper_critical);
    if (t.upper_fatal) x->set_upper_fatal(*t.upper_fatal);
    if (t.lower_caution) x->set_lower_caution(*t.lower_caution);
    if (t.lower_critical) x->set_lower_critical(*t.lower_critical);
    if (t.lower_fatal) x->set_lower_fatal(*t.lower_fatal);
    x->set_age_ms(static_cast<uint64_t>(s.age.count()));
    x->set_stale(s.stale);
    x->set_source_uri(r.source_uri);
  }
  return out;
}

}  // namespace railyard::daemon
