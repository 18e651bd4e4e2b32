#include "drivers/bmc/redfish/client.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <utility>

#include "common/log.h"
#include "drivers/bmc/redfish/extract.h"

namespace railyard::redfish {

namespace json = boost::json;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

std::string_view to_string(AuthMode mode) { return mode == AuthMode::session ? "session" : "basic"; }

std::string_view to_string(BmcEvent::Type type) {
  switch (type) {
    case BmcEvent::Type::leak_alarm: return "leak_alarm";
    case BmcEvent::Type::leak_clear: return "leak_clear";
    case BmcEvent::Type::threshold: return "threshold";
  }
  return "?";
}

std::string_view to_string(Phase phase) {
  switch (phase) {
    case Phase::idle: return "idle";
    case Phase::root: return "root";
    case Phase::discovery: return "discovery";
    case Phase::polling: return "polling";
    case Phase::stopping: return "stopping";
    case Phase::stopped: return "stopped";
  }
  return "?";
}

struct Client::Call {
  std::string method;  // GET, POST, DELETE
  std::string path;    // service path with query
  std::string request_body;
  bool auth = true;         // send credentials (session token or Basic)
  bool note_errors = true;  // count transport/HTTP failures centrally
  Done done;

  telemetry::CurlEasy easy;
  telemetry::CurlSlist headers;
  std::size_t max_body = 0;
  std::string body;
  bool overflow = false;
  std::string token_header;
  std::string location_header;
  std::string retry_after_header;
  long status = 0;
  CURLcode code = CURLE_OK;
  char error[CURL_ERROR_SIZE] = {};
  std::string token_used;
  std::string token_override;  // a session being deleted after a 401
  bool auth_retried = false;
  bool sweep = false;  // a poll of this sweep: may be shed when the BMC stops answering
  bool shed = false;   // never sent
  SteadyClock::time_point started{};
};

namespace {

std::uint64_t seed_from(std::uint64_t configured, std::uint64_t salt) {
  const std::uint64_t base =
      configured != 0 ? configured : static_cast<std::uint64_t>(SteadyClock::now().time_since_epoch().count());
  return base ^ (salt * 0x9e3779b97f4a7c15ULL);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// "https://bmc:8443/redfish/v1/SessionService/Sessions/7" -> the path.
std::string service_path(std::string_view location) {
  if (location.starts_with("/")) return std::string(location);
  const auto scheme = location.find("://");
  if (scheme == std::string_view::npos) return {};
  const auto slash = location.find('/', scheme + 3);
  return slash == std::string_view::npos ? std::string() : std::string(location.substr(slash));
}

double seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

bool is_tls_error(CURLcode code) {
  switch (code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED: return true;
    default: return false;
  }
}

bool threshold_message(std::string_view message_id) {
  return message_id.find("Threshold") != std::string_view::npos ||
         message_id.find("SensorReadingNormalRange") != std::string_view::npos;
}

}  // namespace

Client::Client(boost::asio::io_context& io, telemetry::CurlMulti& curl, ClientConfig config)
    : io_(io),
      curl_(curl),
      config_(std::move(config)),
      hold_timer_(io),
      connection_backoff_(config_.backoff, seed_from(config_.seed, 1)),
      auth_backoff_(config_.backoff, seed_from(config_.seed, 2)),
      login_timer_(io),
      root_backoff_(config_.backoff, seed_from(config_.seed, 3)),
      retry_timer_(io),
      table_(config_.stale_after.count() > 0 ? config_.stale_after : 3 * config_.poll_interval),
      sweep_timer_(io),
      stream_backoff_(config_.backoff, seed_from(config_.seed, 4)),
      stream_timer_(io),
      stop_timer_(io) {}

Client::~Client() {
  alive_.reset();  // handlers still queued on the loop see this and return
  if (stream_running_) curl_.cancel(stream_.get());
  for (auto& [easy, call] : running_) curl_.cancel(easy);
}

void Client::check_thread() const {
  assert(owner_ == std::thread::id{} || owner_ == std::this_thread::get_id());
}

// ---------------------------------------------------------------------------
// Start and stop.

bool Client::start(std::string& error) {
  owner_ = std::this_thread::get_id();
  const std::string& n = config_.name;
  if (phase_ != Phase::idle) {
    error = fmt::format("redfish {}: already started", n);
    return false;
  }
  std::string_view url = config_.url;
  while (url.ends_with('/')) url.remove_suffix(1);
  const bool https = url.starts_with("https://");
  const bool http = url.starts_with("http://");
  const auto host_at = url.find("://");
  if ((!https && !http) || url.size() <= host_at + 3 || url.find('/', host_at + 3) != std::string_view::npos) {
    error = fmt::format("redfish {}: url '{}' must be https://host[:port] (no path)", n, config_.url);
    return false;
  }
  base_ = std::string(url);
  if (config_.max_in_flight == 0 || config_.poll_interval.count() <= 0 || config_.request_timeout.count() <= 0 ||
      config_.connect_timeout.count() <= 0) {
    error = fmt::format("redfish {}: max_in_flight, poll_interval, request_timeout and connect_timeout must be > 0", n);
    return false;
  }
  if (!config_.credentials_file.empty() && !config_.credential_name.empty()) {
    error = fmt::format("redfish {}: set credentials_file or credential_name, not both", n);
    return false;
  }
  CredentialsResult loaded;
  if (!config_.credentials_file.empty()) {
    loaded = load_credentials_file(config_.credentials_file);
  } else if (!config_.credential_name.empty()) {
    loaded = load_systemd_credential(config_.credential_name, std::getenv("CREDENTIALS_DIRECTORY"));
  } else {
    loaded.error = "no credentials: set credentials_file (a 0600 'user:password' file) or credential_name (systemd)";
  }
  if (!loaded.credentials) {
    error = fmt::format("redfish {}: {}", n, loaded.error);
    return false;
  }
  credentials_ = std::move(*loaded.credentials);
  if (!config_.ca_file.empty() && ::access(config_.ca_file.c_str(), R_OK) != 0) {
    error = fmt::format("redfish {}: CA file {} is not readable", n, config_.ca_file);
    return false;
  }
  if (https && config_.insecure) {
    log::warning(
        "redfish {}: TLS certificate verification is OFF (insecure = true): anyone on the path to {} can pose as the "
        "BMC and collect its credentials",
        n, base_);
  }
  if (http) log::warning("redfish {}: {} is plain http: the BMC credentials cross the network unencrypted", n, base_);
  begin();
  return true;
}

void Client::stop(std::function<void()> done) {
  check_thread();
  if (phase_ == Phase::stopping || phase_ == Phase::stopped || phase_ == Phase::idle) {
    if (phase_ == Phase::idle) phase_ = Phase::stopped;
    if (phase_ == Phase::stopping) {
      // Chain: the first stop's completion also completes this one.
      auto first = std::move(stop_done_);
      stop_done_ = [first = std::move(first), done = std::move(done)] {
        if (first) first();
        if (done) done();
      };
    } else if (done) {
      boost::asio::post(io_, std::move(done));
    }
    return;
  }
  phase_ = Phase::stopping;
  stop_done_ = std::move(done);
  sweep_timer_.cancel();
  hold_timer_.cancel();
  login_timer_.cancel();
  retry_timer_.cancel();
  stream_timer_.cancel();
  if (stream_running_) {
    curl_.cancel(stream_.get());
    stream_running_ = false;
    stream_connected_ = false;
  }
  for (auto& [easy, call] : running_) curl_.cancel(easy);
  running_.clear();
  counters_.in_flight = 0;
  queue_.clear();
  sweeping_ = false;
  if (session_uri_.empty() || token_.empty()) {
    finish_stop();
    return;
  }
  // The session is the BMC's resource, not ours: give it back, but never
  // hold up the daemon's exit for a BMC that does not answer.
  auto call = make_call("DELETE", session_uri_, [this](Call& c, Outcome o) {
    delete_easy_ = nullptr;
    if (o == Outcome::ok) {
      ++counters_.sessions_deleted;
      log::info("redfish {}: session {} deleted", config_.name, session_uri_);
    } else {
      log::warning("redfish {}: could not delete session {}: {}", config_.name, session_uri_, describe(c, o));
    }
    finish_stop();
  });
  call->note_errors = false;
  delete_easy_ = nullptr;
  auto* raw = call.get();
  if (launch(std::move(call))) delete_easy_ = raw->easy.get();
  stop_timer_.expires_after(config_.stop_timeout);
  stop_timer_.async_wait([this, g = guard()](const boost::system::error_code& ec) {
    if (g.expired() || ec == boost::asio::error::operation_aborted || phase_ != Phase::stopping) return;
    log::warning("redfish {}: session {} not deleted within {} ms; leaving it to expire on the BMC", config_.name,
                 session_uri_, config_.stop_timeout.count());
    if (delete_easy_ != nullptr) {
      curl_.cancel(delete_easy_);
      running_.erase(delete_easy_);
      delete_easy_ = nullptr;
    }
    finish_stop();
  });
}

void Client::finish_stop() {
  if (phase_ == Phase::stopped) return;
  phase_ = Phase::stopped;
  stop_timer_.cancel();
  token_.clear();
  session_uri_.clear();
  counters_.in_flight = running_.size();
  if (auto done = std::move(stop_done_)) boost::asio::post(io_, std::move(done));
}

// ---------------------------------------------------------------------------
// Requests.

std::unique_ptr<Client::Call> Client::make_call(std::string method, std::string path, Done done) {
  auto call = std::make_unique<Call>();
  call->method = std::move(method);
  call->path = std::move(path);
  call->done = std::move(done);
  call->max_body = config_.max_body_bytes;
  return call;
}

void Client::enqueue(std::unique_ptr<Call> call, bool front) {
  if (front) {
    queue_.push_front(std::move(call));
  } else {
    queue_.push_back(std::move(call));
  }
  dispatch();
}

bool Client::auth_ready() const { return auth_ == AuthMode::basic || !token_.empty(); }

void Client::dispatch() {
  if (phase_ == Phase::stopping || phase_ == Phase::stopped || phase_ == Phase::idle) return;
  const auto now = SteadyClock::now();
  if (held_until_ > now) {
    if (!hold_armed_) {
      hold_armed_ = true;
      hold_timer_.expires_at(held_until_);
      hold_timer_.async_wait([this, g = guard()](const boost::system::error_code& ec) {
        if (g.expired() || ec == boost::asio::error::operation_aborted) return;
        hold_armed_ = false;
        dispatch();
      });
    }
    return;
  }
  if (!auth_ready()) {
    const bool waiting = std::any_of(queue_.begin(), queue_.end(), [](const auto& c) { return c->auth; });
    if (waiting) login();
  }
  for (auto it = queue_.begin(); it != queue_.end() && counters_.in_flight < config_.max_in_flight;) {
    if ((*it)->auth && !auth_ready()) {
      ++it;
      continue;
    }
    auto call = std::move(*it);
    it = queue_.erase(it);
    launch(std::move(call));
    // launch() never calls back synchronously, so the iterator stays valid.
  }
}

void Client::recycle(telemetry::CurlEasy easy) {
  if (easy && spare_.size() < config_.max_in_flight + 2) spare_.push_back(std::move(easy));
}

// What every transfer to this BMC shares, requests and the event stream alike.
void Client::set_transport(CURL* e, const std::string& path) const {
  const std::string url = base_ + path;
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROXY, "");  // a BMC is never reached through $https_proxy
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(config_.connect_timeout, config_.request_timeout).count()));
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!config_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, config_.ca_file.c_str());
  if (config_.insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

void Client::set_basic_auth(CURL* e) const {
  curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
  curl_easy_setopt(e, CURLOPT_USERNAME, credentials_.user.c_str());
  curl_easy_setopt(e, CURLOPT_PASSWORD, credentials_.password.c_str());
}

void Client::configure(Call& call) {
  if (!call.easy) {
    if (!spare_.empty()) {
      call.easy = std::move(spare_.back());
      spare_.pop_back();
    } else {
      call.easy = telemetry::make_curl_easy();
    }
  }
  CURL* e = call.easy.get();
  curl_easy_reset(e);
  call.body.clear();
  call.overflow = false;
  call.token_header.clear();
  call.location_header.clear();
  call.retry_after_header.clear();
  call.status = 0;
  call.error[0] = '\0';
  call.headers.reset();
  set_transport(e, call.path);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(config_.request_timeout.count()));
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call.error);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Client::on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &call);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Client::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &call);
  bool ok = telemetry::append_header(call.headers, "Accept: application/json") &&
            telemetry::append_header(call.headers, "OData-Version: 4.0") &&
            telemetry::append_header(call.headers, "Expect:");
  call.token_used.clear();
  if (!call.token_override.empty()) {
    ok = ok && telemetry::append_header(call.headers, "X-Auth-Token: " + call.token_override);
  } else if (call.auth) {
    if (auth_ == AuthMode::session && !token_.empty()) {
      call.token_used = token_;
      ok = ok && telemetry::append_header(call.headers, "X-Auth-Token: " + token_);
    } else {
      set_basic_auth(e);
    }
  }
  if (call.method == "POST") {
    ok = ok && telemetry::append_header(call.headers, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(call.request_body.size()));
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, call.request_body.c_str());
  } else if (call.method == "DELETE") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
  } else {
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  }
  if (!ok) log::warning("redfish {}: out of memory building headers", config_.name);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, call.headers.get());
}

