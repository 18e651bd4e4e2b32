// The pure parts of the Redfish client: retry timing, Retry-After, episode
// logging, the sensor table's staleness, the credentials file checks.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "drivers/bmc/redfish/backoff.h"
#include "drivers/bmc/redfish/credentials.h"
#include "drivers/bmc/redfish/episodes.h"
#include "drivers/bmc/redfish/sensor_table.h"

namespace railyard::redfish {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// --- backoff -------------------------------------------------------------------

TEST(Backoff, CeilingDoublesFromInitialAndIsCapped) {
  Backoff b({.initial = 500ms, .max = 30s, .multiplier = 2.0, .jitter = 0.5});
  EXPECT_EQ(b.ceiling(0), 0ms);
  EXPECT_EQ(b.ceiling(1), 500ms);
  EXPECT_EQ(b.ceiling(2), 1000ms);
  EXPECT_EQ(b.ceiling(3), 2000ms);
  EXPECT_EQ(b.ceiling(7), 30000ms);  // 32 s capped
  EXPECT_EQ(b.ceiling(500), 30000ms);
}

TEST(Backoff, JitteredDelaysStayWithinTheirBand) {
  Backoff b({.initial = 100ms, .max = 5s, .multiplier = 2.0, .jitter = 0.5}, 42);
  for (unsigned n = 1; n <= 12; ++n) {
    const auto d = b.next();
    EXPECT_EQ(b.failures(), n);
    const auto ceiling = b.ceiling(n);
    EXPECT_LE(d, ceiling) << n;
    EXPECT_GE(d.count(), ceiling.count() / 2) << n;
  }
  b.reset();
  EXPECT_EQ(b.failures(), 0u);
  EXPECT_LE(b.next(), 100ms);
}

TEST(Backoff, JitterSpreadsClientsWithDifferentSeeds) {
  std::vector<std::int64_t> firsts;
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    Backoff b({.initial = 1000ms, .max = 60s, .multiplier = 2.0, .jitter = 1.0}, seed);
    firsts.push_back(b.next().count());
  }
  std::sort(firsts.begin(), firsts.end());
  EXPECT_GT(firsts.back() - firsts.front(), 300) << "16 clients retrying within 300 ms of each other";
}

TEST(Backoff, NoJitterIsExactAndDegenerateConfigIsRepaired) {
  Backoff exact({.initial = 10ms, .max = 40ms, .multiplier = 2.0, .jitter = 0.0});
  EXPECT_EQ(exact.next(), 10ms);
  EXPECT_EQ(exact.next(), 20ms);
  EXPECT_EQ(exact.next(), 40ms);
  EXPECT_EQ(exact.next(), 40ms);
  Backoff odd({.initial = 0ms, .max = 0ms, .multiplier = 0.5, .jitter = 3.0});
  EXPECT_GE(odd.next(), 1ms);
}

// --- Retry-After ------------------------------------------------------------------

TEST(RetryAfter, DelaySeconds) {
  const auto now = std::chrono::system_clock::now();
  EXPECT_EQ(parse_retry_after("5", now), 5s);
  EXPECT_EQ(parse_retry_after(" 120 \r\n", now), 120s);
  EXPECT_EQ(parse_retry_after("0", now), 0s);
  EXPECT_EQ(parse_retry_after("99999999999999999999999", now), std::chrono::seconds(86400LL * 365));
  EXPECT_EQ(parse_retry_after("", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("-3", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("1.5", now), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon", now), std::nullopt);
}

TEST(RetryAfter, HttpDates) {
  // 1994-11-06 08:49:37 UTC
  const auto at = std::chrono::system_clock::from_time_t(784111777);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 30s), 30s);
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", at - 30s), 30s);
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", at - 30s), 30s);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at + 10s), 0s) << "a past date means now";
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", at - 500ms), 1s) << "rounded up";
  EXPECT_EQ(parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", at), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 8:49:37 GMT", at), std::nullopt);
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 CET", at), std::nullopt);
}

// --- episodes ------------------------------------------------------------------------

TEST(Episodes, OneLinePerEpisodeAndOneWhenItClears) {
  EpisodeLog log(2);
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  int started = 0;
  for (int poll = 0; poll < 50; ++poll) started += log.occurred(Issue::timeout, t0 + poll * 1s);
  EXPECT_EQ(started, 1) << "50 timeouts in a row are one episode";
  EXPECT_TRUE(log.active(Issue::timeout));
  EXPECT_EQ(log.clean(Issue::timeout, t0 + 51s), std::nullopt) << "one clean sweep is not enough";
  const auto ended = log.clean(Issue::timeout, t0 + 52s);
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->occurrences, 50u);
  EXPECT_EQ(ended->length, 52s);
  EXPECT_FALSE(log.active(Issue::timeout));
  EXPECT_EQ(log.clean(Issue::timeout, t0 + 53s), std::nullopt) << "nothing to clear twice";
  EXPECT_TRUE(log.occurred(Issue::timeout, t0 + 60s)) << "a new episode";
  EXPECT_EQ(log.episodes(Issue::timeout), 2u);
  EXPECT_EQ(log.count(Issue::timeout), 51u);
}

