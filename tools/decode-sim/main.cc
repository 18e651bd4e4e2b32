// decode-sim: the reference decode workload on librailyard. See README.md.
//
//   decode-sim --socket S [--sequences N | --prefill-slots N] [--capacity 64] [--context-tokens 0]
//              [--kv-bytes-per-token 1024] [--max-tokens 4096] [--step-ms 20] [--first-id 1]
//              [--region 1] [--token-log FILE] [--status-json FILE] [--duration 0] [--name decode-sim]
//   decode-sim --role prefill --socket S --peer HOST --remote-region ID --sequences N --context-tokens T
//              [--first-id 1] [--kv-bytes-per-token 1024] [--max-tokens 4096] [--region 2] [--timeout 60]
//   decode-sim --verify-logs FILE...
//
// Exit codes: 0 ok, 1 failure, 2 usage.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "client/workload.h"
#include "tools/decode-sim/determinism.h"
#include "tools/decode-sim/sequence_table.h"
#include "tools/decode-sim/token_log.h"

namespace {

using railyard::Workload;
using railyard::decode_sim::Answer;
using railyard::decode_sim::SequenceTable;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string socket, name = "decode-sim", role = "decode", peer, token_log, status_json;
  uint32_t capacity = 64, region = 0, remote_region = 1;
  uint64_t sequences = 0, prefill_slots = 0, context_tokens = 0, kv_bytes_per_token = 1024, max_tokens = 4096,
           first_id = 1;
  double step_ms = 20, duration_s = 0, timeout_s = 60;
  std::vector<std::string> verify_logs;

  uint64_t slot_bytes() const { return kv_bytes_per_token * max_tokens; }
};

[[noreturn]] void usage(const std::string& why) {
  fmt::print(stderr, "decode-sim: {}\nusage: decode-sim --socket PATH [options]; see tools/decode-sim/README.md\n",
             why);
  std::exit(2);
}

template <class T>
T number(const std::string& key, const std::string& value) {
  try {
    size_t used = 0;
    T n;
    if constexpr (std::is_floating_point_v<T>) {
      n = static_cast<T>(std::stod(value, &used));
    } else {
      if (!value.empty() && value[0] == '-') throw std::invalid_argument("negative");
      const unsigned long long parsed = std::stoull(value, &used);
      if (parsed > std::numeric_limits<T>::max()) throw std::out_of_range("too large");
      n = static_cast<T>(parsed);
    }
    if (used != value.size()) throw std::invalid_argument("trailing characters");
    return n;
  } catch (const std::exception&) {
    usage(fmt::format("{} takes a non-negative number, not '{}'", key, value));
  }
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--verify-logs") {
      o.verify_logs.assign(argv + i + 1, argv + argc);
      if (o.verify_logs.empty()) usage("--verify-logs needs one or more token-log files");
      return o;
    }
    if (i + 1 >= argc) usage(k + " needs a value");
    const std::string v = argv[++i];
    if (k == "--socket") o.socket = v;
    else if (k == "--name") o.name = v;
    else if (k == "--role") o.role = v;
    else if (k == "--peer") o.peer = v;
    else if (k == "--token-log") o.token_log = v;
    else if (k == "--status-json") o.status_json = v;
    else if (k == "--capacity") o.capacity = number<uint32_t>(k, v);
    else if (k == "--region") o.region = number<uint32_t>(k, v);
    else if (k == "--remote-region") o.remote_region = number<uint32_t>(k, v);
    else if (k == "--sequences") o.sequences = number<uint64_t>(k, v);
    else if (k == "--prefill-slots") o.prefill_slots = number<uint64_t>(k, v);
    else if (k == "--context-tokens") o.context_tokens = number<uint64_t>(k, v);
    else if (k == "--kv-bytes-per-token") o.kv_bytes_per_token = number<uint64_t>(k, v);
    else if (k == "--max-tokens") o.max_tokens = number<uint64_t>(k, v);
    else if (k == "--first-id") o.first_id = number<uint64_t>(k, v);
    else if (k == "--step-ms") o.step_ms = number<double>(k, v);
    else if (k == "--duration") o.duration_s = number<double>(k, v);
    else if (k == "--timeout") o.timeout_s = number<double>(k, v);
    else usage("unknown option " + k);
  }
  if (o.socket.empty()) usage("--socket is required");
  if (o.kv_bytes_per_token == 0 || o.max_tokens < 2) usage("need --kv-bytes-per-token >= 1 and --max-tokens >= 2");
  if (o.context_tokens >= o.max_tokens) usage("--context-tokens must stay below --max-tokens");
  if (o.role == "prefill") {
    if (o.region == 0) o.region = 2;
    if (o.peer.empty()) usage("--role prefill needs --peer HOST (the decode host)");
    if (o.sequences == 0 || o.context_tokens == 0) usage("--role prefill needs --sequences N and --context-tokens T");
  } else if (o.role == "decode") {
    if (o.region == 0) o.region = 1;
    if (o.capacity == 0) usage("--capacity must be at least 1");
    if (o.step_ms <= 0) usage("--step-ms must be above 0");
    if (o.sequences + o.prefill_slots > o.capacity)
      usage(fmt::format("--sequences {} and --prefill-slots {} need more than --capacity {} slots", o.sequences,
                        o.prefill_slots, o.capacity));
  } else {
    usage("--role is decode or prefill, not " + o.role);
  }
  return o;
}

