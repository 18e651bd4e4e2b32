#pragma once
// The Redfish client: one per BMC, entirely on the daemon's control loop
// (one Asio io_context), never blocking it. libcurl's multi interface runs
// the transfers (telemetry::CurlMulti), so a slow or hung BMC costs a socket
// and a timer, not a thread or loop latency.
//
//   telemetry::CurlMulti curl(io);
//   redfish::Client bmc(io, curl, {.name = "bmc", .url = "https://10.0.0.2",
//                                  .ca_file = "/etc/railyard/bmc-ca.pem",
//                                  .credentials_file = "/etc/railyard/bmc.credentials"});
//   bmc.on_event([](const redfish::BmcEvent& e) { ... });
//   if (std::string err; !bmc.start(err)) fail(err);      // before READY
//   ... bmc.snapshot() ...
//   bmc.stop([&] { ... continue shutting down ... });     // deletes the session
//
// What it does, in order: GET the service root (unauthenticated), log in
// (POST SessionService/Sessions; Basic when the service has no
// SessionService or refuses sessions), walk the service with Discovery
// (following $expand when offered), then every poll_interval GET every poll
// target with at most max_in_flight requests at a time, extract and merge the
// readings into a SensorTable. When the EventService offers SSE, a streaming
// GET delivers events: leak alarms and threshold crossings reach on_event at
// once and the resource they name is re-read. Readings are always polled (an
// event stream carries no readings); events are also derived from polled
// readings, so they still arrive when SSE is absent or failing (each change
// is reported once whichever path sees it first).
//
// Failures are never fatal: they are counted per Issue and logged once per
// episode. A target that fails is retried with exponential backoff and
// jitter; 503 + Retry-After holds every request to the BMC until then;
// connection and TLS failures back off the whole BMC; 401 on a session token
// logs in again, and 401s right after fresh logins (a loop) back off the
// logins. Only one session exists at a time; stop() deletes it.
//
// Threading: every member function must be called on the thread running the
// io_context (asserted).

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <bitset>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "drivers/bmc/redfish/backoff.h"
#include "drivers/bmc/redfish/credentials.h"
#include "drivers/bmc/redfish/discovery.h"
#include "drivers/bmc/redfish/episodes.h"
#include "drivers/bmc/redfish/reading.h"
#include "drivers/bmc/redfish/sensor_table.h"
#include "drivers/bmc/redfish/sse.h"
#include "telemetry/curl_asio.h"

namespace railyard::redfish {

enum class AuthMode : std::uint8_t {
  session,  ///< Redfish session (X-Auth-Token); Basic when the service has none
  basic,    ///< HTTP Basic on every request
};
std::string_view to_string(AuthMode mode);

struct ClientConfig {
  /// Names this BMC in logs ("bmc", "h3-bmc").
  std::string name = "bmc";
  /// "https://host[:port]". http:// works (tests, a loopback BMC) but sends
  /// the credentials in clear; a warning is logged at start.
  std::string url;
  /// PEM bundle the BMC's certificate must chain to; "" = the system store.
  std::string ca_file;
  /// Skip certificate verification. Must be explicit; logged as a warning.
  bool insecure = false;
  /// "user:password" file, mode 0600 (or 0400), owned by us or root.
  std::string credentials_file;
  /// Or a systemd credential: $CREDENTIALS_DIRECTORY/<name>.
  std::string credential_name;
  AuthMode auth = AuthMode::session;