TEST(Episodes, FlappingIsOneEpisode) {
  EpisodeLog log(2);
  const auto t0 = std::chrono::steady_clock::time_point{};
  int lines = 0;
  for (int i = 0; i < 20; ++i) {  // fails every other sweep
    lines += log.occurred(Issue::http_5xx, t0 + i * 2s);
    lines += log.clean(Issue::http_5xx, t0 + i * 2s + 1s).has_value();
  }
  EXPECT_EQ(lines, 1);
}

TEST(Episodes, KindsAreIndependentAndCountsAccumulate) {
  EpisodeLog log(1);
  const auto t = std::chrono::steady_clock::time_point{};
  EXPECT_TRUE(log.occurred(Issue::malformed_json, t, 3));
  EXPECT_TRUE(log.occurred(Issue::unit_mismatch, t));
  EXPECT_FALSE(log.occurred(Issue::malformed_json, t, 2));
  EXPECT_EQ(log.count(Issue::malformed_json), 5u);
  EXPECT_FALSE(log.occurred(Issue::sse, t, 0)) << "zero occurrences start nothing";
  EXPECT_FALSE(log.active(Issue::sse));
  EXPECT_TRUE(log.clean(Issue::unit_mismatch, t).has_value());
  EXPECT_TRUE(log.active(Issue::malformed_json));
  EXPECT_EQ(issue_for(ProblemKind::missing_property), Issue::missing_property);
  EXPECT_EQ(to_string(Issue::auth_loop), "auth_loop");
  EXPECT_EQ(to_string(Issue::sse), "sse");
}

// --- sensor table -------------------------------------------------------------------------

Reading reading(std::string id, double value, TimePoint at, std::string source = "/redfish/v1/Chassis/1/Sensors") {
  Reading r;
  r.id = std::move(id);
  r.kind = Kind::temperature;
  r.unit = Unit::celsius;
  r.value = value;
  r.health = Health::ok;
  r.source_uri = std::move(source);
  r.read_at = at;
  return r;
}

constexpr auto kSensors = "/redfish/v1/Chassis/1/Sensors";
constexpr auto kGpu = "/redfish/v1/Chassis/1/Sensors/GPU0";
constexpr auto kInlet = "/redfish/v1/Chassis/1/Sensors/Inlet";

TEST(SensorTable, FreshThenStaleWithAgeAndReasonWhenItsTargetFails) {
  SensorTable table(3s);
  const TimePoint t0 = std::chrono::system_clock::from_time_t(1700000000);
  table.update({{reading(kGpu, 60.0, t0), kSensors}, {reading(kInlet, 24.0, t0), kSensors}},
               {{.target = kSensors, .ok = true, .reason = {}}}, t0);
  auto snap = table.snapshot(t0 + 200ms);
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_FALSE(snap[0].stale);
  EXPECT_EQ(snap[0].age, 200ms);
  EXPECT_EQ(snap[0].target, kSensors);

  table.update({}, {{.target = kSensors, .ok = false, .reason = "GET …: HTTP 500"}}, t0 + 1s);
  snap = table.snapshot(t0 + 1500ms);
  for (const auto& s : snap) {
    EXPECT_TRUE(s.stale) << s.reading.id;
    EXPECT_EQ(s.stale_reason, "GET …: HTTP 500");
    EXPECT_EQ(s.age, 1500ms) << "the age of the last value, not of the failure";
    EXPECT_EQ(s.missed, 1u);
    ASSERT_TRUE(s.reading.value.has_value()) << "the last value is kept";
  }
  EXPECT_EQ(snap[0].reading.value, 60.0);

  table.update({{reading(kGpu, 61.0, t0 + 2s), kSensors}, {reading(kInlet, 24.5, t0 + 2s), kSensors}},
               {{.target = kSensors, .ok = true, .reason = {}}}, t0 + 2s);
  snap = table.snapshot(t0 + 2s);
  EXPECT_FALSE(snap[0].stale);
  EXPECT_EQ(snap[0].missed, 0u);
  EXPECT_EQ(snap[0].reading.value, 61.0);
}