int64_t unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Throttle level -> share of the full step rate. Level 1 (admission) and 2
// (batch) slow decoding a little, the power and CPU levels (3+) halve it.
double rate_factor(uint32_t level) {
  switch (level) {
    case 0: return 1.0;
    case 1: return 0.9;
    case 2: return 0.7;
    default: return 0.5;
  }
}

Workload connect_or_exit(const Options& o) {
  auto w = Workload::connect(o.socket, o.name);
  if (!w) {
    fmt::print(stderr, "decode-sim: {}\n", w.message());
    std::exit(1);
  }
  return std::move(w.value());
}

railyard::Region region_or_exit(Workload& w, uint64_t bytes, uint32_t id, const std::string& name) {
  auto region = w.register_region(bytes, id, name);
  if (!region) {
    fmt::print(stderr, "decode-sim: cannot register the {}-byte region {}: {}\n", bytes, id, region.message());
    std::exit(1);
  }
  return region.value();
}

bool wait_readable(int fd, int timeout_ms) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

// --role prefill: the KV of sequences first_id .. first_id + N - 1, written
// here and posted to slot k of the decode host's region.
int prefill(const Options& o) {
  Workload w = connect_or_exit(o);
  const uint64_t kv_bytes = o.context_tokens * o.kv_bytes_per_token;
  railyard::Region region = region_or_exit(w, o.sequences * o.slot_bytes(), o.region, "decode-sim-prefill");
  for (uint64_t k = 0; k < o.sequences; ++k)
    railyard::decode_sim::write_kv({region.data + k * o.slot_bytes(), o.slot_bytes()}, o.first_id + k, 0,
                                   o.context_tokens, o.kv_bytes_per_token);
  uint64_t next = 0, completed = 0, failed = 0, in_flight = 0;
  const auto deadline = Clock::now() + std::chrono::duration<double>(o.timeout_s);
  while (completed + failed < o.sequences) {
    while (next < o.sequences) {
      auto posted = w.post({.local_region = region.id,
                            .local_offset = next * o.slot_bytes(),
                            .length = kv_bytes,
                            .peer = o.peer,
                            .remote_region = o.remote_region,
                            .remote_offset = next * o.slot_bytes(),
                            .traffic_class = railyard::TrafficClass::kv,
                            .checksum = true,
                            .cookie = next});
      if (!posted && posted.error() == railyard::Error::busy && in_flight > 0) break;  // retry after a completion
      if (!posted) {
        fmt::print(stderr, "decode-sim: the prefill of sequence {} to {} was refused: {}\n", o.first_id + next,
                   o.peer, posted.message());
        return 1;
      }
      ++next;
      ++in_flight;
    }
    if (Clock::now() > deadline) {
      fmt::print(stderr, "decode-sim: {} of {} prefills to {} still unfinished after --timeout {} s\n",
                 o.sequences - completed - failed, o.sequences, o.peer, o.timeout_s);
      return 1;
    }
    wait_readable(w.event_fd(), 100);
    while (auto c = w.next_completion()) {
      --in_flight;
      if (c->error == railyard::Error::none) {
        ++completed;
      } else {
        ++failed;
        fmt::print(stderr, "decode-sim: the prefill of sequence {} to {} failed: {}\n", o.first_id + c->cookie,
                   o.peer, railyard::error_name(c->error));
      }
    }
    if (!w.connected()) {
      fmt::print(stderr, "decode-sim: lost railyardd at {} with {} prefills unfinished\n", o.socket,
                 o.sequences - completed - failed);
      return 1;
    }
  }
  fmt::print("{{\"role\":\"prefill\",\"peer\":\"{}\",\"sequences\":{},\"completed\":{},\"failed\":{},\"ok\":{}}}\n",
             o.peer, o.sequences, completed, failed, failed == 0);
  return failed == 0 ? 0 : 1;
}

