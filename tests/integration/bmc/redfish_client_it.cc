// The Redfish client against a live bmc-sim: one case per invocation
// (client_it.sh starts the simulator with the matching flags and scenario).
//
//   redfish_client_it CASE URL CREDENTIALS [CA]
//
// Prints "ok - ..." / "FAIL - ..." lines and exits 1 on any failure. The
// simulator is watched through its unfaulted /sim/state (scenario time) and
// its Sessions collection (read with Basic auth, which creates no session),
// with blocking curl calls made between slices of the io_context's run.

#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "drivers/bmc/redfish/client.h"
#include "drivers/bmc/redfish/credentials.h"
#include "telemetry/curl_asio.h"

namespace {

using namespace std::chrono_literals;
using railyard::redfish::BmcEvent;
using railyard::redfish::Client;
using railyard::redfish::ClientConfig;
using railyard::redfish::Issue;
using railyard::redfish::Kind;
using railyard::redfish::SensorState;
using SteadyClock = std::chrono::steady_clock;
namespace asio = boost::asio;
namespace json = boost::json;

int failures = 0;
void check(bool ok, const std::string& what) {
  std::printf("%s - %s\n", ok ? "ok  " : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok) ++failures;
}

std::size_t collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// The simulator, seen from outside the client (blocking; test-only).
struct Sim {
  std::string url;
  std::string ca;
  std::string userpwd;

  std::string get(const std::string& path, bool auth, long* status = nullptr) const {
    std::string body;
    CURL* e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, (url + path).c_str());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (!ca.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, ca.c_str());
    if (auth) curl_easy_setopt(e, CURLOPT_USERPWD, userpwd.c_str());
    const CURLcode rc = curl_easy_perform(e);
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    if (status) *status = rc == CURLE_OK ? code : 0;
    return body;
  }
  double time() const {
    std::error_code ec;
    auto v = json::parse(get("/sim/state", false), ec);
    if (ec || !v.is_object()) return -1;
    return v.as_object().at("time").to_number<double>();
  }
  // Open sessions, or -1 when the collection cannot be read.
  long sessions() const {
    long status = 0;
    std::error_code ec;
    auto v = json::parse(get("/redfish/v1/SessionService/Sessions", true, &status), ec);
    if (ec || status != 200 || !v.is_object()) return -1;
    return static_cast<long>(v.as_object().at("Members").as_array().size());
  }
};

bool run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit,
               std::chrono::milliseconds slice = 10ms) {
  const auto end = SteadyClock::now() + limit;
  while (SteadyClock::now() < end) {
    if (done()) return true;
    io.run_for(slice);
    if (io.stopped()) io.restart();
  }
  return done();
}

void run_for(asio::io_context& io, std::chrono::milliseconds d) {
  run_until(io, [] { return false; }, d);
}

// Runs the loop until the simulator's scenario clock reaches `t`.
bool wait_sim(asio::io_context& io, const Sim& sim, double t, std::chrono::milliseconds limit = 60s) {
  return run_until(io, [&] { return sim.time() >= t; }, limit, 50ms);
}

const SensorState* find(const std::vector<SensorState>& snap, std::string_view suffix) {
  for (const auto& s : snap) {
    if (s.reading.id.ends_with(suffix)) return &s;
  }
  return nullptr;
}

std::size_t stale_count(const std::vector<SensorState>& snap) {
  return static_cast<std::size_t>(std::count_if(snap.begin(), snap.end(), [](const auto& s) { return s.stale; }));
}

std::uint64_t transport_issues(const railyard::redfish::ClientCounters& c) {
  std::uint64_t n = 0;
  for (Issue i : {Issue::timeout, Issue::connect, Issue::tls, Issue::http_5xx, Issue::unavailable, Issue::http_4xx,
                  Issue::auth_loop, Issue::login_failed, Issue::malformed_json, Issue::too_large}) {
    n += c.issue(i);
  }
  return n;
}

bool stop(asio::io_context& io, Client& client) {
  bool stopped = false;
  client.stop([&] { stopped = true; });
  return run_until(io, [&] { return stopped; }, 4s);
}