bool Client::launch(std::unique_ptr<Call> call) {
  configure(*call);
  CURL* easy = call->easy.get();
  if (easy == nullptr) {
    log::warning("redfish {}: cannot create a curl handle", config_.name);
    return false;
  }
  call->started = SteadyClock::now();
  ++counters_.requests;
  ++counters_.in_flight;
  counters_.max_in_flight = std::max(counters_.max_in_flight, counters_.in_flight);
  running_[easy] = std::move(call);
  const bool submitted = curl_.submit(easy, [this, easy, g = guard()](CURLcode code) {
    if (!g.expired()) on_transfer_done(easy, code);
  });
  if (!submitted) {
    // Report it from the loop like any other failure.
    boost::asio::post(io_, [this, easy, g = guard()] {
      if (!g.expired()) on_transfer_done(easy, CURLE_FAILED_INIT);
    });
  }
  return true;
}

std::size_t Client::on_body(char* data, std::size_t size, std::size_t n, void* p) {
  auto* call = static_cast<Call*>(p);
  const std::size_t len = size * n;
  if (call->body.size() + len > call->max_body) {
    call->overflow = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  call->body.append(data, len);
  return len;
}

std::size_t Client::on_header(char* data, std::size_t size, std::size_t n, void* p) {
  auto* call = static_cast<Call*>(p);
  const std::size_t len = size * n;
  const std::string_view line = trim(std::string_view(data, len));
  if (line.starts_with("HTTP/")) {  // a new response (after 100 Continue, say)
    call->token_header.clear();
    call->location_header.clear();
    call->retry_after_header.clear();
    return len;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return len;
  const std::string name = lower(trim(line.substr(0, colon)));
  const std::string_view value = trim(line.substr(colon + 1));
  if (name == "x-auth-token") {
    call->token_header = value;
  } else if (name == "location") {
    call->location_header = value;
  } else if (name == "retry-after") {
    call->retry_after_header = value;
  }
  return len;
}

Client::Outcome Client::classify(const Call& call, CURLcode code) const {
  if (call.overflow) return Outcome::too_large;
  if (code == CURLE_OPERATION_TIMEDOUT) return Outcome::timeout;
  if (is_tls_error(code)) return Outcome::tls;
  if (code != CURLE_OK) return Outcome::connect;
  if (call.status >= 200 && call.status < 300) return Outcome::ok;
  if (call.status == 401) return Outcome::unauthorized;
  if (call.status == 503) return Outcome::unavailable;
  if (call.status >= 500) return Outcome::http_5xx;
  return Outcome::http_4xx;
}

Issue Client::issue_of(Outcome outcome) {
  switch (outcome) {
    case Outcome::unauthorized: return Issue::unauthorized;
    case Outcome::unavailable: return Issue::unavailable;
    case Outcome::http_5xx: return Issue::http_5xx;
    case Outcome::timeout: return Issue::timeout;
    case Outcome::connect: return Issue::connect;
    case Outcome::tls: return Issue::tls;
    case Outcome::too_large: return Issue::too_large;
    case Outcome::ok:  // never a problem; callers only ask for failures
    case Outcome::http_4xx: return Issue::http_4xx;
  }
  return Issue::http_4xx;
}

std::string Client::describe(const Call& call, Outcome outcome) const {
  const std::string what = fmt::format("{} {}", call.method, call.path);
  if (call.shed) return fmt::format("{}: not sent, the BMC is not answering", what);
  switch (outcome) {
    case Outcome::ok:
    case Outcome::unauthorized:
    case Outcome::http_5xx:
    case Outcome::http_4xx: return fmt::format("{}: HTTP {}", what, call.status);
    case Outcome::unavailable:
      return call.retry_after_header.empty() ? fmt::format("{}: HTTP 503", what)
                                              : fmt::format("{}: HTTP 503, Retry-After {}", what, call.retry_after_header);
    case Outcome::timeout:
      return fmt::format("{}: no answer within {} ms", what, config_.request_timeout.count());
    case Outcome::too_large: return fmt::format("{}: response over {} bytes", what, config_.max_body_bytes);
    case Outcome::connect:
    case Outcome::tls:
      return fmt::format("{}: {}", what, call.error[0] != '\0' ? call.error : curl_easy_strerror(call.code));
  }
  return what;
}

void Client::shed_sweep(Outcome outcome) {
  std::vector<std::unique_ptr<Call>> shed;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->sweep) {
      shed.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& call : shed) {
    call->shed = true;
    if (auto done = std::move(call->done)) done(*call, outcome);
  }
}

void Client::hold_until(SteadyClock::time_point until) {
  if (until > held_until_) held_until_ = until;
}

void Client::on_transfer_done(CURL* easy, CURLcode code) {
  auto it = running_.find(easy);
  if (it == running_.end()) return;
  std::unique_ptr<Call> call = std::move(it->second);
  running_.erase(it);
  if (counters_.in_flight > 0) --counters_.in_flight;
  call->code = code;
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  call->status = code == CURLE_OK ? status : 0;
  const Outcome outcome = classify(*call, code);
  const auto now = SteadyClock::now();
  const bool live = phase_ != Phase::stopping && phase_ != Phase::stopped;
  if (outcome == Outcome::ok) {
    ++counters_.responses;
    connection_backoff_.reset();
  }
  if (live && outcome == Outcome::unauthorized && call->auth) {
    on_unauthorized(std::move(call));
    dispatch();
    return;
  }
  if (live && outcome == Outcome::unavailable) {
    const auto after = parse_retry_after(call->retry_after_header, std::chrono::system_clock::now());
    const milliseconds wait = after ? std::min<milliseconds>(*after, config_.max_retry_after) : connection_backoff_.next();
    hold_until(now + wait);
  }
  // A BMC that stops answering altogether (every slot timed out, or it
  // refuses connections) is backed off as a whole, and the rest of the
  // sweep is not sent: its readings go stale now rather than after
  // targets x timeout / max_in_flight.
  consecutive_timeouts_ = outcome == Outcome::timeout ? consecutive_timeouts_ + 1 : 0;
  const bool unresponsive = outcome == Outcome::connect || outcome == Outcome::tls ||
                            (outcome == Outcome::timeout && consecutive_timeouts_ >= config_.max_in_flight);
  if (live && unresponsive) hold_until(now + connection_backoff_.next());
  if (live && outcome != Outcome::ok && call->note_errors) note(issue_of(outcome), describe(*call, outcome));
  if (auto done = std::move(call->done)) done(*call, outcome);
  recycle(std::move(call->easy));
  if (live && unresponsive) shed_sweep(outcome);
  dispatch();
}

// ---------------------------------------------------------------------------
// Authentication.

void Client::on_unauthorized(std::unique_ptr<Call> call) {
  const auto now = SteadyClock::now();
  unauthorized_in_sweep_ = true;
  if (auth_ == AuthMode::basic) {
    note(Issue::login_failed,
         fmt::format("{}: HTTP 401 with Basic: the BMC refuses the user '{}' (check the credentials)", call->path,
                     credentials_.user));
    hold_until(now + auth_backoff_.next());
    if (auto done = std::move(call->done)) done(*call, Outcome::unauthorized);
    recycle(std::move(call->easy));
    return;
  }
  if (call->auth_retried) {
    // Refused again with a token fresh from a login: a new session does not
    // help. Counted; login() backs off once this repeats.
    ++auth_streak_;
    note(Issue::unauthorized, describe(*call, Outcome::unauthorized));
    if (auto done = std::move(call->done)) done(*call, Outcome::unauthorized);
    recycle(std::move(call->easy));
    return;
  }
  if (!call->token_used.empty() && call->token_used == token_) {
    // The BMC dropped our session (expired, BMC reset, deleted): log in
    // again, once, however many requests were refused with it.
    note(Issue::unauthorized, describe(*call, Outcome::unauthorized));
    drop_session();
  }
  call->auth_retried = true;
  queue_.push_front(std::move(call));
}

void Client::drop_session() {
  if (!session_uri_.empty() && !token_.empty()) {
    // Best effort: if the BMC only pretends the session is gone, it must not
    // pile up there (BMCs have a handful of session slots).
    auto del = make_call("DELETE", session_uri_, [this](Call&, Outcome o) {
      if (o == Outcome::ok) ++counters_.sessions_deleted;
    });
    del->auth = false;
    del->note_errors = false;
    del->token_override = token_;
    queue_.push_back(std::move(del));
  }
  token_.clear();
  session_uri_.clear();
}

void Client::login() {
  if (login_running_ || login_waiting_ || auth_ != AuthMode::session) return;
  if (phase_ == Phase::stopping || phase_ == Phase::stopped) return;
  if (auth_streak_ >= 2) {
    // A fresh token refused at once, again: logging in harder will not help
    // and could exhaust the BMC's sessions. Back off.
    note(Issue::auth_loop,
         fmt::format("{} requests refused (401) right after fresh logins; logging in again in up to {} ms",
                     auth_streak_, auth_backoff_.ceiling(auth_backoff_.failures() + 1).count()));
    login_after(auth_backoff_.next());
    return;
  }
  do_login();
}

void Client::login_after(milliseconds delay) {
  login_waiting_ = true;
  login_timer_.expires_after(delay);
  login_timer_.async_wait([this, g = guard()](const boost::system::error_code& ec) {
    if (g.expired() || ec == boost::asio::error::operation_aborted) return;
    login_waiting_ = false;
    do_login();
    dispatch();
  });
}

void Client::do_login() {
  if (login_running_ || auth_ != AuthMode::session) return;
  if (phase_ == Phase::stopping || phase_ == Phase::stopped) return;
  login_running_ = true;
  auto call = make_call("POST", sessions_path_, [this](Call& c, Outcome o) { after_login(c, o); });
  call->auth = false;
  call->note_errors = false;
  call->request_body =
      json::serialize(json::object{{"UserName", credentials_.user}, {"Password", credentials_.password}});
  queue_.push_front(std::move(call));
}

void Client::after_login(Call& call, Outcome outcome) {
  login_running_ = false;
  if (phase_ == Phase::stopping || phase_ == Phase::stopped) return;
  if (outcome == Outcome::ok && !call.token_header.empty()) {
    token_ = call.token_header;
    session_uri_ = service_path(call.location_header);
    if (session_uri_.empty()) {
      std::error_code ec;
      json::value doc = json::parse(call.body, ec);
      if (!ec && doc.is_object()) {
        if (const auto* id = doc.as_object().if_contains("@odata.id"); id != nullptr && id->is_string()) {
          session_uri_ = std::string(id->as_string());
        }
      }
    }
    ++counters_.sessions_created;
    if (counters_.sessions_created == 1) {
      log::info("redfish {}: logged in as {} (session {})", config_.name, credentials_.user,
                session_uri_.empty() ? std::string("without Location") : session_uri_);
    } else {
      log::debug("redfish {}: logged in again (session {})", config_.name, session_uri_);
    }
    if (sse_uri_ && !stream_running_ && phase_ == Phase::polling) open_stream();
    return;
  }
  const bool no_sessions = (outcome == Outcome::ok) ||
                           (outcome == Outcome::http_4xx && (call.status == 404 || call.status == 405)) ||
                           call.status == 501;
  if (no_sessions) {
    auth_ = AuthMode::basic;
    log::notice("redfish {}: the BMC does not create sessions ({} {} -> HTTP {}); using Basic auth", config_.name,
                call.method, call.path, call.status);
    if (sse_uri_ && !stream_running_ && phase_ == Phase::polling) open_stream();
    return;
  }
  if (outcome == Outcome::unauthorized || call.status == 403) {
    note(Issue::login_failed, fmt::format("the BMC refused the login of '{}' (HTTP {}): check {}", credentials_.user,
                                          call.status,
                                          config_.credentials_file.empty() ? config_.credential_name
                                                                           : config_.credentials_file));
  } else {
    note(issue_of(outcome), describe(call, outcome));
  }
  login_after(auth_backoff_.next());
}

// ---------------------------------------------------------------------------
// Discovery.

void Client::begin() {
  phase_ = Phase::root;
  if (started_at_ == SteadyClock::time_point{}) started_at_ = SteadyClock::now();
  auto call = make_call("GET", "/redfish/v1/", [this](Call& c, Outcome o) { after_root(c, o); });
  call->auth = false;  // the service root is open (Redfish spec, 13.3.1)
  enqueue(std::move(call));
}

void Client::after_root(Call& call, Outcome outcome) {
  if (phase_ != Phase::root) return;
  std::error_code ec;
  json::value root;
  if (outcome == Outcome::ok) {
    root = json::parse(call.body, ec);
    if (ec || !root.is_object()) {
      note(Issue::malformed_json, fmt::format("GET /redfish/v1/: not a JSON object ({})", ec ? ec.message() : "type"));
      outcome = Outcome::http_5xx;
    }
  }
  if (outcome != Outcome::ok) {
    retry_timer_.expires_after(root_backoff_.next());
    retry_timer_.async_wait([this, g = guard()](const boost::system::error_code& e) {
      if (g.expired() || e == boost::asio::error::operation_aborted) return;
      begin();
    });
    return;
  }
  root_backoff_.reset();
  const auto& o = root.as_object();
  bool has_sessions = o.contains("SessionService");
  if (const auto* links = o.if_contains("Links"); links != nullptr && links->is_object()) {
    if (const auto* s = links->as_object().if_contains("Sessions"); s != nullptr && s->is_object()) {
      if (const auto* id = s->as_object().if_contains("@odata.id"); id != nullptr && id->is_string() &&
                                                                     is_service_uri(id->as_string())) {
        sessions_path_ = normalise_uri(id->as_string());
        has_sessions = true;
      }
    }
  }
  if (config_.auth == AuthMode::session && has_sessions) {
    auth_ = AuthMode::session;
  } else {
    auth_ = AuthMode::basic;
    if (config_.auth == AuthMode::session) {
      log::notice("redfish {}: the service root has no SessionService; using Basic auth", config_.name);
    }
  }
  discovery_.emplace(config_.discovery);
  auto fetches = discovery_->start_parsed(root);
  phase_ = Phase::discovery;
  for (const auto& f : fetches) fetch(f, 1);
  maybe_discovered();
}

void Client::fetch(const Fetch& f, unsigned attempt) {
  if (phase_ != Phase::discovery) return;
  std::string path = f.uri;
  if (f.expand) path += discovery_->expand().query();
  enqueue(make_call("GET", std::move(path), [this, f, attempt](Call& c, Outcome o) { after_fetch(f, attempt, c, o); }));
}

void Client::after_fetch(const Fetch& f, unsigned attempt, Call& call, Outcome outcome) {
  if (phase_ != Phase::discovery) return;
  if (outcome == Outcome::ok) {
    std::error_code ec;
    json::value doc = json::parse(call.body, ec);
    if (!ec) {
      for (const auto& next : discovery_->on_parsed(f.uri, doc)) fetch(next, 1);
      maybe_discovered();
      return;
    }
    note(Issue::malformed_json, fmt::format("GET {}: {}", call.path, ec.message()));
  }
  const bool retry = attempt < config_.discovery_attempts && outcome != Outcome::http_4xx;
  if (!retry) {
    discovery_->on_failure(f.uri);
    maybe_discovered();
    return;
  }
  auto timer = std::make_shared<boost::asio::steady_timer>(io_, Backoff(config_.backoff, attempt).ceiling(attempt));
  timer->async_wait([this, g = guard(), timer, f, attempt](const boost::system::error_code& ec) {
    if (g.expired() || ec == boost::asio::error::operation_aborted) return;
    fetch(f, attempt + 1);
  });
}

void Client::maybe_discovered() {
  if (phase_ != Phase::discovery || !discovery_ || !discovery_->done()) return;
  targets_.clear();
  std::uint64_t salt = 100;
  const std::string query = discovery_->expand().query();
  for (auto& t : discovery_->poll_targets()) {
    std::string path = t.expand ? t.uri + query : t.uri;
    targets_.push_back(Target{.poll = t,
                              .path = std::move(path),
                              .backoff = Backoff(config_.backoff, seed_from(config_.seed, ++salt))});
  }
  std::size_t resources = 0;
  for (const auto& [type, count] : discovery_->odata_types()) resources += count;
  sse_uri_ = discovery_->sse_uri();
  const bool expand = std::any_of(targets_.begin(), targets_.end(), [](const Target& t) { return t.poll.expand; });
  log::info("redfish {}: discovered {} poll targets from {} resources{}; $expand {}; SSE {}; auth {}", config_.name,
            targets_.size(), resources,
            discovery_->failed().empty() ? std::string() : fmt::format(" ({} unreadable)", discovery_->failed().size()),
            expand ? "used" : "not used", sse_uri_ ? *sse_uri_ : std::string("not offered"), to_string(auth_));
  if (targets_.empty()) log::warning("redfish {}: the BMC offers no readings railyard understands", config_.name);
  phase_ = Phase::polling;
  if (config_.sse && sse_uri_) open_stream();
  start_sweep();
}

// ---------------------------------------------------------------------------
// Polling.

void Client::sweep_now() {
  check_thread();
  start_sweep();
}

void Client::arm_sweep_timer() {
  sweep_timer_.expires_at(sweep_started_ + config_.poll_interval);
  sweep_timer_.async_wait([this, g = guard()](const boost::system::error_code& ec) {
    if (g.expired() || ec == boost::asio::error::operation_aborted || phase_ != Phase::polling) return;
    if (sweeping_) {
      ++counters_.sweeps_overrun;
      sweep_due_ = true;
    } else {
      start_sweep();
    }
  });
}

void Client::start_sweep() {
  if (phase_ != Phase::polling || sweeping_) return;
  sweeping_ = true;
  sweep_due_ = false;
  sweep_started_ = SteadyClock::now();
  sweep_readings_.clear();
  sweep_outcomes_.clear();
  arm_sweep_timer();
  sweep_pending_ = 0;
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (targets_[i].next_try > sweep_started_) continue;  // backing off: stays stale
    ++sweep_pending_;
    auto call = make_call("GET", targets_[i].path, [this, i](Call& c, Outcome o) { after_target(i, c, o); });
    call->sweep = true;
    queue_.push_back(std::move(call));
  }
  if (sweep_pending_ == 0) {
    finish_sweep();
    return;
  }
  dispatch();
}