// The decode role: one thread, one loop. Steps happen between events, so a
// command always applies after the current step.
class Decoder {
 public:
  Decoder(const Options& o, Workload& w, std::span<std::byte> region, uint32_t region_id)
      : o_(o),
        w_(w),
        region_id_(region_id),
        table_(region, o.capacity, o.kv_bytes_per_token, o.max_tokens),
        host_(w.host_name().empty() ? o.name : w.host_name()) {}

  int run(int stop_fd);

 private:
  bool open_token_log();
  void step(Clock::time_point now);
  void send_report(Clock::time_point now);
  void write_status(bool running);
  void on_throttle(const railyard::ThrottleCommand& c);
  void on_migration(const railyard::MigrationCommand& m);
  Answer apply(const railyard::MigrationCommand& m);
  void on_inbound(const railyard::Inbound& in);
  bool handle_events();
  std::chrono::nanoseconds step_interval() const {
    return std::chrono::nanoseconds(static_cast<int64_t>(o_.step_ms * 1e6 / rate_factor(throttle_level_)));
  }

  const Options& o_;
  Workload& w_;
  uint32_t region_id_;
  SequenceTable table_;
  std::string host_;
  std::FILE* token_log_ = nullptr;
  uint32_t throttle_level_ = 0;
  bool draining_ = false;
  bool changed_ = true;  // the sequence set changed since the last report
  bool failed_ = false;
  std::deque<std::pair<Clock::time_point, uint64_t>> recent_tokens_;  // per step, over the last second
  uint64_t tokens_ = 0, finished_ = 0, migrated_in_ = 0, migrated_out_ = 0, refused_commands_ = 0,
           ignored_inbound_ = 0;
  std::vector<std::string> recent_events_;
};

bool Decoder::open_token_log() {
  if (o_.token_log.empty()) return true;
  token_log_ = std::fopen(o_.token_log.c_str(), "a");
  if (token_log_ == nullptr) {
    fmt::print(stderr, "decode-sim: cannot open the token log {}: {}\n", o_.token_log, std::strerror(errno));
    return false;
  }
  return true;
}

void Decoder::step(Clock::time_point now) {
  const auto result = table_.step();
  const int64_t ns = unix_ns();
  if (token_log_ != nullptr) {
    for (const auto& t : result.tokens) {
      const std::string line = railyard::decode_sim::token_line(t.sequence, t.index, t.value, host_, ns);
      std::fwrite(line.data(), 1, line.size(), token_log_);
    }
    std::fflush(token_log_);
  }
  tokens_ += result.tokens.size();
  recent_tokens_.emplace_back(now, result.tokens.size());
  for (const auto& f : result.finished) {
    fmt::print(stderr, "decode-sim: sequence {} finished at token {} (--max-tokens)\n", f.id, f.tokens);
    ++finished_;
    changed_ = true;
  }
}

