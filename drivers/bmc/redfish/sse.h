#pragma once
// Server-Sent Events (text/event-stream, WHATWG HTML "server-sent events")
// fed in whatever chunks the socket delivers, and the Redfish Event payload
// they carry, reduced to what the client acts on: refresh a resource now, or
// raise a leak alarm.

#include <boost/json/value.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/bmc/redfish/reading.h"
#include "drivers/bmc/redfish/resource.h"

namespace railyard::redfish {

struct SseEvent {
  std::string type = "message";  ///< "event:" (default "message")
  std::string data;              ///< "data:" lines joined with '\n'
  std::string id;                ///< the last event ID in effect ("id:")
};

class SseParser {
 public:
  /// A line or an event larger than this is dropped (and counted), so a
  /// misbehaving BMC cannot grow our memory without bound.
  static constexpr std::size_t kDefaultMaxEventBytes = 1 << 20;

  explicit SseParser(std::size_t max_event_bytes = kDefaultMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}

  /// Consumes a chunk of the stream; complete events are appended to `out`.
  /// Lines may end in CRLF, LF or CR, split anywhere across chunks.
  void feed(std::string_view chunk, std::vector<SseEvent>& out);

  /// For the Last-Event-ID header on reconnection.
  const std::string& last_event_id() const { return last_id_; }
  /// "retry:" from the server, if any.
  std::optional<std::chrono::milliseconds> retry() const { return retry_; }
  std::uint64_t dropped_events() const { return dropped_; }

  /// A new connection: partial data is discarded; last_event_id() is kept.
  void reset_stream();

 private:
  void line(std::string_view text, std::vector<SseEvent>& out);
  void dispatch(std::vector<SseEvent>& out);

  std::size_t max_event_bytes_;
  std::string line_;
  std::string data_;
  std::string type_;
  std::string last_id_;
  std::optional<std::chrono::milliseconds> retry_;
  std::uint64_t dropped_ = 0;
  bool skip_lf_ = false;       // the previous chunk ended in CR
  bool at_start_ = true;       // a leading BOM is ignored
  bool line_overflow_ = false; // current line exceeded the limit
  bool event_overflow_ = false;
};

/// One EventRecord of a Redfish Event.
struct EventRecord {
  std::string message_id;  ///< "Environmental.1.2.LeakDetectedCritical"
  std::string message;
  std::string event_type;  ///< legacy EventType ("Alert", ...), "" if absent
  std::string event_timestamp;
  /// OriginOfCondition @odata.id, "" when absent.
  std::string origin_uri;
  /// MessageSeverity, or the deprecated Severity.
  Health severity = Health::unknown;
  std::vector<std::string> message_args;

  /// The registry's message key ("LeakDetectedCritical").
  std::string_view message_key() const;
};

struct RedfishEvent {
  std::string id;
  std::vector<EventRecord> records;
};

/// Parses the data of one SSE event (a Redfish Event, or anything else,
/// which gives no records). Problems are counted, never thrown.
std::optional<RedfishEvent> parse_event(std::string_view json, Problems& problems);

/// What the client should do about one record.
struct EventAction {
  enum class Type : std::uint8_t {
    refresh,     ///< re-read `uri` now (it changed or crossed a threshold)
    leak_alarm,  ///< a leak detected at `uri` (severity Warning/Critical)
    leak_clear,  ///< the leak at `uri` is gone (LeakDetectedNormal)
    resync,      ///< no usable origin: re-read everything
  };
  Type type;
  std::string uri;
  Health severity = Health::unknown;
  std::string message_id;

  bool operator==(const EventAction&) const = default;
};

/// Leak messages (registry key starting "LeakDetected") become alarms or
/// clears and also refresh their origin; anything else with an origin is a
/// refresh of that origin; records without a usable origin ask for a resync.
/// Origins outside the service ("https://other-host/...") are never
/// followed: resync instead. Duplicate actions are merged.
std::vector<EventAction> actions_for(const RedfishEvent& event);

}  // namespace railyard::redfish