void Client::after_target(std::size_t index, Call& call, Outcome outcome) {
  if (!sweeping_ || index >= targets_.size()) return;
  Target& t = targets_[index];
  TargetOutcome out{.target = t.poll.uri, .ok = false, .reason = {}};
  if (outcome == Outcome::ok) {
    const ExtractContext context{
        .chassis_id = t.poll.chassis_id, .read_at = std::chrono::system_clock::now(), .hint = t.poll.kind};
    ExtractResult r = extract(t.poll.uri, call.body, context);
    for (std::size_t k = 0; k < kProblemKindCount; ++k) {
      const auto kind = static_cast<ProblemKind>(k);
      if (const auto n = r.problems.count(kind); n > 0) {
        std::string detail = fmt::format("{}: {}", t.poll.uri, r.problems.summary());
        for (const auto& p : r.problems.details()) {
          if (p.kind == kind) {
            detail = fmt::format("{}{}: {}", p.uri, p.where.empty() ? "" : "#" + p.where, p.detail);
            break;
          }
        }
        note(issue_for(kind), detail, n);
      }
    }
    if (r.problems.count(ProblemKind::malformed_json) > 0 && r.readings.empty()) {
      out.reason = "malformed JSON";
      t.failing = Issue::malformed_json;
    } else {
      out.ok = true;
      t.failing.reset();
      t.backoff.reset();
      t.next_try = {};
      for (auto& reading : r.readings) sweep_readings_.push_back({std::move(reading), t.poll.uri});
    }
  } else {
    out.reason = describe(call, outcome);
    t.failing = issue_of(outcome);
    t.next_try = outcome == Outcome::unavailable ? held_until_ : SteadyClock::now() + t.backoff.next();
  }
  sweep_outcomes_.push_back(std::move(out));
  if (sweep_pending_ > 0 && --sweep_pending_ == 0) finish_sweep();
}

