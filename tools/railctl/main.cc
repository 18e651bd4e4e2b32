// railctl: the operator's command-line tool for railyardd.
// Exit codes: 0 ok, 1 failure, 2 usage.

#include <google/protobuf/util/json_util.h>

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "client/control_client.h"
#include "common/build_info.h"
#include "common/control_limits.h"
#include "daemon/config.h"
#include "tools/railctl/commands.h"

namespace {

using namespace railyard::railctl;

using namespace railyard;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

const CommandHelp* command_help(std::string_view name) {
  for (const auto& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  for (size_t at = 0; at <= text.size();) {
    const size_t end = std::min(text.find('\n', at), text.size());
    lines.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return lines;
}

// "  NAME SYNOPSIS" then the summary at column 22, on the same line when it fits.
std::string command_lines(const CommandHelp& c) {
  const std::string head = fmt::format("  {}{}{}", c.name, c.synopsis.empty() ? "" : " ", c.synopsis);
  std::string out = head.size() < 22 ? "" : head + "\n";
  for (std::string_view line : lines_of(c.summary))
    out += fmt::format("{:<22}{}\n", out.empty() ? head : "", line);
  return out;
}

std::string options_text() {
  std::string out = "options:\n";
  for (const auto& o : kGlobalOptions)
    out += fmt::format("  {:<15} {}\n", fmt::format("{}{}{}", o.flags, o.value.empty() ? "" : " ", o.value), o.summary);
  return fmt::format("{}\n{}\n", out, kExitCodes);
}

std::string usage() {
  std::string out = "usage: railctl [--socket PATH] [-j|--json] [--timeout MS] COMMAND\n\ncommands:\n";
  for (const auto& c : kCommands) out += command_lines(c);
  return out + "\n" + options_text();
}

std::string usage(const std::string& command) {
  const CommandHelp* c = command_help(command);
  if (c == nullptr) return usage();
  std::string summary;
  for (std::string_view line : lines_of(c->summary)) summary += fmt::format("  {}\n", line);
  return fmt::format("usage: railctl [options] {}{}{}\n\n{}\n{}", c->name, c->synopsis.empty() ? "" : " ",
                     c->synopsis, summary, options_text());
}

struct Options {
  std::string socket = "/run/railyard/control.sock";
  bool json = false;
  std::chrono::milliseconds timeout{0};  // 0: the command's default
  std::vector<std::string> command;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view flag) -> std::string {
      if (i + 1 >= argc) throw UsageError(fmt::format("{} needs a value", flag));
      return argv[++i];
    };
    if (arg == "--socket") {
      o.socket = value(arg);
    } else if (arg == "--json" || arg == "-j") {
      o.json = true;
    } else if (arg == "--timeout") {
      const std::string v = value(arg);
      try {
        size_t used = 0;
        const long ms = std::stol(v, &used);
        if (used != v.size() || ms <= 0) throw std::invalid_argument(v);
        o.timeout = std::chrono::milliseconds(ms);
      } catch (const std::exception&) {
        throw UsageError(fmt::format("--timeout takes a positive number of milliseconds, not '{}'", v));
      }
    } else if (arg == "--help" || arg == "-h") {
      // After a command: that command's help.
      o.command = o.command.empty() ? std::vector<std::string>{"help"} : std::vector<std::string>{"help", o.command[0]};
      return o;
    } else if ((arg == "--version" || arg == "-V") && o.command.empty()) {
      o.command = {"version"};
      return o;
    } else if (arg.starts_with("--") && (o.command.empty() || (o.command[0] != "send" && o.command[0] != "watch" &&
                                                             o.command[0] != "fault" && o.command[0] != "migrate"))) {
      throw UsageError(fmt::format("unknown option '{}'", arg));
    } else {
      o.command.emplace_back(arg);
    }
  }
  if (o.command.empty()) throw UsageError("no command given");
  return o;
}

std::string to_json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

v1::Response call(const Options& o, v1::Request request,
                  std::chrono::milliseconds default_timeout = std::chrono::milliseconds(5000)) {
  auto client = client::ControlClient::connect(o.socket, o.timeout.count() ? o.timeout : default_timeout);
  v1::Response response = client.call(std::move(request));
  if (response.status() != v1::STATUS_OK)
    throw std::runtime_error(response.error().empty() ? v1::Status_Name(response.status()) : response.error());
  return response;
}

std::string human_duration(uint64_t ms) {
  uint64_t s = ms / 1000;
  if (s < 60) return fmt::format("{}.{:01}s", s, (ms % 1000) / 100);
  if (s < 3600) return fmt::format("{}m {:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d {:02}h", s / 86400, (s % 86400) / 3600);
}

int cmd_status(const Options& o) {
  v1::Request request;
  request.mutable_status();
  const v1::StatusReply s = call(o, request).status_reply();
  if (o.json) {
    std::cout << to_json(s);
    return kExitOk;
  }
  auto yes_no = [](bool b) { return b ? "yes" : "no"; };
  std::cout << fmt::format("railyardd {} on host {} (pid {})\n", s.version(), s.host_name(), s.pid());
  std::cout << fmt::format("  {:<10} {}\n", "uptime", human_duration(s.uptime_ms()));
  std::cout << fmt::format("  {:<10} {} (generation {}, {} reload(s) refused)\n", "config",
                           s.config_path().empty() ? "embedded defaults" : s.config_path(), s.config_generation(),
                           s.config_reloads_refused());
  std::cout << fmt::format("  {:<10} dpdk {}, verbs {}, ebpf {}\n", "drivers", yes_no(s.features().dpdk()),
                           yes_no(s.features().verbs()), yes_no(s.features().ebpf()));
  if (s.rails().empty()) std::cout << fmt::format("  {:<10} none configured\n", "rails");
  for (const auto& r : s.rails())
    std::cout << fmt::format("  {:<10} {} ({}) {}\n", "rail", r.name(), r.driver(), r.state());
  if (s.peers().empty()) std::cout << fmt::format("  {:<10} none configured\n", "peers");
  for (const auto& p : s.peers()) std::cout << fmt::format("  {:<10} {} {}\n", "peer", p.name(), p.state());
  return kExitOk;
}

// Columns as wide as their widest cell, so a long state or name never
// shifts the ones after it; the first `text_columns` left-aligned, the rest
// (numbers) right-aligned.
void print_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                 size_t text_columns) {
  std::vector<size_t> width(headers.size());
  for (size_t c = 0; c < headers.size(); ++c) {
    width[c] = headers[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      if (c != 0) out += ' ';
      out += c < text_columns ? fmt::format("{:<{}}", cells[c], width[c]) : fmt::format("{:>{}}", cells[c], width[c]);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::cout << out << '\n';
  };
  line(headers);
  for (const auto& row : rows) line(row);
}

std::string rate(double bps) {
  if (bps >= 1e9) return fmt::format("{:.2f} Gbit/s", bps / 1e9);
  if (bps >= 1e6) return fmt::format("{:.1f} Mbit/s", bps / 1e6);
  if (bps >= 1e3) return fmt::format("{:.1f} kbit/s", bps / 1e3);
  return fmt::format("{:.0f} bit/s", bps);
}

std::string bytes(uint64_t b) {
  if (b >= (1ull << 30)) return fmt::format("{:.2f} GiB", static_cast<double>(b) / (1ull << 30));
  if (b >= (1ull << 20)) return fmt::format("{:.1f} MiB", static_cast<double>(b) / (1ull << 20));
  if (b >= (1ull << 10)) return fmt::format("{:.1f} KiB", static_cast<double>(b) / (1ull << 10));
  return fmt::format("{} B", b);
}

std::string ebpf_summary(const v1::EbpfRail& e);

int cmd_rails(const Options& o) {
  v1::Request request;
  request.mutable_rails();
  const v1::RailsReply r = call(o, request).rails_reply();
  if (o.json) {
    std::cout << to_json(r);
    return kExitOk;
  }
  if (r.rails().empty()) {
    std::cout << "no rails configured\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& x : r.rails()) {
    std::string state = x.state();
    if (!x.down_reason().empty()) state += " (" + x.down_reason() + ")";
    // TIMEOUTS: all of them, and how many were stalls ("12/9": 9 spurious).
    rows.push_back({x.name(), x.driver(), x.interface().empty() ? "-" : x.interface(), state, x.address(),
                    rate(x.tx_bps()), rate(x.rx_bps()), x.rtt_us() > 0 ? fmt::format("{:.0f}us", x.rtt_us()) : "-",
                    bytes(x.window_bytes()), bytes(x.inflight_bytes()), std::to_string(x.retransmits()),
                    fmt::format("{}/{}", x.timeouts(), x.spurious_timeouts()), std::to_string(x.tx_packets()),
                    std::to_string(x.rx_packets()), std::to_string(x.ecn_marks())});
  }
  print_table({"RAIL", "DRIVER", "IFACE", "STATE", "ADDRESS", "TX RATE", "RX RATE", "RTT", "WINDOW", "INFLIGHT", "RETX",
               "TIMEOUTS", "TX PKTS", "RX PKTS", "ECN"},
              rows, 5);
  for (const auto& x : r.rails()) {
    if (!x.pmd().empty()) {
      std::map<std::string, uint64_t> stats(x.xstats().begin(), x.xstats().end());
      std::string highlights;
      for (const auto& [name, value] : stats) highlights += fmt::format("{}{} {}", highlights.empty() ? "" : ", ", name, value);
      std::cout << fmt::format("  {}: DPDK port {} ({}), MAC {}, link {}; {}\n", x.name(), x.device(), x.pmd(), x.mac(),
                               x.link(), highlights.empty() ? "no errors or misses" : highlights);
    }
    if (x.has_verbs()) {
      const auto& v = x.verbs();
      std::string paths;
      for (const auto& p : v.paths())
        paths += fmt::format("{}{} {}{}", paths.empty() ? "" : ", ", p.peer(), p.state(),
                             p.sendable() ? "" : " (not sendable yet)");
      std::cout << fmt::format(
          "  {}: RDMA {} port {} GID [{}] {} ({}, MTU {}): {} QPs connected, {} regions registered; "
          "tx {} in {} slices ({} last), rx {} last slices ({}); reposted {}, WC errors {}, post errors {}, "
          "queue full {}, QP failures {}, connection messages refused {}; CQ {}/{}\n    paths: {}\n",
          x.name(), v.device(), v.port(), v.gid_index(), v.gid(), v.link_layer(), v.mtu(), v.qps_connected(),
          v.regions(), bytes(v.tx_bytes()), v.tx_slices(), v.tx_imm(), v.rx_imm(), bytes(v.rx_imm_bytes()),
          v.reposted_slices(), v.wc_errors(), v.post_errors(), v.post_busy(), v.path_failures(),
          v.connection_refusals(), v.cq_depth(),
          v.cq_capacity(), paths.empty() ? "none (no peers)" : paths);
    }
    std::cout << fmt::format("  {}: {}\n", x.name(), ebpf_summary(x.ebpf()));
  }
  return kExitOk;
}

/// "a 3, b 1" in name order, or "none".
std::string counts_by_name(const google::protobuf::Map<std::string, uint64_t>& counts) {
  std::map<std::string, uint64_t> sorted(counts.begin(), counts.end());
  std::string out;
  for (const auto& [name, n] : sorted) out += fmt::format("{}{} {}", out.empty() ? "" : ", ", name, n);
  return out.empty() ? "none" : out;
}

int cmd_peers(const Options& o) {
  v1::Request request;
  request.mutable_peers();
  const v1::PeersReply r = call(o, request).peers_reply();
  if (o.json) {
    std::cout << to_json(r);
    return kExitOk;
  }
  if (r.peers().empty()) std::cout << "no peers configured\n";
  for (const auto& p : r.peers()) {
    std::string rails;
    for (const auto& pr : p.rails()) rails += fmt::format("{}{}={}", rails.empty() ? "" : " ", pr.rail(), pr.address());
    std::cout << fmt::format("{:<10} {:<12} session {:016x}{}  sent {:>10}  received {:>10}  in flight {:>5}  "
                             "handshakes {} ({} refused, {} replaced a live session, {} after a desynchronised one)"
                             "\n           {}  packet auth {}\n",
                             p.name(), p.state(), p.session_id(),
                             p.state() == "established" && !p.confirmed() ? " (confirming)" : "",
                             bytes(p.bytes_sent()), bytes(p.bytes_received()), p.transfers_in_flight(), p.handshakes(),
                             p.handshake_failures(), p.sessions_replaced(), p.sessions_desynchronized(), rails,
                             p.packet_auth());
    const auto& m = p.messages();
    std::cout << fmt::format("           messages: {} sent, {} received, {} fragments resent, {} out of order, "
                             "{} duplicates, {} lost to a session change\n",
                             m.sent(), m.delivered(), m.fragments_resent(), m.out_of_order(), m.duplicates(), m.lost());
    std::cout << fmt::format("           data packets received twice: {}; refused: {}\n", p.duplicates(),
                             counts_by_name(p.refused()));
    if (p.has_verbs()) {
      const auto& v = p.verbs();
      std::cout << fmt::format("           verbs transfers in: {} delivered, {} announced and waiting, {} landed before "
                               "their announcement, {} duplicate landings dropped, {} announcements refused, {} "
                               "landings never announced, {} withdrawn by the sender\n",
                               v.delivered(), v.waiting(), v.early(), v.duplicates(), v.refused(), v.orphaned(),
                               v.withdrawn());
    }
  }
  const auto& f = r.fabric();
  std::cout << fmt::format("datagrams from no peer: {}; not fabric datagrams: {}; message datagrams dropped (no rail "
                           "up, ring full or refused by the rail): {}\n",
                           f.rx_unknown_source(), counts_by_name(f.malformed()), f.messages_dropped());
  return kExitOk;
}

int cmd_transfers(const Options& o) {
  v1::Request request;
  request.mutable_transfers();
  const v1::TransfersReply r = call(o, request).transfers_reply();
  if (o.json) {
    std::cout << to_json(r);
    return kExitOk;
  }
  std::cout << fmt::format("out: {} completed ({}), {} failed; in: {} completed ({}); {} in flight\n",
                           r.completed_out(), bytes(r.bytes_out()), r.failed_out(), r.completed_in(),
                           bytes(r.bytes_in()), r.transfers_size());
  for (const auto& t : r.transfers())
    std::cout << fmt::format("  {:>8} {:<3} {:<10} {:<10} {:>10}  {} ms\n", t.id(), t.direction(), t.peer(),
                             t.traffic_class(), bytes(t.length()), t.age_ms());
  return kExitOk;
}

// The leading decimal digits of `text` (no sign: std::stoul reads "-1" as
// its largest value, which is how `--count -1` once asked the daemon for
// 4294967295 transfers); `rest` is what follows them. Nullopt when there are
// no digits or they overflow.
std::optional<uint64_t> leading_number(std::string_view text, std::string_view& rest) {
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{}) return std::nullopt;
  rest = text.substr(static_cast<size_t>(end - text.data()));
  return n;
}