  std::chrono::milliseconds poll_interval{1000};
  /// Whole request, connect included; a hung BMC costs at most this.
  std::chrono::milliseconds request_timeout{5000};
  std::chrono::milliseconds connect_timeout{3000};
  /// Requests in flight to this BMC at once (the SSE stream not counted).
  std::size_t max_in_flight = 3;
  /// Retries of a failing target, of the whole BMC after connection errors,
  /// of logins after refusals, of the event stream.
  BackoffPolicy backoff{};
  /// Retry-After is honoured up to this long.
  std::chrono::milliseconds max_retry_after{std::chrono::minutes(5)};
  /// A reading older than this is stale even if nothing failed (a sweep that
  /// is stuck); 0 = 3 x poll_interval.
  std::chrono::milliseconds stale_after{0};
  /// Open the EventService SSE stream when the service offers one.
  bool sse = true;
  /// The stream is reconnected when it delivers nothing (not even a
  /// keep-alive) for this long.
  std::chrono::milliseconds sse_idle_timeout{std::chrono::seconds(60)};
  /// Attempts per discovery GET before that resource is given up.
  unsigned discovery_attempts = 3;
  /// Responses larger than this are dropped (counted as too_large).
  std::size_t max_body_bytes = std::size_t{16} << 20;
  /// stop() waits at most this long for the session DELETE.
  std::chrono::milliseconds stop_timeout{2000};
  DiscoveryOptions discovery{};
  /// Seed of the backoff jitter (0: from the clock).
  std::uint64_t seed = 0;
};

/// A leak alarm or threshold crossing, from the event stream or from polled
/// readings.
struct BmcEvent {
  enum class Type : std::uint8_t {
    leak_alarm,  ///< a leak detector reports a leak
    leak_clear,  ///< it is dry again
    threshold,   ///< a reading's health changed (severity: its new health)
  };
  enum class Source : std::uint8_t { sse, poll };
  Type type;
  Source source;
  /// The detector or sensor (for SSE: OriginOfCondition).
  std::string uri;
  Health severity = Health::unknown;
  /// The Redfish MessageId (SSE), "" for events derived from polling.
  std::string message_id;
  std::string message;
  /// The reading when known.
  std::optional<double> value;
  TimePoint at{};
};
std::string_view to_string(BmcEvent::Type type);

enum class Phase : std::uint8_t { idle, root, discovery, polling, stopping, stopped };
std::string_view to_string(Phase phase);

struct ClientCounters {
  std::uint64_t requests = 0;  ///< started (poll, discovery, login, refresh, delete)
  std::uint64_t responses = 0; ///< completed with a 2xx
  std::uint64_t sweeps = 0;
  std::uint64_t sweeps_overrun = 0;  ///< the interval came while a sweep still ran
  std::uint64_t sessions_created = 0;
  std::uint64_t sessions_deleted = 0;
  std::uint64_t sse_connects = 0;
  std::uint64_t sse_events = 0;
  std::uint64_t refreshes = 0;  ///< event-driven GETs
  std::uint64_t events = 0;     ///< delivered to on_event
  std::size_t in_flight = 0;
  std::size_t max_in_flight = 0;  ///< highest seen
  std::array<std::uint64_t, kIssueCount> issues{};    ///< occurrences per Issue
  std::array<std::uint64_t, kIssueCount> episodes{};  ///< episodes (log lines) per Issue

  std::uint64_t issue(Issue i) const { return issues[static_cast<std::size_t>(i)]; }
  std::uint64_t episode(Issue i) const { return episodes[static_cast<std::size_t>(i)]; }
};

struct ClientStatus {
  Phase phase = Phase::idle;
  AuthMode auth = AuthMode::session;  ///< in use (after any fallback)
  bool logged_in = false;             ///< holds a session token
  std::string session_uri;
  bool expand = false;                ///< collections read with $expand
  std::optional<std::string> sse_uri;
  bool sse_connected = false;
  std::size_t poll_targets = 0;
  std::size_t sensors = 0;
  /// Requests are held until then (503 Retry-After, connection backoff).
  std::optional<std::chrono::steady_clock::time_point> held_until;
  std::set<Issue> active_issues;
};

class Client {
 public:
  using Duration = std::chrono::steady_clock::duration;

  /// `curl` may be shared with other users of the loop; it must outlive
  /// the client.
  Client(boost::asio::io_context& io, telemetry::CurlMulti& curl, ClientConfig config);
  /// Cancels everything at once (no session DELETE: call stop() first).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Checks the configuration, loads the credentials, logs the warnings
  /// (insecure TLS, plain http) and starts talking to the BMC. False with
  /// the reason and the fix, for a start-up error; never fails later.
  bool start(std::string& error);
  /// Stops polling and the event stream, cancels requests, deletes the
  /// session (waiting at most stop_timeout) and then calls `done` (from the
  /// loop, never from inside stop()).
  void stop(std::function<void()> done);
  /// Starts a sweep now unless one is running or discovery is not done.
  void sweep_now();

  /// Every sensor, ordered by id, with freshness and age as of now.
  std::vector<SensorState> snapshot() const;
  ClientCounters counters() const;
  ClientStatus status() const;
  /// What each sweep reads (complete once discovery is done), as GET paths
  /// relative to the URL ("?$expand=..." included where used).
  std::vector<std::string> poll_paths() const;
  /// Wall time of the last complete sweep (zero before the first).
  Duration sweep_duration() const { return last_sweep_; }
  /// Start of discovery to the end of the first sweep (zero before).
  Duration first_sweep_after() const { return first_sweep_; }

  /// Leak alarms/clears and threshold crossings, on the loop.
  void on_event(std::function<void(const BmcEvent&)> callback) { on_event_ = std::move(callback); }
  /// After each complete sweep (the snapshot is up to date).
  void on_sweep(std::function<void()> callback) { on_sweep_ = std::move(callback); }

 private:
  struct Call;
  enum class Outcome : std::uint8_t { ok, unauthorized, unavailable, http_5xx, http_4xx, timeout, connect, tls, too_large };
  struct Target {
    PollTarget poll;
    std::string path;  // what each sweep GETs: the URI, with the $expand query where used
    Backoff backoff;
    std::chrono::steady_clock::time_point next_try{};
    std::optional<Issue> failing;
  };
  using Done = std::function<void(Call&, Outcome)>;

