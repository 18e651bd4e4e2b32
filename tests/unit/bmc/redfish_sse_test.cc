// text/event-stream in arbitrary chunks, and Redfish Event payloads.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "drivers/bmc/redfish/sse.h"

namespace railyard::redfish {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// What a BMC sends: a comment keep-alive, two events with ids, one of them
// multi-line, CRLF line ends, a retry hint.
const std::string kStream =
    ": keep-alive\r\n"
    "retry: 5000\r\n"
    "\r\n"
    "id: 41\r\n"
    "event: Alert\r\n"
    "data: {\"Id\": \"41\",\r\n"
    "data:  \"Events\": []}\r\n"
    "\r\n"
    "id: 42\n"
    "data:{\"Id\": \"42\"}\n"
    "\n";

std::vector<SseEvent> parse_all(const std::string& stream, std::size_t chunk) {
  SseParser parser;
  std::vector<SseEvent> out;
  for (std::size_t i = 0; i < stream.size(); i += chunk) parser.feed(stream.substr(i, chunk), out);
  return out;
}

TEST(Sse, EventsWholeAndInEveryChunking) {
  const auto whole = parse_all(kStream, kStream.size());
  ASSERT_EQ(whole.size(), 2u);
  EXPECT_EQ(whole[0].type, "Alert");
  EXPECT_EQ(whole[0].id, "41");
  EXPECT_EQ(whole[0].data, "{\"Id\": \"41\",\n \"Events\": []}");
  EXPECT_EQ(whole[1].type, "message");
  EXPECT_EQ(whole[1].id, "42");
  EXPECT_EQ(whole[1].data, "{\"Id\": \"42\"}");
  for (std::size_t chunk = 1; chunk < kStream.size(); ++chunk) {
    SCOPED_TRACE(chunk);
    const auto split = parse_all(kStream, chunk);
    ASSERT_EQ(split.size(), whole.size());
    for (std::size_t i = 0; i < split.size(); ++i) {
      EXPECT_EQ(split[i].data, whole[i].data);
      EXPECT_EQ(split[i].id, whole[i].id);
      EXPECT_EQ(split[i].type, whole[i].type);
    }
  }
}

TEST(Sse, CrLfSplitBetweenChunksIsOneLineEnd) {
  SseParser p;
  std::vector<SseEvent> out;
  p.feed("data: a\r", out);
  p.feed("\ndata: b\r", out);
  p.feed("\n\r", out);  // CRLF then a lone CR: blank line
  EXPECT_THAT(out, ::testing::SizeIs(1));
  EXPECT_EQ(out.at(0).data, "a\nb");
}

TEST(Sse, LoneCarriageReturnsEndLines) {
  SseParser p;
  std::vector<SseEvent> out;
  p.feed("data: x\rdata: y\r\r", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "x\ny");
}

TEST(Sse, RetryIdAndFieldRules) {
  SseParser p;
  std::vector<SseEvent> out;
  p.feed("retry: 2500\nretry: soon\nid: 7\ndata\n\n", out);
  EXPECT_EQ(p.retry(), std::chrono::milliseconds(2500));  // "soon" is ignored
  EXPECT_EQ(p.last_event_id(), "7");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "");  // "data" with no colon: an empty data line
  out.clear();
  // The id sticks to later events; an event without data is not dispatched.
  p.feed("event: ping\n\ndata: z\nunknown: field\n\n", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, "7");
  EXPECT_EQ(out[0].type, "message");  // "ping" was reset by the empty event
  p.feed(std::string("id: a\0b\n", 8), out);
  EXPECT_EQ(p.last_event_id(), "7");  // ids with NUL are ignored
  p.feed("id\n", out);
  EXPECT_EQ(p.last_event_id(), "");   // an empty id resets it
}

TEST(Sse, LeadingByteOrderMarkEvenWhenSplit) {
  SseParser p;
  std::vector<SseEvent> out;
  p.feed("\xEF", out);
  p.feed("\xBB", out);
  p.feed("\xBF" "data: x\n\n", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "x");
}

TEST(Sse, IncompleteEventIsHeldUntilItsBlankLine) {
  SseParser p;
  std::vector<SseEvent> out;
  p.feed("data: partial", out);
  p.feed("\ndata: more", out);
  EXPECT_THAT(out, IsEmpty());
  p.reset_stream();  // reconnect: the half event is gone
  p.feed("data: fresh\n\n", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "fresh");
}

TEST(Sse, OversizedEventsAreDroppedAndCounted) {
  SseParser p(64);
  std::vector<SseEvent> out;
  p.feed("data: " + std::string(100, 'x') + "\n\n", out);  // one long line
  for (int i = 0; i < 20; ++i) p.feed("data: 0123456789\n", out);  // many lines
  p.feed("\n", out);
  p.feed("data: ok\n\n", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data, "ok");
  EXPECT_EQ(p.dropped_events(), 2u);
}

// --- Redfish Event payloads -------------------------------------------------

const char* kLeakEvent = R"({
  "@odata.type": "#Event.v1_7_0.Event",
  "Id": "1207",
  "Name": "Event Array",
  "Events": [
    {
      "EventId": "1207-1",
      "EventTimestamp": "2025-02-12T12:25:00Z",
      "MessageId": "Environmental.1.1.LeakDetectedCritical",
      "Message": "A critical level leak was detected by 'Cold plate 0'.",
      "MessageArgs": ["Cold plate 0"],
      "MessageSeverity": "Critical",
      "OriginOfCondition": {"@odata.id": "/redfish/v1/Chassis/1U/ThermalSubsystem/LeakDetection/LeakDetectors/CP0"}
    },
    {
      "MessageId": "SensorEvent.1.0.ReadingAboveUpperCriticalThreshold",
      "Severity": "Warning",
      "OriginOfCondition": {"@odata.id": "/redfish/v1/Chassis/1U/Sensors/GPU0Temp"}
    }
  ]
})";