ClientConfig base_config(const std::string& url, const std::string& creds, const std::string& ca) {
  ClientConfig c;
  c.name = "it";
  c.url = url;
  c.ca_file = ca;
  c.credentials_file = creds;
  c.poll_interval = 300ms;
  c.request_timeout = 800ms;
  c.connect_timeout = 500ms;
  c.max_in_flight = 2;
  c.backoff = {.initial = 200ms, .max = 1000ms, .multiplier = 2.0, .jitter = 0.5};
  c.sse_idle_timeout = 5s;
  c.stop_timeout = 1500ms;
  c.seed = 7;
  return c;
}

std::string fmt_ms(SteadyClock::duration d) {
  std::ostringstream o;
  o << std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 1000.0 << " ms";
  return o.str();
}

struct Lateness {
  std::size_t ticks = 0;
  double p50 = 1e9, p99 = 1e9, max = 1e9;
};

// How late a 1 ms timer on the same io_context fires, over `span`.
Lateness measure_lateness(asio::io_context& io, std::chrono::milliseconds span) {
  std::vector<double> late;
  asio::steady_timer tick(io);
  SteadyClock::time_point due;
  std::function<void()> arm = [&] {
    due = SteadyClock::now() + 1ms;
    tick.expires_at(due);
    tick.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      late.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - due).count());
      arm();
    });
  };
  arm();
  run_for(io, span);
  tick.cancel();
  run_for(io, 5ms);
  Lateness l;
  if (late.empty()) return l;
  std::sort(late.begin(), late.end());
  l.ticks = late.size();
  l.p50 = late[late.size() / 2];
  l.p99 = late[late.size() * 99 / 100];
  l.max = late.back();
  return l;
}

// --- cases ---------------------------------------------------------------------

// Every sensor read, fresh, with thresholds; one session; bounded in-flight;
// values of a coolant ramp increasing; the session deleted on stop.
int case_basic(const std::string& variant, const Sim& sim, ClientConfig cfg) {
  asio::io_context io;
  railyard::telemetry::CurlMulti curl(io);
  const bool basic_auth = variant == "basic-auth";
  if (basic_auth) cfg.auth = railyard::redfish::AuthMode::basic;
  Client client(io, curl, cfg);
  std::vector<double> supply;
  client.on_sweep([&] {
    for (const auto& s : client.snapshot()) {
      // Current schema: a Sensor named by a CoolantConnector; legacy: a
      // Thermal temperature with PhysicalContext LiquidInlet.
      const bool supply_kind = s.reading.kind == Kind::coolant_supply_temperature ||
                               (s.reading.kind == Kind::temperature && s.reading.physical_context == "LiquidInlet");
      if (supply_kind && s.reading.value && !s.stale && s.reading.id.find("Primary") == std::string::npos) {
        supply.push_back(*s.reading.value);
        break;
      }
    }
  });
  std::string error;
  check(client.start(error), "start: " + error);
  check(run_until(io, [&] { return client.counters().sweeps >= 1; }, 15s), "a first sweep within 15 s");
  std::printf("# first sweep %s after start, sweep %s\n", fmt_ms(client.first_sweep_after()).c_str(),
              fmt_ms(client.sweep_duration()).c_str());
  run_for(io, 3000ms);
  const auto snap = client.snapshot();
  const auto c = client.counters();
  const auto st = client.status();
  const bool legacy = variant == "legacy";
  check(snap.size() >= (legacy ? 12u : 20u), "sensors read: " + std::to_string(snap.size()));
  check(stale_count(snap) == 0, "every reading fresh (" + std::to_string(stale_count(snap)) + " stale)");
  bool stamped = true;
  for (const auto& s : snap) {
    stamped = stamped && s.reading.value && !s.reading.source_uri.empty() &&
              s.reading.read_at != railyard::redfish::TimePoint{} && s.age < 2000ms;
  }
  check(stamped, "every reading has a value, a source URI, a read time and an age under 2 s");
  const SensorState* gpu = nullptr;
  for (const auto& s : snap) {
    if (s.reading.kind == Kind::temperature && s.reading.name.find("GPU") != std::string::npos) {
      gpu = &s;
      break;
    }
  }
  check(gpu != nullptr && gpu->reading.thresholds.upper_critical == 90.0,
        "a GPU temperature with the BMC's UpperCritical (90)");
  check(supply.size() >= 5 && supply.back() > supply.front() &&
            std::is_sorted(supply.begin(), supply.end()),
        "coolant supply rises with the ramp: " +
            (supply.empty() ? std::string("none")
                            : std::to_string(supply.front()) + " -> " + std::to_string(supply.back())));
  if (!legacy) {
    const auto leaks = std::count_if(snap.begin(), snap.end(), [](const auto& s) { return s.reading.kind == Kind::leak; });
    check(leaks >= 3, "leak detectors read: " + std::to_string(leaks));
  }
  check(transport_issues(c) == 0, "no problems counted: " + std::to_string(transport_issues(c)));
  check(c.max_in_flight >= 1 && c.max_in_flight <= cfg.max_in_flight,
        "at most " + std::to_string(cfg.max_in_flight) + " requests in flight (max seen " +
            std::to_string(c.max_in_flight) + ")");
  check(st.sse_uri.has_value() && st.sse_connected, "event stream connected");
  if (basic_auth) {
    check(c.sessions_created == 0 && sim.sessions() == 0, "Basic: no session created");
  } else {
    check(c.sessions_created == 1, "one session created over " + std::to_string(c.sweeps) + " sweeps");
    check(sim.sessions() == 1, "the BMC holds one session");
  }
  std::printf("# %llu requests, %llu sweeps, last sweep %s, %zu poll targets, $expand %s\n",
              static_cast<unsigned long long>(c.requests), static_cast<unsigned long long>(c.sweeps),
              fmt_ms(client.sweep_duration()).c_str(), st.poll_targets, st.expand ? "yes" : "no");
  check(stop(io, client), "stop completes");
  check(sim.sessions() == 0, "the session is deleted on stop");
  if (!basic_auth) check(client.counters().sessions_deleted == 1, "sessions_deleted counted");
  return failures;
}