TEST(SensorTable, StaleByAgeWhenNothingArrivesAtAll) {
  SensorTable table(3s);
  const TimePoint t0 = std::chrono::system_clock::from_time_t(1700000000);
  table.update({{reading(kGpu, 60.0, t0), kSensors}}, {{.target = kSensors, .ok = true, .reason = {}}}, t0);
  EXPECT_FALSE(table.find(kGpu, t0 + 3s)->stale);
  const auto late = table.find(kGpu, t0 + 3100ms);
  ASSERT_TRUE(late.has_value());
  EXPECT_TRUE(late->stale) << "a hung sweep never leaves a value fresh";
  EXPECT_THAT(late->stale_reason, HasSubstr("not refreshed for 3.1 s"));
}

TEST(SensorTable, MissingFromItsDocumentOrValuelessIsStaleNotFresh) {
  SensorTable table(10s);
  const TimePoint t0 = std::chrono::system_clock::from_time_t(1700000000);
  table.update({{reading(kGpu, 60.0, t0), kSensors}, {reading(kInlet, 24.0, t0), kSensors}},
               {{.target = kSensors, .ok = true, .reason = {}}}, t0);
  Reading no_value = reading(kGpu, 0, t0 + 1s);
  no_value.value.reset();
  no_value.health = Health::critical;
  table.update({{no_value, kSensors}}, {{.target = kSensors, .ok = true, .reason = {}}}, t0 + 1s);
  const auto gpu = table.find(kGpu, t0 + 1s);
  EXPECT_TRUE(gpu->stale);
  EXPECT_EQ(gpu->stale_reason, "no value");
  EXPECT_EQ(gpu->reading.value, 60.0);
  EXPECT_EQ(gpu->reading.health, Health::critical) << "the status is news even without a value";
  const auto inlet = table.find(kInlet, t0 + 1s);
  EXPECT_TRUE(inlet->stale);
  EXPECT_EQ(inlet->stale_reason, "absent from the document");
}

TEST(SensorTable, TargetsNotRequestedKeepTheirStateAndExcerptsOfKnownSensorsAreDropped) {
  SensorTable table(10s);
  const TimePoint t0 = std::chrono::system_clock::from_time_t(1700000000);
  const std::string thermal = "/redfish/v1/Chassis/1/ThermalSubsystem/ThermalMetrics";
  table.update({{reading(kGpu, 60.0, t0), kSensors}}, {{.target = kSensors, .ok = true, .reason = {}}}, t0);
  // The Sensors target failed; ThermalMetrics (an excerpt of GPU0) was read.
  Reading excerpt = reading(thermal + "#/TemperatureReadingsCelsius/0", 60.4, t0 + 1s, thermal);
  excerpt.data_source_uri = kGpu;
  table.update({{excerpt, thermal}},
               {{.target = kSensors, .ok = false, .reason = "timeout"}, {.target = thermal, .ok = true, .reason = {}}},
               t0 + 1s);
  EXPECT_EQ(table.size(), 1u) << "the excerpt does not become a second copy of GPU0";
  EXPECT_TRUE(table.find(kGpu, t0 + 1s)->stale);
  // A sweep that skipped the target (backing off) leaves it as it was.
  table.update({}, {}, t0 + 2s);
  EXPECT_EQ(table.find(kGpu, t0 + 2s)->missed, 1u);
  // An older read arriving after a newer one does not roll the value back.
  table.update({{reading(kGpu, 65.0, t0 + 3s), kSensors}}, {{.target = kSensors, .ok = true, .reason = {}}}, t0 + 3s);
  table.update({{reading(kGpu, 62.0, t0 + 2500ms), kSensors}}, {{.target = kSensors, .ok = true, .reason = {}}},
               t0 + 4s);
  EXPECT_EQ(table.find(kGpu, t0 + 4s)->reading.value, 65.0);
  EXPECT_FALSE(table.find(kGpu, t0 + 4s)->stale);
}

TEST(SensorTable, LeakAndHealthTransitions) {
  SensorTable table(10s);
  const TimePoint t0 = std::chrono::system_clock::from_time_t(1700000000);
  const std::string leak_uri = "/redfish/v1/Chassis/1/ThermalSubsystem/LeakDetection/LeakDetectors/Tray";
  auto leak = [&](double v, Health h, TimePoint at) {
    Reading r = reading(leak_uri, v, at, leak_uri);
    r.kind = Kind::leak;
    r.unit = Unit::boolean;
    r.health = h;
    return TaggedReading{r, leak_uri};
  };
  EXPECT_TRUE(table.update({leak(0, Health::ok, t0), {reading(kGpu, 60, t0), kSensors}}, {}, t0).empty())
      << "dry and OK when first seen: nothing to report";
  auto changes = table.update({leak(1, Health::critical, t0 + 1s)}, {}, t0 + 1s);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].id, leak_uri);
  EXPECT_EQ(changes[0].before, 0.0);
  EXPECT_EQ(changes[0].after, 1.0);
  EXPECT_TRUE(table.update({leak(1, Health::critical, t0 + 2s)}, {}, t0 + 2s).empty()) << "no change, no event";
  Reading hot = reading(kGpu, 91, t0 + 3s);
  hot.health = Health::critical;
  changes = table.update({{hot, kSensors}}, {}, t0 + 3s);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].health_before, Health::ok);
  EXPECT_EQ(changes[0].health_after, Health::critical);
}