void Client::apply(std::vector<TaggedReading> readings, const std::vector<TargetOutcome>& outcomes) {
  std::map<std::string, std::string> owner;
  std::vector<Reading> plain;
  plain.reserve(readings.size());
  for (auto& r : readings) {
    owner.emplace(r.reading.id, r.target);
    plain.push_back(std::move(r.reading));
  }
  std::vector<TaggedReading> merged;
  for (auto& r : merge_sweep(std::move(plain))) {
    auto it = owner.find(r.id);
    std::string target = it == owner.end() ? std::string() : it->second;
    merged.push_back({std::move(r), std::move(target)});
  }
  const auto transitions = table_.update(std::move(merged), outcomes, std::chrono::system_clock::now());
  for (const auto& tr : transitions) {
    BmcEvent e{.type = BmcEvent::Type::threshold,
               .source = BmcEvent::Source::poll,
               .uri = tr.id,
               .severity = tr.health_after,
               .message_id = {},
               .message = {},
               .value = tr.after,
               .at = {}};
    if (tr.kind == Kind::leak) {
      if (tr.after == tr.before || !tr.after) continue;
      const bool leak = *tr.after != 0;
      e.type = leak ? BmcEvent::Type::leak_alarm : BmcEvent::Type::leak_clear;
      e.message = leak ? "leak detector reads wet" : "leak detector reads dry";
      emit_leak(tr.id, leak, std::move(e));
    } else if (tr.health_after != tr.health_before && tr.health_after != Health::unknown) {
      e.message = fmt::format("health {} -> {}", to_string(tr.health_before), to_string(tr.health_after));
      emit_health(tr.id, std::move(e));
    }
  }
}

