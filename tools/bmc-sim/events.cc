#include "tools/bmc-sim/events.h"

#include <boost/json.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include <chrono>
#include <ctime>

namespace railyard::bmcsim {

namespace json = boost::json;

namespace {

struct Message {
  std::string_view key;
  std::string_view severity;
  std::string_view text;  // after "Sensor '<name>' reading of <v> (<units>) is "
  std::optional<double> Limits::*limit;
};

// SensorEvent 1.0 messages for a move from band `from` to band `to`.
Message threshold_message(int from, int to) {
  if (to == 0) return {"SensorReadingNormalRange", "OK", "within normal operating range", nullptr};
  if (to > 0 && to > from) {
    if (to == 1) return {"ReadingAboveUpperCautionThreshold", "Warning", "above the {} upper caution threshold", &Limits::upper_caution};
    if (to == 2) return {"ReadingAboveUpperCriticalThreshold", "Critical", "above the {} upper critical threshold", &Limits::upper_critical};
    return {"ReadingAboveUpperFatalThreshold", "Critical", "above the {} upper fatal threshold", &Limits::upper_fatal};
  }
  if (to > 0) {
    if (to == 1) return {"ReadingBelowUpperCriticalThreshold", "Warning", "no longer above the {} upper critical threshold", &Limits::upper_critical};
    return {"ReadingBelowUpperFatalThreshold", "Critical", "no longer above the {} upper fatal threshold", &Limits::upper_fatal};
  }
  if (to < from) {
    if (to == -1) return {"ReadingBelowLowerCautionThreshold", "Warning", "below the {} lower caution threshold", &Limits::lower_caution};
    return {"ReadingBelowLowerCriticalThreshold", "Critical", "below the {} lower critical threshold", &Limits::lower_critical};
  }
  return {"ReadingAboveLowerCriticalThreshold", "Warning", "no longer below the {} lower critical threshold", &Limits::lower_critical};
}

std::string number(double v) { return fmt::format("{}", v); }

json::object record(std::string_view message_id, std::string message, std::string_view severity,
                    json::array args, std::string_view origin, std::string_view timestamp) {
  json::object r{{"EventType", "Alert"},
                 {"EventTimestamp", timestamp},
                 {"MessageId", message_id},
                 {"Message", std::move(message)},
                 {"MessageSeverity", severity},
                 {"Severity", severity}};
  r["MessageArgs"] = std::move(args);
  r["OriginOfCondition"] = json::object{{"@odata.id", origin}};
  return r;
}

}  // namespace

std::vector<json::object> EventMonitor::update(const Samples& samples, std::string_view timestamp) {
  std::vector<json::object> out;
  for (const auto& s : samples.sensors) {
    const int b = band(s.limits, s.value);
    auto [it, inserted] = bands_.emplace(s.uri, b);
    if (inserted || it->second == b) continue;
    const int from = std::exchange(it->second, b);
    if (!primed_) continue;
    const auto m = threshold_message(from, b);
    json::array args{json::string(s.name), json::string(number(s.value)), json::string(s.units)};
    std::string text;
    if (m.limit != nullptr && (s.limits.*m.limit).has_value()) {
      const double limit = *(s.limits.*m.limit);
      args.push_back(json::string(number(limit)));
      text = fmt::format("Sensor '{}' reading of {} ({}) is {}.", s.name, number(s.value), s.units,
                         fmt::format(fmt::runtime(m.text), number(limit)));
    } else {
      text = fmt::format("Sensor '{}' reading of {} ({}) is {}.", s.name, number(s.value), s.units, m.text);
    }
    out.push_back(record(fmt::format("SensorEvent.1.0.{}", m.key), std::move(text), m.severity, std::move(args),
                         s.uri, timestamp));
  }
  for (const auto& l : samples.leaks) {
    auto [it, inserted] = leaks_.emplace(l.uri + "\n" + l.name, l.state);
    if (inserted || it->second == l.state) continue;
    it->second = l.state;
    if (!primed_) continue;
    std::string_view key = "LeakDetectedNormal";
    std::string text = fmt::format("Leak detector '{}' has returned to normal.", l.name);
    if (l.state == "Warning") {
      key = "LeakDetectedWarning";
      text = fmt::format("A warning level leak was detected by '{}'.", l.name);
    } else if (l.state == "Critical") {
      key = "LeakDetectedCritical";
      text = fmt::format("A critical level leak was detected by '{}'.", l.name);
    }
    out.push_back(record(fmt::format("Environmental.1.1.{}", key), std::move(text), l.state,
                         json::array{l.name}, l.uri, timestamp));
    // The detector's document changed too.
    out.push_back(record("ResourceEvent.1.0.ResourceChanged", "One or more resource properties have changed.",
                         "OK", json::array{}, l.uri, timestamp));
  }
  primed_ = true;
  return out;
}

std::string event_payload(std::uint64_t id, std::vector<json::object> records) {
  json::array events;
  for (auto& r : records) {
    r["EventId"] = std::to_string(id);
    events.push_back(std::move(r));
  }
  json::object e{{"@odata.type", "#Event.v1_10_0.Event"},
                 {"Id", std::to_string(id)},
                 {"Name", "Event Array"},
                 {"Context", "bmc-sim"}};
  e["Events"] = std::move(events);
  return render(e);
}

std::string iso8601_now() {
  const auto now = std::chrono::system_clock::now();
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(now)));
}

}  // namespace railyard::bmcsim
