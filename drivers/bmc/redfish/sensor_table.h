#pragma once
// The client's view of every sensor across sweeps: the last value the BMC
// gave for each, when it was read and from where, and whether it is still
// fresh. A reading that a sweep could not refresh (request failed, document
// malformed, value missing) keeps its last value, marked stale with its age
// and the reason; it is never reported as fresh again until the BMC gives a
// new value. Pure: the caller passes the time.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "drivers/bmc/redfish/reading.h"

namespace railyard::redfish {

/// One sensor as the daemon sees it.
struct SensorState {
  /// The last value the BMC gave (read_at: when it was read; source_uri:
  /// where), with the BMC's thresholds and status as of that read.
  Reading reading;
  /// Not refreshed by the last attempt, or older than the staleness limit.
  bool stale = false;
  /// now - reading.read_at when the snapshot was taken.
  std::chrono::milliseconds age{0};
  /// Why it is stale ("timeout", "http 500", "absent from the document",
  /// "no value", "not refreshed for 4.2 s"); "" when fresh.
  std::string stale_reason;
  /// The poll target (document URI) it is read from.
  std::string target;
  /// Refresh attempts in a row that failed.
  std::uint32_t missed = 0;
};

/// A reading tagged with the poll target whose document produced it.
struct TaggedReading {
  Reading reading;
  std::string target;
};

/// How reading one poll target went in a sweep.
struct TargetOutcome {
  std::string target;
  bool ok = false;
  std::string reason;  ///< when !ok
};

/// A change worth an event: a leak detector changing state, a health change
/// (a threshold crossed, as the BMC sees it).
struct Transition {
  std::string id;
  Kind kind = Kind::other;
  std::optional<double> before;  ///< nullopt: first time seen
  std::optional<double> after;
  Health health_before = Health::unknown;
  Health health_after = Health::unknown;
  std::string source_uri;
};

class SensorTable {
 public:
  explicit SensorTable(std::chrono::milliseconds stale_after) : stale_after_(stale_after) {}

  /// Applies one sweep (or a single refresh): `readings` already combined by
  /// merge_sweep(); `outcomes` for each target that was requested. Readings
  /// of a failed target, and readings of a target read fine but absent from
  /// its document now, become stale. An excerpt whose Sensor is known is not
  /// added as a reading of its own (the Sensor just stays stale).
  /// Returns leak and health transitions.
  std::vector<Transition> update(std::vector<TaggedReading> readings, const std::vector<TargetOutcome>& outcomes,
                                 TimePoint now);

  /// Every sensor, ordered by id, with age and staleness as of `now`.
  std::vector<SensorState> snapshot(TimePoint now) const;
  std::optional<SensorState> find(const std::string& id, TimePoint now) const;
  std::size_t size() const { return entries_.size(); }
  std::chrono::milliseconds stale_after() const { return stale_after_; }

 private:
  SensorState view(const SensorState& s, TimePoint now) const;

  std::chrono::milliseconds stale_after_;
  std::map<std::string, SensorState> entries_;
};

}  // namespace railyard::redfish