void Client::finish_sweep() {
  if (!sweeping_) return;
  sweeping_ = false;
  const auto now = SteadyClock::now();
  apply(std::move(sweep_readings_), sweep_outcomes_);
  sweep_readings_.clear();
  last_sweep_ = now - sweep_started_;
  ++counters_.sweeps;
  if (first_sweep_ == Duration{}) first_sweep_ = now - started_at_;
  if (!unauthorized_in_sweep_) {
    auth_streak_ = 0;
    auth_backoff_.reset();
  }
  unauthorized_in_sweep_ = false;
  clean_issues();
  if (on_sweep_) on_sweep_();
  if (sweep_due_ && phase_ == Phase::polling) start_sweep();
}

void Client::refresh(const std::string& uri) {
  if (phase_ != Phase::polling || !is_service_uri(uri)) return;
  const std::string key = normalise_uri(uri);
  if (!refreshing_.insert(key).second) return;
  ++counters_.refreshes;
  enqueue(make_call("GET", key, [this, key](Call& c, Outcome o) { after_refresh(key, c, o); }), true);
}

void Client::after_refresh(const std::string& uri, Call& call, Outcome outcome) {
  refreshing_.erase(uri);
  if (phase_ != Phase::polling || outcome != Outcome::ok) return;
  const auto is_target = std::any_of(targets_.begin(), targets_.end(), [&](const Target& t) { return t.poll.uri == uri; });
  const ExtractContext context{.chassis_id = chassis_from_uri(uri), .read_at = std::chrono::system_clock::now(), .hint = {}};
  ExtractResult r = extract(uri, call.body, context);
  std::vector<TaggedReading> readings;
  for (auto& reading : r.readings) readings.push_back({std::move(reading), is_target ? uri : std::string()});
  std::vector<TargetOutcome> outcomes;
  if (is_target && !r.readings.empty()) outcomes.push_back({.target = uri, .ok = true, .reason = {}});
  apply(std::move(readings), outcomes);
}