// A whole decimal number from `min` to `max`, else a usage error naming the flag.
uint64_t parse_number(std::string_view flag, std::string_view text, uint64_t min, uint64_t max) {
  std::string_view rest;
  const auto n = leading_number(text, rest);
  if (!n || !rest.empty() || *n < min || *n > max)
    throw UsageError(fmt::format("{} takes a whole number from {} to {}, not '{}'", flag, min, max, text));
  return *n;
}

uint64_t parse_size(const std::string& v) {
  std::string_view suffix;
  const auto n = leading_number(v, suffix);
  if (!n) throw UsageError(fmt::format("--size takes a number with an optional K, M or G suffix, not '{}'", v));
  int shift = 0;
  if (suffix == "K" || suffix == "k") shift = 10;
  else if (suffix == "M" || suffix == "m") shift = 20;
  else if (suffix == "G" || suffix == "g") shift = 30;
  else if (!suffix.empty()) throw UsageError(fmt::format("--size suffix '{}' is not K, M or G", suffix));
  if (*n > (uint64_t{1} << 40) >> shift) throw UsageError(fmt::format("--size '{}' is more than 1 TiB", v));
  return *n << shift;
}

int cmd_send(const Options& o, const std::vector<std::string>& args) {
  v1::Request request;
  auto* s = request.mutable_send();
  for (size_t i = 1; i < args.size(); ++i) {
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw UsageError(fmt::format("{} needs a value", args[i]));
      return args[++i];
    };
    if (args[i] == "--peer") {
      s->set_peer(value());
    } else if (args[i] == "--size") {
      s->set_size(parse_size(value()));
    } else if (args[i] == "--count") {
      s->set_count(static_cast<uint32_t>(parse_number("--count", value(), 1, control::kMaxProbeTransfers)));
    } else if (args[i] == "--concurrency") {
      s->set_concurrency(
          static_cast<uint32_t>(parse_number("--concurrency", value(), 1, control::kMaxProbeConcurrency)));
    } else if (args[i] == "--checksum") {
      s->set_checksum(true);
    } else if (args[i] == "--class") {
      const std::string& c = value();
      if (c != "kv" && c != "activation") throw UsageError("--class is kv or activation");
      s->set_activation(c == "activation");
    } else {
      throw UsageError(fmt::format("send: unknown option '{}'", args[i]));
    }
  }
  if (s->peer().empty() || s->size() == 0) throw UsageError("send needs --peer P and --size N");
  const v1::SendReply r = call(o, request, std::chrono::minutes(10)).send_reply();
  if (o.json) {
    std::cout << to_json(r);
  } else {
    std::cout << fmt::format("{} transfers of {} to {}: {} completed, {} failed in {:.3f} s\n", s->count() ? s->count() : 1,
                             bytes(s->size()), s->peer(), r.completed(), r.failed(),
                             static_cast<double>(r.duration_ns()) / 1e9);
    std::cout << fmt::format("goodput {}   latency p50 {:.1f} us  p99 {:.1f} us  max {:.1f} us\n",
                             rate(r.goodput_bps()), static_cast<double>(r.latency_p50_ns()) / 1e3,
                             static_cast<double>(r.latency_p99_ns()) / 1e3,
                             static_cast<double>(r.latency_max_ns()) / 1e3);
    if (!r.first_error().empty()) std::cout << "first error: " << r.first_error() << "\n";
  }
  return r.failed() == 0 ? kExitOk : kExitFailure;
}

