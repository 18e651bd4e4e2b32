// One full sweep of every sensor against a bmc-sim, cold and warm: wall time
// and this process's CPU time (user + system), with the requests it took.
//
//   redfish_bench --url URL --credentials FILE [--ca PEM] [--sweeps N] [--runs N]
//                 [--in-flight N] [--label TEXT] [--header]
//
// Cold: a new client (new curl connections, TLS handshakes, a new session,
// discovery from the service root) until its first sweep is complete; the
// session is deleted between runs. Warm: sweep_now() on the same client,
// connections and session reused. One table row per invocation (run.sh
// starts the simulators and prints the table).

#include <curl/curl.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/log.h"
#include "drivers/bmc/redfish/client.h"
#include "telemetry/curl_asio.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) * 1e3 + static_cast<double>(tv.tv_usec) / 1e3; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

template <class Pred>
bool run_until(boost::asio::io_context& io, Pred done, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (!done() && Clock::now() < end) {
    io.run_one_for(5ms);
    if (io.stopped()) io.restart();
  }
  return done();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

// The peer: the same GETs, one after another, on one blocking libcurl handle
// with Basic auth and a kept-alive connection -- the least a client can do.
// Returns the wall times of `sweeps` warm sweeps and adds their CPU time.
std::vector<double> peer_sweeps(const std::string& url, const std::string& userpwd, const std::string& ca,
                                const std::vector<std::string>& paths, int sweeps, std::vector<double>& cpu) {
  std::vector<double> wall;
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &discard);
  curl_easy_setopt(e, CURLOPT_USERPWD, userpwd.c_str());
  curl_easy_setopt(e, CURLOPT_PROXY, "");
  if (!ca.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, ca.c_str());
  for (int s = -1; s < sweeps; ++s) {  // s = -1 warms the connection
    const auto t0 = Clock::now();
    const double c0 = cpu_ms();
    for (const auto& p : paths) {
      const std::string full = url + p;
      curl_easy_setopt(e, CURLOPT_URL, full.c_str());
      curl_easy_perform(e);
    }
    if (s >= 0) {
      wall.push_back(ms(Clock::now() - t0));
      cpu.push_back(cpu_ms() - c0);
    }
  }
  curl_easy_cleanup(e);
  return wall;
}

}  // namespace

int main(int argc, char** argv) {
  std::string url, creds, ca, label;
  int sweeps = 50, runs = 5;
  std::size_t in_flight = 3;
  bool header = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--url") url = next();
    else if (a == "--credentials") creds = next();
    else if (a == "--ca") ca = next();
    else if (a == "--sweeps") sweeps = std::atoi(next().c_str());
    else if (a == "--runs") runs = std::atoi(next().c_str());
    else if (a == "--in-flight") in_flight = static_cast<std::size_t>(std::atoi(next().c_str()));
    else if (a == "--label") label = next();
    else if (a == "--header") header = true;
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (header) {
    std::printf("| BMC | targets | sensors | cold wall ms | cold CPU ms | cold requests | warm wall ms (p50 / p90) | warm CPU ms | warm requests | peer warm wall / CPU ms | wall vs peer |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    if (url.empty()) return 0;
  }
  if (url.empty() || creds.empty()) {
    std::fprintf(stderr, "usage: %s --url URL --credentials FILE [--ca PEM] [--sweeps N] [--runs N] [--label TEXT]\n",
                 argv[0]);
    return 2;
  }
  railyard::log::set_threshold(railyard::log::Level::err);
  boost::asio::io_context io;
  railyard::redfish::ClientConfig cfg;
  cfg.name = "bench";
  cfg.url = url;
  cfg.ca_file = ca;
  cfg.credentials_file = creds;
  cfg.poll_interval = std::chrono::hours(1);  // sweeps only when asked
  cfg.max_in_flight = in_flight;
  cfg.sse = false;  // a sweep's cost alone

  std::vector<double> cold_wall, cold_cpu, warm_wall, warm_cpu;
  std::uint64_t cold_requests = 0, warm_requests = 0;
  std::size_t targets = 0, sensors = 0;
  std::vector<std::string> paths;
  for (int run = 0; run < runs; ++run) {
    // A new multi handle per run: no connection or TLS session survives.
    railyard::telemetry::CurlMulti curl(io);
    railyard::redfish::Client client(io, curl, cfg);
    std::string error;
    const double cpu0 = cpu_ms();
    if (!client.start(error)) {
      std::fprintf(stderr, "%s\n", error.c_str());
      return 1;
    }
    if (!run_until(io, [&] { return client.counters().sweeps >= 1; }, 30s)) {
      std::fprintf(stderr, "no first sweep within 30 s\n");
      return 1;
    }
    cold_cpu.push_back(cpu_ms() - cpu0);
    cold_wall.push_back(ms(client.first_sweep_after()));
    cold_requests = client.counters().requests;
    targets = client.status().poll_targets;
    sensors = client.snapshot().size();
    paths = client.poll_paths();
    for (int s = 0; s < sweeps; ++s) {
      const auto before = client.counters();
      const double c0 = cpu_ms();
      client.sweep_now();
      run_until(io, [&] { return client.counters().sweeps > before.sweeps; }, 30s);
      warm_cpu.push_back(cpu_ms() - c0);
      warm_wall.push_back(ms(client.sweep_duration()));
      warm_requests = client.counters().requests - before.requests;
    }
    bool stopped = false;
    client.stop([&] { stopped = true; });
    run_until(io, [&] { return stopped; }, 5s);
  }
  const auto creds_text = railyard::redfish::load_credentials_file(creds);
  std::vector<double> peer_cpu;
  const auto peer_wall = peer_sweeps(url, creds_text.credentials->user + ":" + creds_text.credentials->password, ca,
                                     paths, sweeps, peer_cpu);
  std::printf("| %s | %zu | %zu | %.1f | %.1f | %llu | %.2f / %.2f | %.2f | %llu | %.2f / %.2f | %.2fx |\n",
              label.empty() ? url.c_str() : label.c_str(), targets, sensors, median(cold_wall), median(cold_cpu),
              static_cast<unsigned long long>(cold_requests), median(warm_wall), pct(warm_wall, 0.9), median(warm_cpu),
              static_cast<unsigned long long>(warm_requests), median(peer_wall), median(peer_cpu),
              median(peer_wall) > 0 ? median(warm_wall) / median(peer_wall) : 0.0);
  return 0;
}