// TLS against a CA the client was not given: counted, logged once, never
// fatal; `insecure` connects (and warns).
int case_bad_tls(const Sim& sim, ClientConfig cfg) {
  asio::io_context io;
  railyard::telemetry::CurlMulti curl(io);
  cfg.ca_file.clear();
  Client client(io, curl, cfg);
  std::string error;
  check(client.start(error), "start without the CA");
  run_for(io, 2500ms);
  const auto c = client.counters();
  check(c.issue(Issue::tls) >= 2 && c.episode(Issue::tls) == 1,
        "TLS failures counted (" + std::to_string(c.issue(Issue::tls)) + "), one episode");
  check(client.snapshot().empty(), "nothing read from an unverified BMC");
  check(c.requests <= 8, "backed off: " + std::to_string(c.requests) + " attempts in 2.5 s");
  check(stop(io, client), "stop completes");

  cfg.insecure = true;
  Client loose(io, curl, cfg);
  check(loose.start(error), "start with insecure = true");
  check(run_until(io, [&] { return loose.counters().sweeps >= 1; }, 10s), "insecure reads the BMC");
  check(stop(io, loose), "stop completes");
  (void)sim;
  return failures;
}

// Credentials in a file others can read: refused at start with the fix.
int case_bad_perms(ClientConfig cfg) {
  asio::io_context io;
  railyard::telemetry::CurlMulti curl(io);
  char path[] = "/tmp/railyard-it-creds-XXXXXX";
  const int fd = ::mkstemp(path);
  (void)::write(fd, "root:0penBmc\n", 13);
  ::close(fd);
  ::chmod(path, 0644);
  cfg.credentials_file = path;
  Client client(io, curl, cfg);
  std::string error;
  check(!client.start(error), "a 0644 credentials file is refused");
  check(error.find("chmod 600") != std::string::npos && error.find(path) != std::string::npos,
        "the message names the file and the fix: " + error);
  ::unlink(path);
  return failures;
}