TEST(RedfishEvent, RecordsAreParsed) {
  Problems problems;
  const auto event = parse_event(kLeakEvent, problems);
  ASSERT_TRUE(event);
  EXPECT_TRUE(problems.empty()) << problems.summary();
  EXPECT_EQ(event->id, "1207");
  ASSERT_EQ(event->records.size(), 2u);
  const auto& leak = event->records[0];
  EXPECT_EQ(leak.message_key(), "LeakDetectedCritical");
  EXPECT_EQ(leak.severity, Health::critical);
  EXPECT_EQ(leak.event_timestamp, "2025-02-12T12:25:00Z");
  EXPECT_THAT(leak.message_args, ElementsAre("Cold plate 0"));
  EXPECT_EQ(event->records[1].severity, Health::warning);  // deprecated Severity
}

TEST(RedfishEvent, LeakBecomesAnAlarmAndARefresh) {
  Problems problems;
  const auto actions = actions_for(*parse_event(kLeakEvent, problems));
  const std::string cp0 = "/redfish/v1/Chassis/1U/ThermalSubsystem/LeakDetection/LeakDetectors/CP0";
  ASSERT_EQ(actions.size(), 3u);
  EXPECT_EQ(actions[0].type, EventAction::Type::leak_alarm);
  EXPECT_EQ(actions[0].uri, cp0);
  EXPECT_EQ(actions[0].severity, Health::critical);
  EXPECT_EQ(actions[1].type, EventAction::Type::refresh);
  EXPECT_EQ(actions[1].uri, cp0);
  EXPECT_EQ(actions[2].type, EventAction::Type::refresh);
  EXPECT_EQ(actions[2].uri, "/redfish/v1/Chassis/1U/Sensors/GPU0Temp");
}

TEST(RedfishEvent, LeakClearedSeverityFromTheKeyAndOriginsOffTheService) {
  Problems problems;
  const auto event = parse_event(R"({"Events": [
    {"MessageId": "Environmental.1.1.LeakDetectedNormal",
     "OriginOfCondition": {"@odata.id": "/redfish/v1/Chassis/1U/LeakDetectors/Tray"}},
    {"MessageId": "Environmental.1.1.LeakDetectedWarning"},
    {"MessageId": "ResourceEvent.1.0.ResourceChanged",
     "OriginOfCondition": {"@odata.id": "https://other-bmc/redfish/v1/Chassis/1"}}]})",
                                 problems);
  ASSERT_TRUE(event);
  const auto actions = actions_for(*event);
  ASSERT_EQ(actions.size(), 4u);
  EXPECT_EQ(actions[0].type, EventAction::Type::leak_clear);
  EXPECT_EQ(actions[0].severity, Health::ok);
  EXPECT_EQ(actions[1].type, EventAction::Type::refresh);
  // A leak without a location is still a leak; and everything is re-read.
  EXPECT_EQ(actions[2].type, EventAction::Type::leak_alarm);
  EXPECT_EQ(actions[2].severity, Health::warning);
  EXPECT_EQ(actions[2].uri, "");
  EXPECT_EQ(actions[3].type, EventAction::Type::resync);  // merged for both records
}

TEST(RedfishEvent, BrokenPayloadsAreCounted) {
  Problems problems;
  EXPECT_FALSE(parse_event("{\"Events\": [", problems));
  EXPECT_EQ(problems.count(ProblemKind::malformed_json), 1u);
  EXPECT_FALSE(parse_event("[]", problems));
  EXPECT_EQ(problems.count(ProblemKind::wrong_type), 1u);
  auto no_events = parse_event(R"({"Id": "1"})", problems);
  ASSERT_TRUE(no_events);
  EXPECT_THAT(no_events->records, IsEmpty());
  EXPECT_EQ(problems.count(ProblemKind::missing_property), 1u);
  auto odd = parse_event(R"({"Events": [3, {"MessageId": 5, "OriginOfCondition": "/x"}]})", problems);
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->records.size(), 1u);
  EXPECT_EQ(problems.count(ProblemKind::wrong_type), 4u);  // member, MessageId, OriginOfCondition
}

TEST(RedfishEvent, MetricReportsAreNotEvents) {
  Problems problems;
  const auto report = parse_event(R"({"@odata.type": "#MetricReport.v1_4_0.MetricReport",
    "Id": "PlatformPower", "MetricValues": []})", problems);
  ASSERT_TRUE(report);
  EXPECT_THAT(report->records, IsEmpty());
  EXPECT_TRUE(problems.empty());
}

TEST(RedfishEvent, SseStreamToActions) {
  SseParser parser;
  std::vector<SseEvent> events;
  const std::string body = std::string("id: 1207\ndata: ") + kLeakEvent + "\n\n";
  // The JSON has newlines: as a single data field it must be one line each.
  std::string stream;
  for (std::size_t pos = 0; pos < body.size();) {
    const auto nl = body.find('\n', pos);
    const std::string line = body.substr(pos, nl - pos);
    stream += (line.empty() || line.starts_with("id:") || line.starts_with("data:") ? "" : "data: ") +
              line + "\n";
    pos = nl + 1;
  }
  for (std::size_t i = 0; i < stream.size(); i += 7) parser.feed(stream.substr(i, 7), events);
  ASSERT_EQ(events.size(), 1u);
  Problems problems;
  const auto event = parse_event(events[0].data, problems);
  ASSERT_TRUE(event) << problems.summary();
  EXPECT_EQ(actions_for(*event).at(0).type, EventAction::Type::leak_alarm);
}

}  // namespace
}  // namespace railyard::redfish