int cmd_bmc(const Options& o) {
  v1::Request request;
  request.mutable_bmc();
  const v1::BmcReply r = call(o, request).bmc_reply();
  if (o.json) {
    std::cout << to_json(r);
    return kExitOk;
  }
  if (r.url().empty()) {
    std::cout << "no BMC configured (add a [bmc] section with url and credentials)\n";
    return kExitOk;
  }
  std::cout << fmt::format("BMC {} — {}; last sweep {} ms; {} requests, {} session(s){}\n", r.url(), r.state(),
                           r.last_sweep_ms(), r.requests(), r.sessions_created(),
                           r.events() ? "; events over SSE" : "");
  auto num = [](bool has, double v) { return has ? fmt::format("{:g}", v) : std::string("-"); };
  std::cout << fmt::format("{:<34} {:<28} {:>10} {:<8} {:>9} {:>9} {:>9} {:>8} {:<10}\n", "SENSOR", "KIND", "READING",
                           "UNIT", "CAUTION", "CRITICAL", "FATAL", "AGE", "STATUS");
  for (const auto& x : r.sensors()) {
    std::string status = x.health().empty() ? x.state() : x.health();
    if (x.stale()) status += " STALE";
    std::cout << fmt::format("{:<34} {:<28} {:>10} {:<8} {:>9} {:>9} {:>9} {:>6.1f}s {:<10}\n",
                             x.name().substr(0, 34), x.kind().substr(0, 28), num(x.has_reading(), x.reading()),
                             x.unit(), num(x.has_upper_caution(), x.upper_caution()),
                             num(x.has_upper_critical(), x.upper_critical()), num(x.has_upper_fatal(), x.upper_fatal()),
                             static_cast<double>(x.age_ms()) / 1000, status);
  }
  for (const auto& [kind, n] : r.problems()) std::cout << fmt::format("problems: {} {}\n", kind, n);
  return kExitOk;
}