// --session-timeout 1 and a 1.5 s poll: the session expires between sweeps.
int case_expiry(const Sim& sim, ClientConfig cfg) {
  asio::io_context io;
  railyard::telemetry::CurlMulti curl(io);
  cfg.poll_interval = 1500ms;
  cfg.stale_after = 4000ms;
  Client client(io, curl, cfg);
  long most_sessions = 0;
  std::size_t stale_after_sweep = 0;
  client.on_sweep([&] {
    most_sessions = std::max(most_sessions, sim.sessions());
    stale_after_sweep = stale_count(client.snapshot());
  });
  std::string error;
  check(client.start(error), "start");
  run_until(io, [&] { return client.counters().sweeps >= 5; }, 15s);
  const auto c = client.counters();
  check(c.sweeps >= 5, "5 sweeps");
  check(c.sessions_created >= 3, "logged in again after expiry: " + std::to_string(c.sessions_created) + " sessions");
  check(c.issue(Issue::unauthorized) >= 2, "401s on expired tokens counted: " + std::to_string(c.issue(Issue::unauthorized)));
  check(c.issue(Issue::auth_loop) == 0, "expiry is not mistaken for a 401 loop");
  check(stale_after_sweep == 0, "readings fresh after each re-login");
  check(most_sessions <= 1, "never more than one session on the BMC (max " + std::to_string(most_sessions) + ")");
  check(stop(io, client), "stop completes");
  check(sim.sessions() == 0, "no session left");
  return failures;
}

// Scripted faults at their times (speed 10: scenario seconds / 10 = wall).
int case_faults(const Sim& sim, ClientConfig cfg) {
  asio::io_context io;
  railyard::telemetry::CurlMulti curl(io);
  Client client(io, curl, cfg);
  std::string error;
  check(client.start(error), "start");
  const std::string gpu0 = "/Sensors/GPU0Temp";
  const std::string inlet = "/Sensors/InletTemp";

  wait_sim(io, sim, 35);
  auto snap = client.snapshot();
  check(!snap.empty() && stale_count(snap) == 0, "t=35: all fresh before the faults");
  check(transport_issues(client.counters()) == 0, "t=35: no problems yet");

  // 500 on the GPU sensors, t = 40..60.
  wait_sim(io, sim, 55);
  snap = client.snapshot();
  auto* g = find(snap, gpu0);
  check(g && g->stale && g->stale_reason.find("HTTP 500") != std::string::npos && g->age > 300ms && g->reading.value,
        "t=55: GPU0 stale with its last value, age " + (g ? std::to_string(g->age.count()) + " ms, " + g->stale_reason : "?"));
  auto* in = find(snap, inlet);
  check(in && !in->stale, "t=55: inlet (not faulted) fresh");
  auto c = client.counters();
  check(c.issue(Issue::http_5xx) > 8 && c.episode(Issue::http_5xx) == 1,
        "500s counted (" + std::to_string(c.issue(Issue::http_5xx)) + "), one episode");
  wait_sim(io, sim, 85);
  snap = client.snapshot();
  g = find(snap, gpu0);
  check(g && !g->stale, "t=85: GPU0 fresh again");
  check(!client.status().active_issues.contains(Issue::http_5xx), "t=85: the 500 episode has cleared");

  // Truncated JSON on the inlet sensor, t = 90..110.
  wait_sim(io, sim, 105);
  snap = client.snapshot();
  in = find(snap, inlet);
  check(in && in->stale && in->stale_reason == "malformed JSON" && in->reading.value,
        "t=105: inlet stale (malformed JSON) with its last value");
  c = client.counters();
  check(c.issue(Issue::malformed_json) >= 2 && c.episode(Issue::malformed_json) == 1,
        "malformed JSON counted (" + std::to_string(c.issue(Issue::malformed_json)) + "), one episode");

  // 503 + Retry-After 2 s on every path, t = 140..150.
  wait_sim(io, sim, 135);
  const bool got_503 = run_until(io, [&] { return client.counters().issue(Issue::unavailable) > 0; }, 3s, 1ms);
  check(got_503, "503 seen");
  const auto requests_at_503 = client.counters().requests;
  const auto held = client.status().held_until;
  check(held.has_value() && *held - SteadyClock::now() > 1500ms, "requests held for Retry-After");
  run_for(io, 1700ms);
  const auto during_hold = client.counters().requests - requests_at_503;
  check(during_hold == 0, "no request sent during Retry-After (" + std::to_string(during_hold) + ")");
  run_for(io, 1500ms);
  check(client.counters().requests > requests_at_503, "requests resume after Retry-After");
  check(client.counters().episode(Issue::unavailable) == 1, "one 503 episode");

  // Slow answers (600 ms) from the flow sensor, t = 180..200.
  wait_sim(io, sim, 185);
  const auto timeouts_before = client.counters().issue(Issue::timeout);
  wait_sim(io, sim, 197);
  check(client.sweep_duration() >= 600ms, "slow BMC: sweep takes " + fmt_ms(client.sweep_duration()));
  check(client.counters().issue(Issue::timeout) == timeouts_before, "slow but under the timeout: no timeouts");
  snap = client.snapshot();
  auto* flow = find(snap, "/Sensors/CoolantFlow");
  check(flow && flow->reading.value && flow->age < 2000ms, "slow sensor still read");

  // Hang on every path, t = 230..260: the loop keeps its latency. The same
  // 1 ms timer is measured just before (no fault) as the machine's baseline.
  wait_sim(io, sim, 210);
  const Lateness before = measure_lateness(io, 1500ms);
  wait_sim(io, sim, 232);
  const auto hang_requests = client.counters().requests;
  const Lateness during = measure_lateness(io, 2000ms);
  std::printf("# 1 ms timer lateness, no fault: %zu ticks, p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", before.ticks,
              before.p50, before.p99, before.max);
  std::printf("# 1 ms timer lateness, hung BMC: %zu ticks, p50 %.3f ms, p99 %.3f ms, max %.3f ms\n", during.ticks,
              during.p50, during.p99, during.max);
  check(during.ticks > 500 && during.p99 < std::max(5.0, 3 * before.p99) && during.max < std::max(50.0, 3 * before.max),
        "hung BMC: a 1 ms timer stays on time (p99 " + std::to_string(during.p99) + " ms, max " +
            std::to_string(during.max) + " ms; without the fault p99 " + std::to_string(before.p99) + " ms)");
  c = client.counters();
  check(c.issue(Issue::timeout) >= 2 && c.episode(Issue::timeout) == 1,
        "timeouts counted (" + std::to_string(c.issue(Issue::timeout)) + "), one episode");
  check(c.requests - hang_requests <= 8, "hung BMC backed off: " + std::to_string(c.requests - hang_requests) +
                                             " requests in 2 s");
  check(c.in_flight <= cfg.max_in_flight, "in flight within the cap during the hang");
  wait_sim(io, sim, 255);
  snap = client.snapshot();
  g = find(snap, gpu0);
  check(g && g->stale && g->age > 1500ms, "t=255: readings stale, age " + (g ? std::to_string(g->age.count()) : "?") + " ms");
  check(stale_count(snap) == snap.size(), "t=255: nothing reported fresh while the BMC hangs");

  wait_sim(io, sim, 295);
  snap = client.snapshot();
  check(stale_count(snap) == 0, "t=295: all fresh again (" + std::to_string(stale_count(snap)) + " stale)");
  check(client.status().active_issues.empty(), "t=295: every episode cleared");
  check(client.counters().max_in_flight <= cfg.max_in_flight, "never more than max_in_flight");
  check(client.counters().sessions_created == 1, "one session throughout");
  check(stop(io, client), "stop completes");
  check(sim.sessions() == 0, "session deleted");
  return failures;
}

