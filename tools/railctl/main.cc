// railctl: the operator's command-line tool for railyardd.
// Exit codes: 0 ok, 1 failure, 2 usage.

#include <google/protobuf/util/json_util.h>

#include <boost/json.hpp>
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "client/control_client.h"
#include "common/build_info.h"
#include "daemon/config.h"

namespace {

using namespace railyard;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

constexpr std::string_view kUsage = R"(usage: railctl [--socket PATH] [--json] [--timeout MS] COMMAND

commands:
  status              the daemon's version, uptime, configuration, rails and peers
  version             railctl's version, and the daemon's when it runs
  config check FILE   validate a railyard.toml exactly as railyardd would

options:
  --socket PATH   the daemon's control socket (default /run/railyard/control.sock)
  --json          machine-readable output (protobuf JSON mapping: 64-bit numbers are strings)
  --timeout MS    how long to wait for the daemon (default 5000)

exit codes: 0 ok, 1 failure, 2 usage
)";

struct Options {
  std::string socket = "/run/railyard/control.sock";
  bool json = false;
  std::chrono::milliseconds timeout{5000};
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
    } else if (arg == "--json") {
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
      o.command = {"help"};
      return o;
    } else if (arg.starts_with("--")) {
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

v1::Response call(const Options& o, v1::Request request) {
  auto client = client::ControlClient::connect(o.socket, o.timeout);
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
    std::cout << kUsage;
    return kExitOk;
  }
  if (c[0] == "status" && c.size() == 1) return cmd_status(o);
  if (c[0] == "version" && c.size() == 1) return cmd_version(o);
  if (c[0] == "config") {
    if (c.size() == 3 && c[1] == "check") return cmd_config_check(o, c[2]);
    throw UsageError("usage: railctl config check FILE");
  }
  throw UsageError(fmt::format("unknown command '{}'", fmt::join(c, " ")));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(parse_args(argc, argv));
  } catch (const UsageError& e) {
    std::cerr << "railctl: " << e.what() << "\n\n" << kUsage;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "railctl: " << e.what() << "\n";
    return kExitFailure;
  }
}