std::string ebpf_summary(const v1::EbpfRail& e) {
  if (!e.monitored()) return "eBPF monitor off: " + e.unavailable();
  std::string out;
  for (const auto& c : e.classes()) {
    if (c.packets() == 0) continue;
    out += fmt::format("{}{} {} {} pkts {}", out.empty() ? "" : ", ", c.direction(), c.traffic_class(), c.packets(),
                       bytes(c.bytes()));
    if (c.ecn_ce()) out += fmt::format(" ({} CE)", c.ecn_ce());
  }
  if (out.empty()) out = "no fabric traffic seen";
  if (e.malformed()) out += fmt::format(", {} malformed", e.malformed());
  if (!e.fault().empty())
    out += fmt::format("; fault: {} ({} XDP: {} matched, {} dropped, {} marked)", e.fault(), e.fault_mode(),
                       e.fault_matched(), e.fault_dropped(), e.fault_marked());
  return out;
}

int cmd_fault(const Options& o, const std::vector<std::string>& args) {
  if (args.size() < 3 || args[1] != "rail") throw UsageError("usage: railctl fault rail R --drop P | --ecn P [--class kv|activation] | --clear");
  v1::Request request;
  auto* f = request.mutable_fault();
  f->set_rail(args[2]);
  for (size_t i = 3; i < args.size(); ++i) {
    auto probability = [&](const std::string& flag) {
      if (i + 1 >= args.size()) throw UsageError(flag + " needs a probability from 0 to 1");
      const std::string& text = args[++i];
      double p = -1;
      try {
        size_t used = 0;
        p = std::stod(text, &used);
        if (used != text.size()) p = -1;
      } catch (const std::exception&) {
      }
      if (!(p >= 0 && p <= 1))  // NaN too
        throw UsageError(fmt::format("{} takes a probability from 0 to 1, not '{}'", flag, text));
      return p;
    };
    if (args[i] == "--drop") {
      f->set_drop(probability("--drop"));
    } else if (args[i] == "--ecn") {
      f->set_ecn(probability("--ecn"));
    } else if (args[i] == "--clear") {
      f->set_clear(true);
    } else if (args[i] == "--class" && i + 1 < args.size()) {
      f->set_traffic_class(args[++i]);
    } else {
      throw UsageError(fmt::format("fault: unknown option '{}'", args[i]));
    }
  }
  if (!f->clear() && f->drop() == 0 && f->ecn() == 0) throw UsageError("fault needs --drop P, --ecn P or --clear");
  const v1::FaultReply r = call(o, request).fault_reply();
  if (o.json) {
    std::cout << to_json(r);
  } else {
    std::cout << fmt::format("rail {}: {}\n", f->rail(), ebpf_summary(r.rail()));
  }
  return kExitOk;
}