void Decoder::send_report(Clock::time_point now) {
  while (!recent_tokens_.empty() && now - recent_tokens_.front().first > std::chrono::seconds(1))
    recent_tokens_.pop_front();
  uint64_t last_second = 0;
  for (const auto& [when, n] : recent_tokens_) last_second += n;
  auto r = w_.report({.sequences = table_.decoding(),
                      .tokens_per_second = static_cast<double>(last_second),
                      .free_slots = table_.counts().free,
                      .throttle_level = throttle_level_});
  if (!r) {
    fmt::print(stderr, "decode-sim: report to railyardd at {} failed: {}\n", o_.socket, r.message());
    if (r.error() == railyard::Error::daemon_gone) failed_ = true;
  }
}

void Decoder::write_status(bool running) {
  if (o_.status_json.empty()) return;
  const auto c = table_.counts();
  std::string events;
  for (const auto& e : recent_events_) events += fmt::format("{}\"{}\"", events.empty() ? "" : ",", e);
  const std::string json = fmt::format(
      "{{\"host\":\"{}\",\"running\":{},\"decoding\":{},\"paused\":{},\"reserved\":{},\"awaiting_prefill\":{},"
      "\"free_slots\":{},\"tokens\":{},\"finished\":{},\"migrated_in\":{},\"migrated_out\":{},"
      "\"refused_commands\":{},\"ignored_inbound\":{},\"throttle_level\":{},\"draining\":{},\"events\":[{}]}}\n",
      host_, running, c.decoding, c.paused, c.reserved, c.awaiting_prefill, c.free, tokens_, finished_, migrated_in_,
      migrated_out_, refused_commands_, ignored_inbound_, throttle_level_, draining_, events);
  // Written beside and renamed over, so a reader never sees half a file.
  const std::string tmp = o_.status_json + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr || std::fwrite(json.data(), 1, json.size(), f) != json.size() || std::fclose(f) != 0 ||
      std::rename(tmp.c_str(), o_.status_json.c_str()) != 0)
    fmt::print(stderr, "decode-sim: cannot write the status file {}: {}\n", o_.status_json, std::strerror(errno));
}

void Decoder::on_throttle(const railyard::ThrottleCommand& c) {
  throttle_level_ = c.level;
  draining_ = c.drain;
  fmt::print(stderr, "decode-sim: throttle level {} ({}){}: {}; stepping at {:.0f}% of full rate\n", c.level,
             c.level_name, c.drain ? ", draining" : "", c.reason, rate_factor(c.level) * 100);
  auto acked = w_.ack(c.command_id, true);
  if (!acked) fmt::print(stderr, "decode-sim: cannot ack throttle command {}: {}\n", c.command_id, acked.message());
  changed_ = true;
}

Answer Decoder::apply(const railyard::MigrationCommand& m) {
  using Kind = railyard::MigrationCommand::Kind;
  switch (m.kind) {
    case Kind::reserve:
      if (draining_)
        return Answer{.ok = false, .message = "this host is draining: it takes no new sequences", .sequences = {}};
      return table_.reserve(m.migration_id, m.sequences);
    case Kind::pause: return table_.pause(m.migration_id, m.sequences);
    case Kind::resume: return table_.resume(m.migration_id, m.sequences);
    case Kind::release: return table_.release(m.migration_id, m.sequences);
    case Kind::abort: return table_.abort(m.migration_id, m.sequences);
  }
  return Answer{.ok = false, .message = "unknown migration step", .sequences = {}};
}

