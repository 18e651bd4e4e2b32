#include "drivers/bmc/redfish/sensor_table.h"

#include <fmt/format.h>

#include <set>

namespace railyard::redfish {

std::vector<Transition> SensorTable::update(std::vector<TaggedReading> readings,
                                            const std::vector<TargetOutcome>& outcomes, TimePoint now) {
  std::vector<Transition> changes;
  std::set<std::string> refreshed;
  for (auto& tagged : readings) {
    Reading& r = tagged.reading;
    if (!r.data_source_uri.empty() && r.data_source_uri != r.id && entries_.contains(r.data_source_uri)) continue;
    if (r.read_at == TimePoint{}) r.read_at = now;
    auto [it, fresh_entry] = entries_.try_emplace(r.id);
    SensorState& s = it->second;
    if (!fresh_entry && r.read_at < s.reading.read_at) {
      refreshed.insert(r.id);  // a newer read (an event-driven refresh) got there first
      continue;
    }
    const std::optional<double> before = fresh_entry ? std::nullopt : s.reading.value;
    const Health health_before = fresh_entry ? Health::unknown : s.reading.health;
    s.target = tagged.target;
    refreshed.insert(r.id);
    if (!r.value && !fresh_entry && s.reading.value) {
      // No value this time: keep the last one, stale, with the new status.
      s.reading.health = r.health;
      s.reading.state = r.state;
      s.stale = true;
      s.stale_reason = "no value";
      ++s.missed;
    } else {
      s.stale = !r.value.has_value();
      s.stale_reason = r.value ? "" : "no value";
      s.missed = r.value ? 0 : s.missed + 1;
      s.reading = std::move(r);
    }
    const Reading& now_r = s.reading;
    const bool leak_changed = now_r.kind == Kind::leak && now_r.value != before && (before || now_r.value.value_or(0) != 0);
    const bool health_changed = now_r.health != health_before &&
                                (health_before != Health::unknown || (now_r.health != Health::ok && now_r.health != Health::unknown));
    if (leak_changed || health_changed) {
      changes.push_back(Transition{.id = now_r.id,
                                   .kind = now_r.kind,
                                   .before = before,
                                   .after = now_r.value,
                                   .health_before = health_before,
                                   .health_after = now_r.health,
                                   .source_uri = now_r.source_uri});
    }
  }
  std::map<std::string, const TargetOutcome*> by_target;
  for (const auto& o : outcomes) by_target[o.target] = &o;
  for (auto& [id, s] : entries_) {
    if (refreshed.contains(id)) continue;
    auto it = by_target.find(s.target);
    if (it == by_target.end()) continue;  // not requested this time
    s.stale = true;
    s.stale_reason = it->second->ok ? "absent from the document" : it->second->reason;
    ++s.missed;
  }
  return changes;
}

SensorState SensorTable::view(const SensorState& s, TimePoint now) const {
  SensorState v = s;
  v.age = std::chrono::duration_cast<std::chrono::milliseconds>(now - s.reading.read_at);
  if (v.age.count() < 0) v.age = std::chrono::milliseconds(0);
  if (!v.stale && v.age > stale_after_) {
    v.stale = true;
    v.stale_reason = fmt::format("not refreshed for {:.1f} s", static_cast<double>(v.age.count()) / 1000.0);
  }
  return v;
}

std::vector<SensorState> SensorTable::snapshot(TimePoint now) const {
  std::vector<SensorState> out;
  out.reserve(entries_.size());
  for (const auto& [id, s] : entries_) out.push_back(view(s, now));
  return out;
}

std::optional<SensorState> SensorTable::find(const std::string& id, TimePoint now) const {
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return view(it->second, now);
}

}  // namespace railyard::redfish
