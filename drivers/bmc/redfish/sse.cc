#include "drivers/bmc/redfish/sse.h"

#include <algorithm>
#include <charconv>

#include "drivers/bmc/redfish/json_reader.h"

namespace railyard::redfish {
namespace json = boost::json;

namespace {
constexpr std::string_view kBom = "\xEF\xBB\xBF";
}  // namespace

void SseParser::reset_stream() {
  line_.clear();
  data_.clear();
  type_.clear();
  skip_lf_ = false;
  at_start_ = true;
  line_overflow_ = false;
  event_overflow_ = false;
}

void SseParser::feed(std::string_view chunk, std::vector<SseEvent>& out) {
  while (!chunk.empty()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (chunk.front() == '\n') {
        chunk.remove_prefix(1);
        continue;
      }
    }
    if (at_start_) {
      // The stream may begin with a UTF-8 BOM, possibly split across chunks.
      const std::size_t want = kBom.size() - line_.size();
      const std::size_t take = std::min(want, chunk.size());
      const std::string_view part = chunk.substr(0, take);
      if (kBom.substr(line_.size(), take) == part) {
        line_.append(part);
        chunk.remove_prefix(take);
        if (line_.size() == kBom.size()) {
          line_.clear();
          at_start_ = false;
        }
        continue;
      }
      at_start_ = false;  // not a BOM: what was held back is ordinary text
    }
    const auto end = chunk.find_first_of("\r\n");
    const std::string_view text = chunk.substr(0, end);
    if (line_.size() + text.size() > max_event_bytes_) {
      line_overflow_ = true;
      line_.clear();
    } else if (!line_overflow_) {
      line_.append(text);
    }
    if (end == std::string_view::npos) return;  // the line continues in the next chunk
    skip_lf_ = chunk[end] == '\r';
    chunk.remove_prefix(end + 1);
    line(line_, out);
    line_.clear();
  }
}

void SseParser::line(std::string_view text, std::vector<SseEvent>& out) {
  if (line_overflow_) {
    line_overflow_ = false;
    event_overflow_ = true;
    return;
  }
  if (text.empty()) {
    dispatch(out);
    return;
  }
  if (text.front() == ':') return;  // comment (keep-alive)
  std::string_view field = text;
  std::string_view value;
  if (const auto colon = text.find(':'); colon != std::string_view::npos) {
    field = text.substr(0, colon);
    value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (data_.size() + value.size() + 1 > max_event_bytes_) {
      event_overflow_ = true;
      data_.clear();
    } else if (!event_overflow_) {
      data_.append(value);
      data_.push_back('\n');
    }
  } else if (field == "event") {
    type_ = value;
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_ = value;
  } else if (field == "retry") {
    std::uint64_t ms = 0;
    const auto* first = value.data();
    const auto* last = value.data() + value.size();
    const bool digits = !value.empty() && std::all_of(first, last, [](char c) {
      return c >= '0' && c <= '9';
    });
    if (digits) {
      auto [ptr, ec] = std::from_chars(first, last, ms);
      if (ec == std::errc{} && ptr == last) retry_ = std::chrono::milliseconds(ms);
    }
  }
  // Other fields are ignored, as the specification requires.
}

void SseParser::dispatch(std::vector<SseEvent>& out) {
  if (event_overflow_) {
    ++dropped_;
    event_overflow_ = false;
  } else if (!data_.empty()) {
    data_.pop_back();  // the last '\n'
    SseEvent event;
    if (!type_.empty()) event.type = type_;
    event.data = std::move(data_);
    event.id = last_id_;
    out.push_back(std::move(event));
  }
  data_.clear();
  type_.clear();
}

std::string_view EventRecord::message_key() const {
  std::string_view id = message_id;
  const auto dot = id.rfind('.');
  return dot == std::string_view::npos ? id : id.substr(dot + 1);
}

std::optional<RedfishEvent> parse_event(std::string_view text, Problems& problems) {
  auto doc = parse_json(text, "event", problems);
  if (!doc) return std::nullopt;
  JsonReader reader("event", problems);
  const auto* o = doc->if_object();
  if (o == nullptr) {
    reader.report(ProblemKind::wrong_type, "", "event is not a JSON object");
    return std::nullopt;
  }
  RedfishEvent event;
  if (auto id = reader.string(*o, "Id", "")) event.id = *id;
  if (auto type = reader.string(*o, "@odata.type", ""); type && type_name(*type) != "Event") {
    return event;  // e.g. a MetricReport: nothing to act on here
  }
  const auto* records = reader.array(*o, "Events", "");
  if (records == nullptr) {
    if (!o->contains("Events")) reader.missing("", "Events");
    return event;
  }
  for (std::size_t i = 0; i < records->size(); ++i) {
    const auto where = pointer("/Events", i);
    const auto* r = (*records)[i].if_object();
    if (r == nullptr) {
      reader.report(ProblemKind::wrong_type, where, "record is not an object");
      continue;
    }
    EventRecord rec;
    if (auto v = reader.string(*r, "MessageId", where)) {
      rec.message_id = *v;
    } else if (!r->contains("MessageId")) {
      reader.missing(where, "MessageId");
    }
    if (auto v = reader.string(*r, "Message", where)) rec.message = *v;
    if (auto v = reader.string(*r, "EventType", where)) rec.event_type = *v;
    if (auto v = reader.string(*r, "EventTimestamp", where)) rec.event_timestamp = *v;
    if (auto v = reader.string(*r, "MessageSeverity", where)) {
      rec.severity = parse_health(*v);
    } else if (auto s = reader.string(*r, "Severity", where)) {
      rec.severity = parse_health(*s);
    }
    rec.origin_uri = reader.link(*r, "OriginOfCondition", where);
    if (const auto* args = reader.array(*r, "MessageArgs", where)) {
      for (const auto& a : *args) {
        if (const auto* s = a.if_string()) rec.message_args.emplace_back(s->data(), s->size());
      }
    }
    event.records.push_back(std::move(rec));
  }
  return event;
}

std::vector<EventAction> actions_for(const RedfishEvent& event) {
  std::vector<EventAction> out;
  auto add = [&out](EventAction action) {
    if (std::find(out.begin(), out.end(), action) == out.end()) out.push_back(std::move(action));
  };
  for (const auto& rec : event.records) {
    const std::string origin =
        is_service_uri(rec.origin_uri) ? normalise_uri(rec.origin_uri) : std::string();
    const auto key = rec.message_key();
    if (key.starts_with("LeakDetected")) {
      Health severity = rec.severity;
      if (severity == Health::unknown) {
        if (key == "LeakDetectedCritical") severity = Health::critical;
        if (key == "LeakDetectedWarning") severity = Health::warning;
        if (key == "LeakDetectedNormal") severity = Health::ok;
      }
      const bool clear = key == "LeakDetectedNormal" || severity == Health::ok;
      // A leak without a location is still a leak.
      add({.type = clear ? EventAction::Type::leak_clear : EventAction::Type::leak_alarm,
           .uri = origin,
           .severity = severity,
           .message_id = rec.message_id});
    }
    if (!origin.empty()) {
      add({.type = EventAction::Type::refresh, .uri = origin, .severity = rec.severity,
           .message_id = rec.message_id});
    } else {
      add({.type = EventAction::Type::resync, .uri = {}, .severity = Health::unknown,
           .message_id = {}});
    }
  }
  return out;
}

}  // namespace railyard::redfish
