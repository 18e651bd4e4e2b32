// A small program for the Prometheus integration test: it registers a few
// metrics with known values (counters bumped from a data-plane-like thread
// with its own slots), serves them on the HTTP exporter, and pushes them by
// remote-write every --interval-ms, with a sequence gauge that counts ticks so
// the test can tell exactly which samples arrived.
//
//   telemetry_it_agent --name NAME --port-file FILE [--remote-write URL]
//       [--ca-file PEM] [--buffer SAMPLES] [--interval-ms MS] [--groups a,b]
//   telemetry_it_agent --free-port     prints a free loopback TCP port

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "common/log.h"
#include "telemetry/curl_asio.h"
#include "telemetry/http_exporter.h"
#include "telemetry/registry.h"
#include "telemetry/remote_write.h"
#include "telemetry/sampler.h"

namespace tel = railyard::telemetry;

int main(int argc, char** argv) {
  std::string name = "agent", port_file, url, groups, ca_file;
  std::size_t buffer = 100000;
  int interval_ms = 250;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--free-port") {
      boost::asio::io_context io;
      boost::asio::ip::tcp::acceptor acc(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
      std::cout << acc.local_endpoint().port() << "\n";
      return 0;
    } else if (a == "--name") {
      name = next();
    } else if (a == "--port-file") {
      port_file = next();
    } else if (a == "--remote-write") {
      url = next();
    } else if (a == "--buffer") {
      buffer = std::stoul(next());
    } else if (a == "--interval-ms") {
      interval_ms = std::stoi(next());
    } else if (a == "--ca-file") {
      ca_file = next();
    } else if (a == "--groups") {
      groups = next();
    } else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }

  boost::asio::io_context io;
  tel::Registry registry(tel::RegistryOptions{.history_points = 100});

  auto events = registry.counter_family(
      {.name = "railyard_it_events", .help = "Events seen by the test agent.", .labels = {"host", "rail"}});
  tel::Counter r0 = events.series({"h1", "r0"});
  tel::Counter r1 = events.series({"h1", "r\"1"});
  registry
      .gauge_family({.name = "railyard_it_temperature_celsius",
                     .help = "A temperature.",
                     .unit = tel::Unit::celsius,
                     .labels = {"chassis", "sensor"}})
      .series({"c1", "inlet"})
      .set(36.6);
  tel::Histogram latency = registry
                               .histogram_family({.name = "railyard_it_latency_seconds",
                                                  .help = "A latency.",
                                                  .unit = tel::Unit::seconds,
                                                  .labels = {"class"},
                                                  .buckets = {0.001, 0.01, 0.1}})
                               .series({"kv"});
  tel::Gauge sequence =
      registry.gauge_family({.name = "railyard_it_sequence", .help = "Sampler ticks so far.", .group = "seq"})
          .series({});

  // The data plane: its own slots, no locks; exits with its counts kept.
  std::thread([&registry, r0, r1, latency] {
    tel::ThreadScope scope(registry);
    for (int i = 0; i < 42; ++i) r0.inc();
    r1.inc(7);
    for (double v : {0.0005, 0.005, 0.05, 0.5}) latency.observe(v);
  }).join();

  tel::HttpExporter exporter(io, registry, tel::HttpExporterOptions{.port = 0});
  if (auto ec = exporter.start()) {
    std::cerr << "exporter: " << ec.message() << "\n";
    return 1;
  }
  if (!port_file.empty()) {
    std::ofstream tmp(port_file + ".tmp");
    tmp << exporter.local_endpoint().port() << "\n";
    tmp.close();
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }

  tel::CurlMulti curl(io);
  tel::RemoteWriteOptions rw{.buffer_samples = buffer,
                             .batch_deadline = std::chrono::milliseconds(100),
                             .min_backoff = std::chrono::milliseconds(50),
                             .max_backoff = std::chrono::milliseconds(500),
                             .request_timeout = std::chrono::milliseconds(3000),
                             .external_labels = {{"agent", name}}};
  if (!url.empty()) rw.endpoints.push_back({.url = url, .ca_file = ca_file});
  tel::RemoteWriter writer(io, curl, registry, rw);
  if (auto err = writer.start(); !err.empty()) {
    std::cerr << err << "\n";
    return 1;
  }

  tel::SamplerOptions so{.interval = std::chrono::milliseconds(interval_ms)};
  std::stringstream gs(groups);
  for (std::string g; std::getline(gs, g, ',');) so.groups.push_back(g);
  tel::Sampler sampler(io, registry, so);
  double seq = 0;
  sampler.add_before([&seq, sequence] { sequence.set(++seq); });
  sampler.add_sink([&writer](const tel::Snapshot& s) { writer.push(s); });
  sampler.start();

  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int) {
    sampler.stop();
    writer.stop();
    exporter.stop();
    io.stop();
  });
  io.run();
  return 0;
}