// ---------------------------------------------------------------------------
// Events.

void Client::open_stream() {
  if (phase_ != Phase::polling || !sse_uri_ || stream_running_ || !config_.sse) return;
  if (!auth_ready()) {
    login();  // after_login opens the stream
    dispatch();
    return;
  }
  if (!stream_) stream_ = telemetry::make_curl_easy();
  CURL* e = stream_.get();
  if (e == nullptr) return;
  curl_easy_reset(e);
  stream_headers_.reset();
  set_transport(e, *sse_uri_);
  // No total timeout: the stream lives for hours. A stream that delivers
  // nothing, not even keep-alives, for sse_idle_timeout is dead.
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::seconds>(config_.sse_idle_timeout).count())));
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Client::on_stream);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  telemetry::append_header(stream_headers_, "Accept: text/event-stream");
  telemetry::append_header(stream_headers_, "Cache-Control: no-cache");
  if (!sse_parser_.last_event_id().empty()) {
    telemetry::append_header(stream_headers_, "Last-Event-ID: " + sse_parser_.last_event_id());
  }
  stream_token_ = token_;
  if (auth_ == AuthMode::session && !token_.empty()) {
    telemetry::append_header(stream_headers_, "X-Auth-Token: " + token_);
  } else {
    set_basic_auth(e);
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, stream_headers_.get());
  sse_parser_.reset_stream();
  stream_error_body_.clear();
  stream_connected_ = false;
  if (!curl_.submit(e, [this, g = guard()](CURLcode code) {
        if (!g.expired()) after_stream(code);
      })) {
    note(Issue::sse, "cannot start the event stream transfer");
    schedule_stream(false);
    return;
  }
  stream_running_ = true;
}