int cmd_watch(const Options& o, const std::vector<std::string>& args) {
  v1::Request request;
  auto* w = request.mutable_watch();
  uint64_t count = 0;  // 0: until interrupted
  for (size_t i = 1; i < args.size(); ++i) {
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw UsageError(fmt::format("{} needs a value", args[i]));
      return args[++i];
    };
    if (args[i] == "--filter") {
      w->add_filter(value());
    } else if (args[i] == "--interval") {
      w->set_interval_ms(static_cast<uint32_t>(
          parse_number("--interval", value(), control::kMinWatchIntervalMs, control::kMaxWatchIntervalMs)));
    } else if (args[i] == "--count") {
      count = parse_number("--count", value(), 1, UINT64_MAX);
    } else {
      throw UsageError(fmt::format("watch: unknown option '{}'", args[i]));
    }
  }
  const auto interval = std::chrono::milliseconds(w->interval_ms() ? w->interval_ms() : 1000);
  auto client = client::ControlClient::connect(o.socket, interval + (o.timeout.count() ? o.timeout : std::chrono::seconds(5)));
  uint64_t seen = 0;
  client.stream(request, [&](const v1::Response& r) {
    if (r.status() != v1::STATUS_OK) throw std::runtime_error(r.error());
    const auto& u = r.watch_update();
    if (o.json) {
      google::protobuf::util::JsonPrintOptions options;
      options.preserve_proto_field_names = true;
      std::string line;
      (void)google::protobuf::util::MessageToJsonString(u, &line, options);
      std::cout << line << std::endl;
    } else {
      std::cout << fmt::format("-- {} ({} samples{})\n", u.timestamp_ms(), u.samples_size(),
                               u.skipped() ? fmt::format(", {} updates skipped", u.skipped()) : "");
      for (const auto& x : u.samples()) {
        std::string labels;
        std::map<std::string, std::string> sorted(x.labels().begin(), x.labels().end());
        for (const auto& [k, v] : sorted) labels += fmt::format("{}{}=\"{}\"", labels.empty() ? "" : ",", k, v);
        std::cout << fmt::format("{}{{{}}} {:g}\n", x.name(), labels, x.value());
      }
      std::cout.flush();
    }
    return count == 0 || ++seen < count;
  });
  return kExitOk;
}

