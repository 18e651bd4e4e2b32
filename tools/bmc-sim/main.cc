// bmc-sim: a Redfish BMC simulator for a liquid-cooled GPU host (see README.md).

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "tools/bmc-sim/auth.h"
#include "tools/bmc-sim/mockup.h"
#include "tools/bmc-sim/model.h"
#include "tools/bmc-sim/scenario.h"
#include "tools/bmc-sim/server.h"
#include "tools/bmc-sim/tls.h"

namespace {

using namespace railyard;
using namespace railyard::bmcsim;

constexpr std::string_view kUsage = R"(usage: bmc-sim [options]

Serves a Redfish BMC for a simulated liquid-cooled GPU host (or a DMTF mockup
directory) over HTTP or HTTPS, with sessions, Basic auth, SSE events and a
scenario of readings and faults over time.

  --listen ADDR            address to listen on (default 127.0.0.1)
  --port N                 TCP port (default 8000; 0 = any free port)
  --port-file FILE         write the port that was bound to FILE
  --tls-cert PEM           serve HTTPS with this certificate (chain)...
  --tls-key PEM            ...and this private key
  --self-signed DIR        make a CA and a server certificate in DIR (ca.pem,
                           server.pem, server.key) and serve HTTPS with them
  --schema legacy|current|both   resources of the generated host (default both)
  --gpus N                 GPUs of the generated host (default 8, or [host] gpus)
  --chassis-id ID          chassis Id of the generated host (default GPUHost)
  --expand                 advertise and honour $expand=.($levels=1)
  --mockup DIR             serve a DMTF mockup directory instead of the model
  --scenario FILE          timeline of readings and faults (TOML, see README.md)
  --speed X                scenario seconds per wall-clock second (default 1)
  --credentials FILE       users, one "user:password" per line
                           (default: a single user root:0penBmc)
  --no-auth                accept every request without credentials
  --session-timeout S      idle seconds before a session expires (default 300)
  --max-sessions N         sessions at once; more logins get 503 (default 8)
  --sse-keepalive S        seconds between SSE keep-alive comments (default 15)
  --log-level LEVEL        err|warning|notice|info|debug (default info;
                           debug logs one line per request)
  --help
)";

struct Flags {
  ServerOptions server;
  std::string port_file;
  std::string self_signed;
  Schema schema = Schema::both;
  std::optional<int> gpus;
  std::string chassis_id = "GPUHost";
  std::string mockup;
  std::string scenario;
  std::string credentials;
};

[[noreturn]] void die(std::string_view message) {
  log::err("bmc-sim: {}", message);
  std::exit(2);
}

template <class T>
T number(std::string_view flag, std::string_view text, T min, T max) {
  T v{};
  if constexpr (std::is_floating_point_v<T>) {
    try {
      std::size_t used = 0;
      v = static_cast<T>(std::stod(std::string(text), &used));
      if (used != text.size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      die(fmt::format("{} needs a number, not '{}'", flag, text));
    }
  } else {
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size()) die(fmt::format("{} needs a whole number, not '{}'", flag, text));
  }
  if (v < min || v > max) die(fmt::format("{} {} is out of range [{}, {}]", flag, text, min, max));
  return v;
}