std::size_t Client::on_stream(char* data, std::size_t size, std::size_t n, void* p) {
  auto* self = static_cast<Client*>(p);
  const std::size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(self->stream_.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    if (self->stream_error_body_.size() < 4096) self->stream_error_body_.append(data, std::min<std::size_t>(len, 4096));
    return len;
  }
  if (!self->stream_connected_) {
    self->stream_connected_ = true;
    ++self->counters_.sse_connects;
    self->stream_backoff_.reset();
  }
  self->sse_parser_.feed(std::string_view(data, len), self->sse_pending_);
  if (!self->sse_pending_.empty() && !self->stream_post_pending_) {
    // Never act from inside a curl callback (curl refuses re-entry): later, on the loop.
    self->stream_post_pending_ = true;
    boost::asio::post(self->io_, [self, g = self->guard()] {
      if (!g.expired()) self->stream_events();
    });
  }
  return len;
}

void Client::after_stream(CURLcode code) {
  stream_running_ = false;
  const bool was_connected = stream_connected_;
  stream_connected_ = false;
  if (phase_ != Phase::polling) return;
  long status = 0;
  curl_easy_getinfo(stream_.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status == 401 && auth_ == AuthMode::session) {
    if (!stream_token_.empty() && stream_token_ == token_) {
      note(Issue::unauthorized, fmt::format("GET {}: HTTP 401", *sse_uri_));
      drop_session();
    }
    login();
    dispatch();
  }
  if (!was_connected) {
    note(Issue::sse, fmt::format("event stream {}: {}", *sse_uri_,
                                 code != CURLE_OK ? std::string(curl_easy_strerror(code))
                                                  : fmt::format("HTTP {}", status)));
  } else {
    log::debug("redfish {}: event stream ended ({}); reconnecting", config_.name,
               code != CURLE_OK ? curl_easy_strerror(code) : "closed by the BMC");
  }
  schedule_stream(was_connected);
}

void Client::schedule_stream(bool was_connected) {
  milliseconds delay = was_connected ? milliseconds(0) : stream_backoff_.next();
  if (auto hint = sse_parser_.retry()) delay = std::max(delay, std::min(*hint, config_.backoff.max));
  stream_timer_.expires_after(delay);
  stream_timer_.async_wait([this, g = guard()](const boost::system::error_code& ec) {
    if (g.expired() || ec == boost::asio::error::operation_aborted) return;
    open_stream();
  });
}