// Leak at t=30 (Critical), dry at t=60; coolant crosses UpperCaution.
int case_leak(const Sim& sim, ClientConfig cfg, bool sse) {
  asio::io_context io;
  railyard::telemetry::CurlMulti curl(io);
  cfg.sse = sse;
  Client client(io, curl, cfg);
  struct Seen {
    BmcEvent event;
    double sim_time;
  };
  std::vector<Seen> seen;
  client.on_event([&](const BmcEvent& e) { seen.push_back({e, sim.time()}); });
  std::string error;
  check(client.start(error), "start");
  wait_sim(io, sim, 45);
  auto leak = std::find_if(seen.begin(), seen.end(), [](const Seen& s) {
    return s.event.type == BmcEvent::Type::leak_alarm && s.event.uri.ends_with("ColdPlateTray");
  });
  check(leak != seen.end(), "leak alarm for ColdPlateTray");
  if (leak != seen.end()) {
    const double late_s = (leak->sim_time - 30.0) / 10.0;  // speed 10
    const auto want = sse ? BmcEvent::Source::sse : BmcEvent::Source::poll;
    check(leak->event.source == want, std::string("delivered by ") + (sse ? "the event stream" : "polling"));
    check(late_s < (sse ? 0.5 : 1.0), "delivered " + std::to_string(late_s) + " s after the leak");
    check(leak->event.severity == railyard::redfish::Health::critical, "severity critical");
  }
  const auto snap = client.snapshot();
  const auto* det = find(snap, "LeakDetectors/ColdPlateTray");
  check(det && det->reading.value == 1.0 && !det->stale, "the detector reads 1 (wet)");
  const auto alarms = std::count_if(seen.begin(), seen.end(), [](const Seen& s) {
    return s.event.type == BmcEvent::Type::leak_alarm && s.event.uri.ends_with("ColdPlateTray");
  });
  check(alarms == 1, "one alarm, however many paths saw it (" + std::to_string(alarms) + ")");
  const bool threshold = std::any_of(seen.begin(), seen.end(), [](const Seen& s) {
    return s.event.type == BmcEvent::Type::threshold && s.event.uri.ends_with("CoolantSupplyTemp");
  });
  check(threshold, "threshold event for the coolant supply crossing UpperCaution");
  wait_sim(io, sim, 70);
  check(std::any_of(seen.begin(), seen.end(),
                    [](const Seen& s) {
                      return s.event.type == BmcEvent::Type::leak_clear && s.event.uri.ends_with("ColdPlateTray");
                    }),
        "leak cleared");
  if (sse) check(client.counters().sse_events > 0, "SSE events: " + std::to_string(client.counters().sse_events));
  check(stop(io, client), "stop completes");
  return failures;
}