void print_policy(const v1::PolicyReply& r) {
  std::cout << fmt::format("level {} ({}){}; mode {}; policy's own level {}\n", r.level(), r.level_number(),
                           r.draining() ? ", DRAINING" : "", r.mode(), r.policy_level());
  if (!r.binding().empty())
    std::cout << fmt::format("binding signal {} (horizon {:.0f} s)\n", r.binding(), r.horizon_s());
  if (!r.reason().empty()) std::cout << "last evaluation: " << r.reason() << "\n";
  if (r.command_id() != 0)
    std::cout << fmt::format("actuators: command {} {}\n", r.command_id(),
                             r.command_state().empty() ? "sent (no acknowledgement awaited)" : r.command_state());
  else if (r.actuators_size() > 0)
    std::cout << "actuators:\n";
  for (const auto& a : r.actuators())
    std::cout << fmt::format("  {:<16} {:<26} {}: {}{}\n", a.name(), a.rungs(), a.available() ? "available" : "ABSENT",
                             a.detail(), a.state().empty() ? "" : "; now " + a.state());
  if (r.unavailable_size() > 0)
    std::cout << fmt::format("no actuator for: {}\n", fmt::join(r.unavailable(), ", "));
  auto num = [](bool has, double v) { return has ? fmt::format("{:.1f}", v) : std::string("-"); };
  std::cout << fmt::format("\n{:<18} {:<9} {:>9} {:>8} {:>10} {:>10} {:>8} {:>9}\n", "SIGNAL", "STATE", "VALUE", "AGE",
                           "SLOPE/s", "TTL", "LIMIT", "CRITICAL");
  for (const auto& s : r.signals()) {
    if (s.freshness() == "absent" && !s.has_limit()) continue;
    const std::string ttl = s.has_ttl_s() ? fmt::format("{:.0f}s{}", s.ttl_s(), s.from_model() ? "*" : "") : "-";
    std::cout << fmt::format("{:<18} {:<9} {:>9} {:>7.1f}s {:>10} {:>10} {:>8} {:>9}\n", s.name(), s.freshness(),
                             num(std::isfinite(s.value()), s.value()), static_cast<double>(s.age_ms()) / 1000,
                             s.trend_valid() ? fmt::format("{:+.4f}", s.slope_per_s()) : std::string("-"), ttl,
                             num(s.has_limit(), s.limit()), num(s.has_critical(), s.critical()));
  }
  std::cout << "(* time to limit from the thermal model)\n";
  if (r.decisions_size() > 0) std::cout << "\nlast decisions (oldest first):\n";
  for (const auto& d : r.decisions()) {
    const auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(d.unix_ms()));
    const auto secs = std::chrono::system_clock::to_time_t(t);
    std::cout << fmt::format("  {:%H:%M:%S} {:<8} {:<9} {} → {} (applied {}{}){}: {}\n", fmt::gmtime(secs), d.source(),
                             d.action(), d.from(), d.to(), d.applied(), d.draining() ? ", draining" : "",
                             d.binding().empty() ? "" : " [" + d.binding() + "]", d.reason());
  }
}