// --- credentials ----------------------------------------------------------------------------

class CredentialsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/railyard-cred-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)std::system(("rm -rf " + dir_).c_str()); }
  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  }
  std::string dir_;
};

TEST_F(CredentialsFile, Mode0600IsRead) {
  const auto path = write("ok", "# BMC\n\nroot:0pen:Bmc\n", 0600);
  const auto r = load_credentials_file(path);
  ASSERT_TRUE(r.credentials.has_value()) << r.error;
  EXPECT_EQ(r.credentials->user, "root");
  EXPECT_EQ(r.credentials->password, "0pen:Bmc") << "the password may contain ':'";
  EXPECT_TRUE(load_credentials_file(write("ro", "a:b\r\n", 0400)).credentials.has_value());
}

TEST_F(CredentialsFile, GroupOrWorldReadableIsRefusedWithTheFix) {
  for (mode_t mode : {0644, 0640, 0604, 0660, 0601}) {
    const auto path = write("m" + std::to_string(mode), "root:pw\n", mode);
    const auto r = load_credentials_file(path);
    EXPECT_FALSE(r.credentials.has_value()) << std::oct << mode;
    EXPECT_THAT(r.error, HasSubstr(path));
    EXPECT_THAT(r.error, HasSubstr("chmod 600"));
  }
}

TEST_F(CredentialsFile, SymlinksDirectoriesMissingAndMalformed) {
  const auto target = write("real", "root:pw\n", 0600);
  const auto link = dir_ + "/link";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_FALSE(load_credentials_file(link).credentials.has_value()) << "a symlink could point anywhere";
  EXPECT_FALSE(load_credentials_file(dir_).credentials.has_value());
  EXPECT_THAT(load_credentials_file(dir_ + "/nope").error, HasSubstr("cannot open"));
  EXPECT_THAT(load_credentials_file(write("bad", "justauser\n", 0600)).error, HasSubstr(":1: expected"));
  EXPECT_THAT(load_credentials_file(write("empty", "# nothing\n", 0600)).error, HasSubstr("no 'user:password'"));
}

TEST(CredentialLines, EveryUserUntilAMalformedLine) {
  std::vector<std::string> users;
  auto all = [&users](Credentials c) {
    users.push_back(c.user + "=" + c.password);
    return true;
  };
  EXPECT_EQ(for_each_credential("# users\r\nadmin:a:b\r\n\n  \n  # indented comment\nops:\n", all), 0u);
  EXPECT_THAT(users, ::testing::ElementsAre("admin=a:b", "ops="));
  users.clear();
  EXPECT_EQ(for_each_credential("admin:x\n:nouser\nlater:y\n", all), 2u) << "the line number of the bad line";
  EXPECT_THAT(users, ::testing::ElementsAre("admin=x"));
}

TEST(SecretFile, OwnerAndTypeChecks) {
  struct stat st {};
  st.st_mode = S_IFREG | 0600;
  st.st_uid = 1000;
  EXPECT_EQ(check_secret_file(st, 1000, "/x"), "");
  EXPECT_THAT(check_secret_file(st, 2000, "/x"), HasSubstr("owned by uid 1000"));
  st.st_uid = 0;
  EXPECT_EQ(check_secret_file(st, 2000, "/x"), "") << "root-owned (systemd credentials, /etc) is fine";
  st.st_mode = S_IFREG | 0644;
  EXPECT_THAT(check_secret_file(st, 0, "/x"), HasSubstr("mode 0644"));
  st.st_mode = S_IFDIR | 0700;
  EXPECT_THAT(check_secret_file(st, 0, "/x"), HasSubstr("not a regular file"));
}

TEST_F(CredentialsFile, SystemdCredential) {
  write("bmc", "admin:s3cret\n", 0400);
  const auto r = load_systemd_credential("bmc", dir_.c_str());
  ASSERT_TRUE(r.credentials.has_value()) << r.error;
  EXPECT_EQ(r.credentials->user, "admin");
  EXPECT_THAT(load_systemd_credential("bmc", nullptr).error, HasSubstr("LoadCredential=bmc:"));
  EXPECT_THAT(load_systemd_credential("../etc/shadow", dir_.c_str()).error, HasSubstr("plain file name"));
}

}  // namespace
}  // namespace railyard::redfish