Flags parse(int argc, char** argv) {
  Flags f;
  f.server.port = 8000;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) die(fmt::format("{} needs a value (see --help)", flag));
      return args[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage.data(), stdout);
      std::exit(0);
    } else if (flag == "--listen") {
      f.server.address = value();
    } else if (flag == "--port") {
      f.server.port = number<std::uint16_t>(flag, value(), 0, 65535);
    } else if (flag == "--port-file") {
      f.port_file = value();
    } else if (flag == "--tls-cert") {
      f.server.tls_cert = value();
    } else if (flag == "--tls-key") {
      f.server.tls_key = value();
    } else if (flag == "--self-signed") {
      f.self_signed = value();
    } else if (flag == "--schema") {
      const auto v = value();
      if (!parse_schema(v, f.schema)) die(fmt::format("--schema {}: use legacy, current or both", v));
    } else if (flag == "--gpus") {
      f.gpus = number<int>(flag, value(), 1, 64);
    } else if (flag == "--chassis-id") {
      f.chassis_id = value();
      if (f.chassis_id.empty() || f.chassis_id.find_first_of("/?#% ") != std::string::npos) {
        die("--chassis-id must be a non-empty URI segment (no '/', '?', '#', '%' or space)");
      }
    } else if (flag == "--expand") {
      f.server.expand = true;
    } else if (flag == "--mockup") {
      f.mockup = value();
    } else if (flag == "--scenario") {
      f.scenario = value();
    } else if (flag == "--speed") {
      f.server.speed = number<double>(flag, value(), 1e-3, 1e6);
    } else if (flag == "--credentials") {
      f.credentials = value();
    } else if (flag == "--no-auth") {
      f.server.auth = false;
    } else if (flag == "--session-timeout") {
      f.server.session_timeout = std::chrono::seconds(number<int>(flag, value(), 1, 86400 * 7));
    } else if (flag == "--max-sessions") {
      f.server.max_sessions = number<std::size_t>(flag, value(), 1, 100000);
    } else if (flag == "--sse-keepalive") {
      f.server.sse_keepalive =
          std::chrono::milliseconds(static_cast<long>(number<double>(flag, value(), 0.05, 3600) * 1000));
    } else if (flag == "--log-level") {
      const auto v = value();
      log::Level level{};
      if (!log::parse_level(v, level)) die(fmt::format("--log-level {}: use err, warning, notice, info or debug", v));
      log::set_threshold(level);
    } else {
      die(fmt::format("unknown argument '{}' (see --help)", args[i]));
    }
  }
  if (f.server.tls_cert.empty() != f.server.tls_key.empty()) die("--tls-cert and --tls-key go together");
  if (!f.self_signed.empty() && !f.server.tls_cert.empty()) die("--self-signed replaces --tls-cert/--tls-key: give one or the other");
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  log::set_threshold(log::Level::info);
  Flags flags = parse(argc, argv);

  Scenario scenario;
  if (!flags.scenario.empty()) {
    std::string error;
    auto s = load_scenario(flags.scenario, error);
    if (!s) die(error);
    scenario = std::move(*s);
  }
  if (flags.gpus) scenario.host.gpus = *flags.gpus;
  const Timeline timeline(std::move(scenario));

  if (flags.credentials.empty()) {
    flags.server.credentials.emplace("root", "0penBmc");
  } else {
    std::string error;
    auto c = load_credentials(flags.credentials, error);
    if (!c) die(error);
    flags.server.credentials = std::move(*c);
  }

  if (!flags.self_signed.empty()) {
    std::string error;
    const auto pki = make_self_signed(flags.self_signed, {flags.server.address}, error);
    if (!error.empty()) die(fmt::format("--self-signed: {}", error));
    flags.server.tls_cert = pki.server_cert.string();
    flags.server.tls_key = pki.server_key.string();
    log::info("bmc-sim: CA certificate for clients: {}", pki.ca_cert.string());
  }

  std::unique_ptr<Source> source;
  std::string what;
  if (!flags.mockup.empty()) {
    try {
      auto m = std::make_unique<MockupSource>(timeline, flags.mockup, flags.server.sse_uri);
      if (m->advertises_expand()) flags.server.expand = true;
      what = fmt::format("mockup {} ({} resources)", m->root().string(), m->resources());
      source = std::move(m);
    } catch (const std::exception& e) {
      die(fmt::format("--mockup: {}", e.what()));
    }
  } else {
    ModelOptions mo{.schema = flags.schema,
                    .chassis_id = flags.chassis_id,
                    .expand = flags.server.expand,
                    .sse_uri = flags.server.sse_uri};
    source = std::make_unique<Model>(timeline, mo);
    what = fmt::format("GPU host {} ({} GPUs, {} schema)", flags.chassis_id, timeline.host().gpus, to_string(flags.schema));
  }

  boost::asio::io_context io;
  Server server(io, *source, timeline, flags.server);
  std::string detail;
  if (auto ec = server.start(detail)) die(fmt::format("cannot start: {}", detail));
  const auto ep = server.local_endpoint();
  if (!flags.port_file.empty()) {
    std::ofstream out(flags.port_file);
    out << ep.port() << '\n';
    if (!out) die(fmt::format("--port-file {}: cannot write", flags.port_file));
  }
  const std::string host = ep.address().is_v6() ? fmt::format("[{}]", ep.address().to_string()) : ep.address().to_string();
  log::notice("bmc-sim: serving {} at {}://{}:{}/redfish/v1 (speed {}x, scenario '{}', {} change(s), {} fault(s){}{})",
              what, server.tls() ? "https" : "http", host, ep.port(), flags.server.speed,
              timeline.scenario().name.empty() ? flags.scenario : timeline.scenario().name,
              timeline.scenario().changes.size(), timeline.scenario().faults.size(),
              flags.server.expand ? ", $expand" : "", flags.server.auth ? "" : ", no auth");

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&server, &io](const boost::system::error_code& ec, int) {
    if (ec) return;
    log::notice("bmc-sim: stopping");
    server.stop();
    io.stop();
  });
  io.run();
  return 0;
}