int cmd_policy(const Options& o, const std::vector<std::string>& c) {
  v1::Request request;
  if (c[0] == "policy") {
    if (c.size() != 1) throw UsageError("usage: railctl policy");
    request.mutable_policy();
  } else if (c[0] == "throttle") {
    if (c.size() != 2) throw UsageError("usage: railctl throttle LEVEL|auto");
    request.mutable_throttle()->set_level(c[1]);
  } else {
    if (c.size() != 1) throw UsageError("usage: railctl drain");
    request.mutable_drain();
  }
  const v1::PolicyReply r = call(o, request).policy_reply();
  if (o.json) {
    std::cout << to_json(r);
    return kExitOk;
  }
  print_policy(r);
  return kExitOk;
}

void print_migration(const v1::MigrationStatus& m) {
  std::cout << fmt::format("migration {} ({}) {} {}: {}", m.id(), m.role(), m.role() == "source" ? "to" : "from",
                           m.peer(), m.state());
  std::cout << fmt::format(", {} sequences, {:.1f} MiB KV copied in {} rounds", m.sequences(),
                           static_cast<double>(m.kv_bytes_copied()) / (1 << 20), m.rounds());
  if (m.state() == "done" && m.role() == "source")
    std::cout << fmt::format(", paused {:.1f} ms (final copy {:.1f} KiB)", m.downtime_ms(),
                             static_cast<double>(m.final_copy_bytes()) / 1024);
  std::cout << fmt::format(", {:.0f} ms{}\n", m.total_ms(), m.reason().empty() ? "" : " [" + m.reason() + "]");
  if (!m.error().empty()) std::cout << "  error: " << m.error() << "\n";
}

int cmd_workload(const Options& o) {
  v1::Request request;
  request.mutable_workload();
  const v1::WorkloadReply r = call(o, request).workload_reply();
  if (o.json) {
    std::cout << to_json(r);
    return kExitOk;
  }
  if (!r.decode_registered()) {
    std::cout << "no decode workload registered on this host\n";
  } else {
    std::cout << fmt::format("decode workload '{}': {} sequences, {} of {} slots free, {:.0f} tokens/s, throttle "
                             "level {} (report {:.1f} s old)\n",
                             r.name(), r.sequences_size(), r.free_slots(), r.capacity(), r.tokens_per_second(),
                             r.throttle_level(), r.report_age_s());
    if (r.sequences_size() > 0)
      std::cout << fmt::format("\n{:>20} {:>6} {:>10} {:>12}\n", "SEQUENCE", "SLOT", "TOKENS", "KV BYTES");
    for (const auto& s : r.sequences())
      std::cout << fmt::format("{:>20} {:>6} {:>10} {:>12}\n", s.id(), s.slot(), s.tokens(), s.kv_bytes());
  }
  if (r.migrations_size() > 0) std::cout << "\nmigrations (in flight first, then the latest):\n";
  for (const auto& m : r.migrations()) {
    std::cout << "  ";
    print_migration(m);
  }
  if (r.peers_size() > 0)
    std::cout << fmt::format("\n{:<16} {:>7} {:>6} {:>10} {:>11} {:>6} {:>6}\n", "PEER HEADROOM", "DECODE", "FREE",
                             "MARGIN °C", "CONGESTION", "LEVEL", "AGE");
  for (const auto& p : r.peers()) {
    const auto& h = p.headroom();
    std::cout << fmt::format("{:<16} {:>7} {:>6} {:>10.1f} {:>11.2f} {:>6} {:>5.1f}s{}\n", p.peer(),
                             h.decode_workload() ? "yes" : "no", h.free_slots(), h.thermal_margin_c(), h.congestion(),
                             h.throttle_level(), p.age_s(), h.draining() ? " draining" : "");
  }
  return kExitOk;
}

