#pragma once
// Which Redfish resources to read, found by walking the service from its
// root. A pure state machine: the HTTP client GETs what it is told and feeds
// each document back; no I/O here.
//
//   Discovery d;
//   auto next = d.start(root_json);                 // GET /redfish/v1/ first
//   while (!d.done()) { ... d.on_document(uri, body) or d.on_failure(uri) ... }
//   for (const auto& t : d.poll_targets()) ...      // every sweep
//
// Followed from the service root: Chassis (every member) -> legacy Power and
// Thermal, PowerSubsystem (-> PowerSupplies -> Metrics), ThermalSubsystem
// (-> ThermalMetrics, Fans, Pumps, CoolantConnectors, LeakDetection ->
// LeakDetectors), EnvironmentMetrics, Sensors, Controls, LeakDetectors;
// ThermalEquipment -> CDUs / ImmersionUnits / HeatExchangers (-> their
// EnvironmentMetrics, Primary/SecondaryCoolantConnectors, Pumps,
// LeakDetection) and CoolingLoops (-> the same); Systems -> Processors (and
// optionally Memory) -> EnvironmentMetrics, where GPU temperature and power
// often live; EventService (SSE URI). A DataSourceUri naming a Sensor,
// Control or LeakDetector that no collection listed is fetched too, so an
// excerpt is never the only copy of a sensor we could read.
// Only service-relative links ("/redfish/v1/...") are ever followed.

#include <boost/json/value.hpp>

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/bmc/redfish/resource.h"

namespace railyard::redfish {

/// ServiceRoot ProtocolFeaturesSupported.ExpandQuery.
struct ExpandSupport {
  bool expand_all = false;  ///< "*"
  bool no_links = false;    ///< "."
  bool links = false;       ///< "~"
  bool levels = false;      ///< "$levels" accepted
  int max_levels = 0;

  /// Whether collections can be read in one GET with their members.
  bool usable() const { return no_links || expand_all; }
  /// What to append to a collection URI to get its members inline
  /// ("?$expand=.($levels=1)"), or "" when the service cannot.
  std::string query() const;
};

struct DiscoveryOptions {
  /// Read PowerSupplies (health and their Metrics) under PowerSubsystem.
  bool power_supplies = true;
  /// Read Controls (power limits).
  bool controls = true;
  /// Read Systems -> Processors -> EnvironmentMetrics (CPU/GPU readings).
  bool processors = true;
  /// Read Systems -> Memory -> EnvironmentMetrics (DIMM temperatures; many
  /// GETs on a large server, usually duplicates of chassis Sensors).
  bool memory = false;
  /// Fetch Sensors/Controls/LeakDetectors named by a DataSourceUri that no
  /// collection listed.
  bool follow_data_sources = true;
  /// Ask for collections with $expand when the service supports it.
  bool use_expand = true;
  /// Also read legacy Power/Thermal of a chassis that has a Sensors
  /// collection (by default the current model wins, so one physical sensor
  /// is not reported twice).
  bool legacy_with_sensors = false;
  /// Stop following links after this many resources (a hostile or broken
  /// service cannot make discovery run forever).
  std::size_t max_resources = 4096;
};

/// One GET the client should issue.
struct Fetch {
  std::string uri;    ///< service-relative, without query
  ResourceKind kind;  ///< what the document is expected to be
  std::string chassis_id;
  bool expand = false;  ///< append ExpandSupport::query()

  bool operator==(const Fetch&) const = default;
};

/// A resource that holds readings, to GET every sweep and hand to extract().
struct PollTarget {
  std::string uri;
  ResourceKind kind;
  std::string chassis_id;
  /// A collection read with $expand: one GET returns every member.
  bool expand = false;

  bool operator==(const PollTarget&) const = default;
};

class Discovery {
 public:
  explicit Discovery(DiscoveryOptions options = {});

  /// The service root document (GET /redfish/v1/). Returns the first GETs.
  std::vector<Fetch> start(std::string_view root_json);
  /// Same, for a document the caller already parsed.
  std::vector<Fetch> start_parsed(const boost::json::value& root);

  /// A document the client fetched for a Fetch (the uri is Fetch::uri).
  /// Returns further GETs; documents nobody asked for are ignored.
  std::vector<Fetch> on_document(std::string_view uri, std::string_view json);
  std::vector<Fetch> on_parsed(std::string_view uri, const boost::json::value& document);

  /// The GET failed for good (404, retries exhausted): stop waiting for it.
  void on_failure(std::string_view uri);

  /// Nothing is pending: poll_targets() is complete.
  bool done() const { return started_ && pending_.empty(); }
  std::size_t pending() const { return pending_.size(); }

  /// Resources with readings, in URI order. Complete once done().
  std::vector<PollTarget> poll_targets() const;

  const ExpandSupport& expand() const { return expand_; }
  /// EventService ServerSentEventUri when the service offers SSE and has
  /// the event service enabled.
  const std::optional<std::string>& sse_uri() const { return sse_uri_; }
  /// Every @odata.type seen, e.g. "#Sensor.v1_12_0.Sensor" -> count.
  const std::map<std::string, std::size_t>& odata_types() const { return types_; }
  const Problems& problems() const { return problems_; }
  /// URIs that failed (on_failure) or were skipped by max_resources.
  const std::set<std::string>& failed() const { return failed_; }

 private:
  struct Pending {
    ResourceKind kind;
    std::string chassis_id;
  };

  void handle(const std::string& uri, const boost::json::value& doc, ResourceKind expected,
              const std::string& chassis_id, bool requested_expand, std::vector<Fetch>& out);
  void follow(const boost::json::object& doc, std::string_view uri, std::string_view key,
              ResourceKind kind, const std::string& chassis_id, std::vector<Fetch>& out);
  void queue(std::string_view link, ResourceKind kind, const std::string& chassis_id,
             std::vector<Fetch>& out);
  void root(const boost::json::object& doc, std::vector<Fetch>& out);
  void data_sources(const boost::json::value& v, const std::string& chassis_id, int depth,
                    std::vector<Fetch>& out);
  void collection(const std::string& uri, const boost::json::object& doc, ResourceKind kind,
                  const std::string& chassis_id, bool requested_expand, std::vector<Fetch>& out);

  DiscoveryOptions options_;
  bool started_ = false;
  ExpandSupport expand_;
  std::optional<std::string> sse_uri_;
  std::map<std::string, Pending> pending_;
  std::set<std::string> seen_;
  std::set<std::string> failed_;
  std::map<std::string, PollTarget> targets_;
  std::set<std::string> covered_;  // members of collections polled with $expand
  std::map<std::string, std::size_t> types_;
  Problems problems_;
};

}  // namespace railyard::redfish