void Decoder::on_migration(const railyard::MigrationCommand& m) {
  using Kind = railyard::MigrationCommand::Kind;
  Answer answer = apply(m);
  const char* kind = railyard::kind_name(m.kind);
  if (!answer.ok) {
    ++refused_commands_;
    fmt::print(stderr, "decode-sim: refused {} of migration {} with {}: {}\n", kind, m.migration_id, m.peer,
               answer.message);
  } else {
    for (const auto& s : answer.sequences) {
      std::string event;
      if (m.kind == Kind::release) {
        event = fmt::format("seq {} migrated to {} at token {}", s.id, m.peer, s.tokens);
        ++migrated_out_;
      } else if (m.kind == Kind::resume) {
        event = fmt::format("seq {} resumed from {} at token {}", s.id, m.peer, s.tokens);
        ++migrated_in_;
      } else if (m.kind == Kind::abort) {
        event = fmt::format("seq {} stays here: migration {} to {} aborted", s.id, m.migration_id, m.peer);
      }
      if (!event.empty()) {
        fmt::print(stderr, "decode-sim: {}\n", event);
        recent_events_.push_back(std::move(event));
      }
    }
    // Keep the status file's event list short.
    constexpr size_t kEventsKept = 256;
    if (recent_events_.size() > kEventsKept)
      recent_events_.erase(recent_events_.begin(), recent_events_.end() - kEventsKept);
  }
  // Only RESERVE and PAUSE answer with sequences.
  const bool with_sequences = answer.ok && (m.kind == Kind::reserve || m.kind == Kind::pause);
  auto acked = w_.ack(m.command_id, answer.ok, answer.message,
                      with_sequences ? answer.sequences : std::vector<railyard::SequenceState>{});
  if (!acked) {
    fmt::print(stderr, "decode-sim: cannot ack {} command {}: {}\n", kind, m.command_id, acked.message());
    if (acked.error() == railyard::Error::daemon_gone) failed_ = true;
  }
  changed_ = true;
}

void Decoder::on_inbound(const railyard::Inbound& in) {
  const uint64_t slot_bytes = table_.slot_bytes();
  const auto slot = static_cast<uint32_t>(in.offset / slot_bytes);
  // Migration copies land in reserved slots: checked as they come; only whole
  // prefills of awaited slots start sequences.
  if (in.region_id == region_id_) table_.landed(slot, in.offset % slot_bytes, in.length);
  if (in.region_id != region_id_ || in.offset % slot_bytes != 0 || !table_.awaiting_prefill(slot)) {
    ++ignored_inbound_;
    return;
  }
  Answer adopted = table_.adopt_prefill(slot, in.length);
  if (!adopted.ok) {
    fmt::print(stderr, "decode-sim: the prefill from {} into slot {} is refused: {}\n", in.peer, slot,
               adopted.message);
    failed_ = true;
    return;
  }
  fmt::print(stderr, "decode-sim: sequence {} prefilled by {} with {} tokens{}; decoding\n", adopted.sequences[0].id,
             in.peer, adopted.sequences[0].tokens, in.checksum_verified ? " (checksum verified)" : "");
  changed_ = true;
}

// Drains every queue behind event_fd; false once the daemon is gone.
bool Decoder::handle_events() {
  while (auto c = w_.next_command()) on_throttle(*c);
  // Inbound first, and again before each command: the bytes a RESUME
  // relies on arrived before it, so they are checked before it is handled.
  while (auto in = w_.next_inbound()) on_inbound(*in);
  while (auto m = w_.next_migration()) {
    while (auto in = w_.next_inbound()) on_inbound(*in);
    on_migration(*m);
  }
  while (w_.next_completion()) {
  }
  return w_.connected();
}