int cmd_migrate(const Options& o, const std::vector<std::string>& c) {
  v1::Request request;
  auto& m = *request.mutable_migrate();
  m.set_wait(true);
  for (size_t i = 1; i < c.size(); ++i) {
    auto value = [&]() -> const std::string& {
      if (i + 1 >= c.size()) throw UsageError(fmt::format("{} needs a value", c[i]));
      return c[++i];
    };
    if (c[i] == "--to") {
      m.set_to(value());
    } else if (c[i] == "--sequences") {
      const std::string list = value();
      size_t at = 0;
      while (at <= list.size()) {
        const size_t comma = std::min(list.find(',', at), list.size());
        const std::string id = list.substr(at, comma - at);
        std::string_view rest;
        const auto n = leading_number(id, rest);
        if (!n || !rest.empty())
          throw UsageError(fmt::format("--sequences takes sequence ids separated by commas, not '{}'", id));
        m.add_sequences(*n);
        at = comma + 1;
      }
    } else if (c[i] == "--no-wait") {
      m.set_wait(false);
    } else {
      throw UsageError(fmt::format("migrate does not take '{}'", c[i]));
    }
  }
  const v1::MigrationStatus r = call(o, request, std::chrono::milliseconds(600000)).migration_reply();
  if (o.json) {
    std::cout << to_json(r);
  } else {
    print_migration(r);
  }
  return r.state() == "failed" ? kExitFailure : kExitOk;
}

int cmd_version(const Options& o) {
  std::optional<std::string> daemon_version;
  std::string why_not;
  try {
    v1::Request request;
    request.mutable_status();
    daemon_version = call(o, request).status_reply().version();
  } catch (const std::exception& e) {
    why_not = e.what();
  }
  if (o.json) {
    boost::json::object out{{"railctl", std::string(kVersion)}};
    out["railyardd"] = daemon_version ? boost::json::value(*daemon_version) : boost::json::value(nullptr);
    std::cout << boost::json::serialize(out) << "\n";
    return kExitOk;
  }
  std::cout << "railctl " << kVersion << "\n";
  if (daemon_version) {
    std::cout << "railyardd " << *daemon_version << "\n";
  } else {
    std::cout << "railyardd: unknown (" << why_not << ")\n";
  }
  return kExitOk;
}

int cmd_config_check(const Options& o, const std::string& file) {
  std::vector<config::Problem> problems;
  try {
    config::load_file(file);
  } catch (const config::ConfigError& e) {
    problems = e.problems();
  }
  if (o.json) {
    boost::json::array list;
    for (const auto& p : problems) {
      list.push_back(boost::json::object{{"file", p.file},
                                         {"line", p.line},
                                         {"column", p.column},
                                         {"key", p.key},
                                         {"message", p.message}});
    }
    std::cout << boost::json::serialize(boost::json::object{
                     {"file", file}, {"ok", problems.empty()}, {"problems", std::move(list)}})
              << "\n";
  } else if (problems.empty()) {
    std::cout << file << ": ok\n";
  } else {
    for (const auto& p : problems) std::cerr << p.to_string() << "\n";
  }
  return problems.empty() ? kExitOk : kExitFailure;
}

int dispatch(const Options& o) {
  const auto& c = o.command;
  if (c[0] == "help") {
    if (c.size() > 2 || (c.size() == 2 && command_help(c[1]) == nullptr))
      throw UsageError(fmt::format("no command '{}' to help with", fmt::join(c.begin() + 1, c.end(), " ")));
    std::cout << (c.size() == 2 ? usage(c[1]) : usage());
    return kExitOk;
  }
  if (c[0] == "status" && c.size() == 1) return cmd_status(o);
  if (c[0] == "rails" && c.size() == 1) return cmd_rails(o);
  if (c[0] == "peers" && c.size() == 1) return cmd_peers(o);
  if (c[0] == "transfers" && c.size() == 1) return cmd_transfers(o);
  if (c[0] == "bmc" && c.size() == 1) return cmd_bmc(o);
  if (c[0] == "policy" || c[0] == "throttle" || c[0] == "drain") return cmd_policy(o, c);
  if (c[0] == "watch") return cmd_watch(o, c);
  if (c[0] == "workload" && c.size() == 1) return cmd_workload(o);
  if (c[0] == "migrate") return cmd_migrate(o, c);
  if (c[0] == "fault") return cmd_fault(o, c);
  if (c[0] == "send") return cmd_send(o, c);
  if (c[0] == "version" && c.size() == 1) return cmd_version(o);
  if (c[0] == "config") {
    if (c.size() == 3 && c[1] == "check") return cmd_config_check(o, c[2]);
    throw UsageError("usage: railctl config check FILE");
  }
  throw UsageError(fmt::format("unknown command '{}'", fmt::join(c, " ")));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse_args(argc, argv);
    return dispatch(o);
  } catch (const UsageError& e) {
    // Within a command: that command's usage, not all of them.
    std::cerr << "railctl: " << e.what() << "\n\n"
              << (o.command.empty() || o.command[0] == "help" ? usage() : usage(o.command[0]));
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "railctl: " << e.what() << "\n";
    return kExitFailure;
  }
}