// 401 on the chassis paths with valid fresh tokens (t=20..60): a 401 loop.
int case_auth_loop(const Sim& sim, ClientConfig cfg) {
  asio::io_context io;
  railyard::telemetry::CurlMulti curl(io);
  Client client(io, curl, cfg);
  std::string error;
  check(client.start(error), "start");
  wait_sim(io, sim, 18);
  const auto sessions_before = client.counters().sessions_created;
  long most = 0;
  while (sim.time() < 58) {
    run_for(io, 200ms);
    most = std::max(most, sim.sessions());
  }
  const auto c = client.counters();
  const auto logins = c.sessions_created - sessions_before;
  check(c.issue(Issue::auth_loop) >= 1 && c.episode(Issue::auth_loop) == 1,
        "401 loop detected (" + std::to_string(c.issue(Issue::auth_loop)) + "), one episode");
  check(logins <= 10, "logins backed off: " + std::to_string(logins) + " in 4 s");
  check(most <= 2, "sessions do not pile up on the BMC (max " + std::to_string(most) + ")");
  wait_sim(io, sim, 90);
  const auto snap = client.snapshot();
  check(!snap.empty() && stale_count(snap) == 0, "t=90: fresh again after the loop");
  check(!client.status().active_issues.contains(Issue::auth_loop), "t=90: the loop episode cleared");
  check(stop(io, client), "stop completes");
  check(sim.sessions() == 0, "no session left");
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s CASE URL CREDENTIALS [CA]\n", argv[0]);
    return 2;
  }
  const std::string which = argv[1];
  const std::string url = argv[2];
  const std::string creds = argv[3];
  const std::string ca = argc > 4 ? argv[4] : "";
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const auto loaded = railyard::redfish::load_credentials_file(creds);
  if (!loaded.credentials) {
    std::fprintf(stderr, "%s\n", loaded.error.c_str());
    return 2;
  }
  const Sim sim{url, ca, loaded.credentials->user + ":" + loaded.credentials->password};
  const ClientConfig cfg = base_config(url, creds, ca);
  std::printf("# case %s against %s\n", which.c_str(), url.c_str());
  if (which == "current" || which == "legacy" || which == "basic-auth") {
    case_basic(which, sim, cfg);
  } else if (which == "bad-tls") {
    case_bad_tls(sim, cfg);
  } else if (which == "bad-perms") {
    case_bad_perms(cfg);
  } else if (which == "expiry") {
    case_expiry(sim, cfg);
  } else if (which == "faults") {
    case_faults(sim, cfg);
  } else if (which == "leak-sse") {
    case_leak(sim, cfg, true);
  } else if (which == "leak-poll") {
    case_leak(sim, cfg, false);
  } else if (which == "auth-loop") {
    case_auth_loop(sim, cfg);
  } else {
    std::fprintf(stderr, "unknown case %s\n", which.c_str());
    return 2;
  }
  return failures == 0 ? 0 : 1;
}