int Decoder::run(int stop_fd) {
  if (!open_token_log()) return 1;
  for (uint64_t k = 0; k < o_.prefill_slots; ++k) {
    Answer a = table_.expect_prefill(o_.first_id + k, static_cast<uint32_t>(k));
    if (!a.ok) {
      fmt::print(stderr, "decode-sim: {}\n", a.message);
      return 1;
    }
  }
  for (uint64_t k = 0; k < o_.sequences; ++k) {
    Answer a = table_.start(o_.first_id + o_.prefill_slots + k, o_.context_tokens);
    if (!a.ok) {
      fmt::print(stderr, "decode-sim: {}\n", a.message);
      return 1;
    }
  }
  fmt::print(stderr, "decode-sim: decoding on {} with {} sequences, {} awaiting prefill, {} slots of {} bytes\n",
             host_, o_.sequences, o_.prefill_slots, o_.capacity, table_.slot_bytes());
  constexpr auto kReportEvery = std::chrono::milliseconds(100);
  constexpr auto kStatusEvery = std::chrono::seconds(1);
  const auto start = Clock::now();
  auto next_step = start + step_interval();
  auto next_report = start;
  auto next_status = start;
  const auto end = o_.duration_s > 0 ? start + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(o_.duration_s))
                                     : Clock::time_point::max();
  bool stop = false;
  while (!stop && !failed_) {
    auto now = Clock::now();
    if (now >= end) break;
    if (now >= next_step) {
      step(now);
      next_step += step_interval();
      if (next_step < now) next_step = now + step_interval();  // fell behind: no burst of catch-up steps
    }
    if (changed_ || now >= next_report) {
      send_report(now);
      next_report = now + kReportEvery;
    }
    if (changed_ || now >= next_status) {
      write_status(true);
      next_status = now + kStatusEvery;
    }
    changed_ = false;
    const auto wake = std::min({next_step, next_report, end});
    const int timeout_ms = static_cast<int>(std::clamp<int64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(wake - Clock::now()).count() + 1, 0, 1000));
    pollfd fds[2] = {{.fd = w_.event_fd(), .events = POLLIN, .revents = 0},
                     {.fd = stop_fd, .events = POLLIN, .revents = 0}};
    if (::poll(fds, 2, timeout_ms) < 0 && errno != EINTR) {
      fmt::print(stderr, "decode-sim: poll: {}\n", std::strerror(errno));
      return 1;
    }
    if (fds[1].revents & POLLIN) stop = true;
    if (!handle_events()) {
      fmt::print(stderr, "decode-sim: lost railyardd at {}\n", o_.socket);
      failed_ = true;
    }
  }
  write_status(false);
  if (token_log_ != nullptr) std::fclose(token_log_);
  const auto c = table_.counts();
  fmt::print("{{\"role\":\"decode\",\"host\":\"{}\",\"tokens\":{},\"decoding\":{},\"paused\":{},\"finished\":{},"
             "\"migrated_in\":{},\"migrated_out\":{},\"refused_commands\":{},\"ok\":{}}}\n",
             host_, tokens_, c.decoding, c.paused, finished_, migrated_in_, migrated_out_, refused_commands_,
             !failed_);
  return failed_ ? 1 : 0;
}

// SIGTERM/SIGINT may land on librailyard's reader thread as well as on ours,
// so the handler only writes to a pipe the loop polls. Before the loop runs
// (a call to the daemon may block), it ends the process at once.
volatile sig_atomic_t g_loop_running = 0;
int g_stop_pipe[2] = {-1, -1};

void on_stop_signal(int) {
  if (g_loop_running == 0) {
    constexpr char kMessage[] = "decode-sim: stopped by a signal before decoding started\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(1);
  }
  const char byte = 1;
  (void)!::write(g_stop_pipe[1], &byte, 1);
}

int decode(const Options& o) {
  if (::pipe2(g_stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    fmt::print(stderr, "decode-sim: pipe2: {}\n", std::strerror(errno));
    return 1;
  }
  struct sigaction stop {};
  stop.sa_handler = on_stop_signal;
  sigemptyset(&stop.sa_mask);
  ::sigaction(SIGTERM, &stop, nullptr);
  ::sigaction(SIGINT, &stop, nullptr);
  Workload w = connect_or_exit(o);
  const uint64_t region_bytes = uint64_t{o.capacity} * o.slot_bytes();
  railyard::Region region = region_or_exit(w, region_bytes, o.region, "decode-sim-kv");
  auto registered = w.register_decode(region.id, o.capacity, o.slot_bytes());
  if (!registered) {
    fmt::print(stderr,
               "decode-sim: railyardd at {} refused the decode workload (region {}, {} slots of {} bytes): {}\n",
               o.socket, region.id, o.capacity, o.slot_bytes(), registered.message());
    return 1;
  }
  Decoder decoder(o, w, {region.data, region.length}, region.id);
  g_loop_running = 1;
  return decoder.run(g_stop_pipe[0]);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (!o.verify_logs.empty()) return railyard::decode_sim::verify_logs(o.verify_logs, stdout, stderr);
  return o.role == "prefill" ? prefill(o) : decode(o);
}