void Client::stream_events() {
  stream_post_pending_ = false;
  if (phase_ != Phase::polling) {
    sse_pending_.clear();
    return;
  }
  auto events = std::move(sse_pending_);
  sse_pending_.clear();
  for (const auto& ev : events) {
    ++counters_.sse_events;
    Problems problems;
    const auto parsed = parse_event(ev.data, problems);
    for (std::size_t k = 0; k < kProblemKindCount; ++k) {
      const auto kind = static_cast<ProblemKind>(k);
      if (problems.count(kind) > 0) note(issue_for(kind), fmt::format("SSE event {}: {}", ev.id, problems.summary()));
    }
    if (!parsed) continue;
    std::map<std::string, std::string> messages;  // origin -> message text
    for (const auto& rec : parsed->records) messages.emplace(rec.origin_uri, rec.message);
    for (const auto& a : actions_for(*parsed)) {
      BmcEvent e{.type = BmcEvent::Type::threshold,
                 .source = BmcEvent::Source::sse,
                 .uri = a.uri,
                 .severity = a.severity,
                 .message_id = a.message_id,
                 .message = messages.contains(a.uri) ? messages[a.uri] : std::string(),
                 .value = {},
                 .at = {}};
      switch (a.type) {
        case EventAction::Type::leak_alarm:
          e.type = BmcEvent::Type::leak_alarm;
          emit_leak(a.uri, true, std::move(e));
          break;
        case EventAction::Type::leak_clear:
          e.type = BmcEvent::Type::leak_clear;
          emit_leak(a.uri, false, std::move(e));
          break;
        case EventAction::Type::refresh:
          if (threshold_message(a.message_id)) emit_health(a.uri, std::move(e));
          refresh(a.uri);
          break;
        case EventAction::Type::resync: start_sweep(); break;
      }
    }
  }
}

void Client::emit_leak(const std::string& uri, bool active, BmcEvent event) {
  auto [it, inserted] = leak_state_.try_emplace(uri, active);
  if (!inserted && it->second == active) return;
  it->second = active;
  if (inserted && !active) return;  // dry when first seen: nothing happened
  emit(std::move(event));
}

void Client::emit_health(const std::string& uri, BmcEvent event) {
  auto [it, inserted] = health_state_.try_emplace(uri, event.severity);
  if (!inserted && it->second == event.severity) return;
  it->second = event.severity;
  if (inserted && event.severity == Health::ok) return;
  emit(std::move(event));
}

void Client::emit(BmcEvent event) {
  event.at = std::chrono::system_clock::now();
  ++counters_.events;
  const auto source = event.source == BmcEvent::Source::sse ? "event stream" : "polling";
  if (event.type == BmcEvent::Type::leak_alarm) {
    log::warning("redfish {}: LEAK at {} ({}, {} {})", config_.name, event.uri, to_string(event.severity), source,
                 event.message_id);
  } else {
    log::notice("redfish {}: {} {} {} ({} {})", config_.name, to_string(event.type), event.uri,
                to_string(event.severity), source, event.message_id);
  }
  if (on_event_) on_event_(event);
}

// ---------------------------------------------------------------------------
// Problems.

void Client::note(Issue issue, const std::string& detail, std::uint64_t n) {
  seen_.set(static_cast<std::size_t>(issue));
  if (episodes_.occurred(issue, SteadyClock::now(), n)) {
    log::warning("redfish {}: {}: {} (further ones counted, not logged, until it clears)", config_.name,
                 to_string(issue), detail);
  }
}

void Client::clean_issues() {
  std::bitset<kIssueCount> still;
  for (const auto& t : targets_) {
    if (t.failing) still.set(static_cast<std::size_t>(*t.failing));
  }
  if (config_.sse && sse_uri_ && !stream_connected_) still.set(static_cast<std::size_t>(Issue::sse));
  const auto now = SteadyClock::now();
  for (std::size_t i = 0; i < kIssueCount; ++i) {
    if (seen_[i] || still[i]) continue;
    if (auto ended = episodes_.clean(static_cast<Issue>(i), now)) {
      log::notice("redfish {}: {} cleared after {:.1f} s ({} occurrences)", config_.name, to_string(ended->kind),
                  seconds(ended->length), ended->occurrences);
    }
  }
  seen_.reset();
}

// ---------------------------------------------------------------------------
// Output.

std::vector<SensorState> Client::snapshot() const {
  check_thread();
  return table_.snapshot(std::chrono::system_clock::now());
}

ClientCounters Client::counters() const {
  check_thread();
  ClientCounters c = counters_;
  for (std::size_t i = 0; i < kIssueCount; ++i) {
    c.issues[i] = episodes_.count(static_cast<Issue>(i));
    c.episodes[i] = episodes_.episodes(static_cast<Issue>(i));
  }
  return c;
}

std::vector<std::string> Client::poll_paths() const {
  check_thread();
  std::vector<std::string> out;
  for (const auto& t : targets_) out.push_back(t.path);
  return out;
}

ClientStatus Client::status() const {
  check_thread();
  ClientStatus s;
  s.phase = phase_;
  s.auth = auth_;
  s.logged_in = !token_.empty();
  s.session_uri = session_uri_;
  s.expand = std::any_of(targets_.begin(), targets_.end(), [](const Target& t) { return t.poll.expand; });
  s.sse_uri = sse_uri_;
  s.sse_connected = stream_connected_;
  s.poll_targets = targets_.size();
  s.sensors = table_.size();
  if (held_until_ > SteadyClock::now()) s.held_until = held_until_;
  for (std::size_t i = 0; i < kIssueCount; ++i) {
    if (episodes_.active(static_cast<Issue>(i))) s.active_issues.insert(static_cast<Issue>(i));
  }
  return s;
}

}  // namespace railyard::redfish