  // Requests.
  std::unique_ptr<Call> make_call(std::string method, std::string path, Done done);
  void enqueue(std::unique_ptr<Call> call, bool front = false);
  void dispatch();
  bool launch(std::unique_ptr<Call> call);
  void configure(Call& call);
  void set_transport(CURL* easy, const std::string& path) const;
  void set_basic_auth(CURL* easy) const;
  void on_transfer_done(CURL* easy, CURLcode code);
  Outcome classify(const Call& call, CURLcode code) const;
  static Issue issue_of(Outcome outcome);
  std::string describe(const Call& call, Outcome outcome) const;
  void recycle(telemetry::CurlEasy easy);
  void hold_until(std::chrono::steady_clock::time_point until);
  void shed_sweep(Outcome outcome);

  // Authentication.
  bool auth_ready() const;
  void login();
  void do_login();
  void login_after(std::chrono::milliseconds delay);
  void after_login(Call& call, Outcome outcome);
  void on_unauthorized(std::unique_ptr<Call> call);
  void drop_session();

  // Discovery.
  void begin();
  void after_root(Call& call, Outcome outcome);
  void fetch(const Fetch& f, unsigned attempt);
  void after_fetch(const Fetch& f, unsigned attempt, Call& call, Outcome outcome);
  void maybe_discovered();

  // Polling.
  void arm_sweep_timer();
  void start_sweep();
  void after_target(std::size_t index, Call& call, Outcome outcome);
  void finish_sweep();
  void refresh(const std::string& uri);
  void after_refresh(const std::string& uri, Call& call, Outcome outcome);
  void apply(std::vector<TaggedReading> readings, const std::vector<TargetOutcome>& outcomes);

  // Events.
  void open_stream();
  void after_stream(CURLcode code);
  void stream_events();
  void schedule_stream(bool was_connected);
  void emit(BmcEvent event);
  void emit_leak(const std::string& uri, bool active, BmcEvent event);
  void emit_health(const std::string& uri, BmcEvent event);

  // Problems.
  void note(Issue issue, const std::string& detail, std::uint64_t n = 1);
  void clean_issues();

  void finish_stop();
  void check_thread() const;
  std::weak_ptr<int> guard() const { return alive_; }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* call);
  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* call);
  static std::size_t on_stream(char* data, std::size_t size, std::size_t n, void* self);

  boost::asio::io_context& io_;
  telemetry::CurlMulti& curl_;
  ClientConfig config_;
  std::string base_;  // url without a trailing '/'
  Credentials credentials_;
  std::thread::id owner_{};
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  Phase phase_ = Phase::idle;

  // Requests.
  std::deque<std::unique_ptr<Call>> queue_;
  std::map<CURL*, std::unique_ptr<Call>> running_;
  std::vector<telemetry::CurlEasy> spare_;
  std::chrono::steady_clock::time_point held_until_{};
  boost::asio::steady_timer hold_timer_;
  bool hold_armed_ = false;
  Backoff connection_backoff_;
  std::size_t consecutive_timeouts_ = 0;

  // Authentication.
  AuthMode auth_ = AuthMode::session;
  std::string sessions_path_ = "/redfish/v1/SessionService/Sessions";
  std::string token_;
  std::string session_uri_;
  bool login_running_ = false;
  bool login_waiting_ = false;
  unsigned auth_streak_ = 0;  // requests refused even with a fresh token, since a clean sweep
  bool unauthorized_in_sweep_ = false;
  Backoff auth_backoff_;
  boost::asio::steady_timer login_timer_;

  // Discovery.
  std::optional<Discovery> discovery_;
  std::chrono::steady_clock::time_point started_at_{};
  Backoff root_backoff_;
  boost::asio::steady_timer retry_timer_;

  // Polling.
  std::vector<Target> targets_;
  SensorTable table_;
  bool sweeping_ = false;
  bool sweep_due_ = false;
  std::size_t sweep_pending_ = 0;
  std::chrono::steady_clock::time_point sweep_started_{};
  std::vector<TaggedReading> sweep_readings_;
  std::vector<TargetOutcome> sweep_outcomes_;
  boost::asio::steady_timer sweep_timer_;
  Duration last_sweep_{};
  Duration first_sweep_{};
  std::set<std::string> refreshing_;

  // Events.
  std::optional<std::string> sse_uri_;
  telemetry::CurlEasy stream_;
  telemetry::CurlSlist stream_headers_;
  bool stream_running_ = false;
  bool stream_connected_ = false;
  bool stream_post_pending_ = false;
  SseParser sse_parser_;
  std::string stream_token_;
  std::string stream_error_body_;
  std::vector<SseEvent> sse_pending_;
  Backoff stream_backoff_;
  boost::asio::steady_timer stream_timer_;
  std::map<std::string, bool> leak_state_;
  std::map<std::string, Health> health_state_;

  // Problems.
  EpisodeLog episodes_;
  std::bitset<kIssueCount> seen_;

  ClientCounters counters_;
  std::function<void(const BmcEvent&)> on_event_;
  std::function<void()> on_sweep_;

  // Stopping.
  std::function<void()> stop_done_;
  boost::asio::steady_timer stop_timer_;
  CURL* delete_easy_ = nullptr;
};

}  // namespace railyard::redfish
