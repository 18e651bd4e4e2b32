// P6: the control thread's CPU for telemetry with a few thousand series.
//
// Registers --series series (rail/peer counters, gauges and histograms in
// group "rails", BMC-like gauges in group "bmc", workload/host gauges in
// "default"), keeps a data-plane-like thread updating them through its own
// slots, and runs the sampler (+ history, + remote-write to a local receiver,
// + a scrape of the HTTP exporter) for --seconds per scenario. The control
// thread's CPU time comes from getrusage(RUSAGE_THREAD) around io.run_for;
// the data-plane thread, the receiver and the scraper run on other threads
// and are not counted.
//
//   telemetry_bench [--seconds 10] [--series 3000]

#include <curl/curl.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "telemetry/curl_asio.h"
#include "telemetry/http_exporter.h"
#include "telemetry/registry.h"
#include "telemetry/remote_write.h"
#include "telemetry/sampler.h"

namespace tel = railyard::telemetry;
using namespace std::chrono_literals;

namespace {

double thread_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// A remote-write receiver on its own thread that answers 204 to everything.
class SinkServer {
 public:
  SinkServer() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { run(); });
  }
  ~SinkServer() {
    stop_ = true;
    // close() does not wake a blocking accept(): connect once instead.
    boost::asio::io_context wake_io;
    boost::asio::ip::tcp::socket wake(wake_io);
    boost::system::error_code ignored;
    wake.connect(acceptor_.local_endpoint(), ignored);
    thread_.join();
    acceptor_.close(ignored);
  }
  std::string url() const { return fmt::format("http://127.0.0.1:{}/api/v1/write", acceptor_.local_endpoint().port()); }
  std::uint64_t bytes() const { return bytes_; }

 private:
  void run() {
    namespace http = boost::beast::http;
    while (!stop_) {
      boost::system::error_code ec;
      boost::asio::ip::tcp::socket s(io_);
      acceptor_.accept(s, ec);
      if (ec || stop_) return;
      std::thread([this, s = std::move(s)]() mutable {
        boost::beast::flat_buffer buf;
        for (;;) {
          http::request<http::string_body> req;
          boost::system::error_code rec;
          http::read(s, buf, req, rec);
          if (rec) return;
          bytes_ += req.body().size();
          http::response<http::empty_body> res(http::status::no_content, req.version());
          res.keep_alive(req.keep_alive());
          http::write(s, res, rec);
          if (rec) return;
        }
      }).detach();
    }
  }
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> bytes_{0};
};

struct Metrics {
  std::vector<tel::Counter> counters;
  std::vector<tel::Gauge> gauges;
  std::vector<tel::Histogram> histograms;
};

Metrics register_series(tel::Registry& r, int target) {
  Metrics m;
  const tel::FamilySpec base{.labels = {"host", "rail", "peer"}, .group = "rails"};
  auto rail_counter = [&](const char* name, tel::Unit unit) {
    tel::FamilySpec s = base;
    s.name = name;
    s.help = "bench";
    s.unit = unit;
    return r.counter_family(s);
  };
  auto tx = rail_counter("railyard_rail_tx_bytes", tel::Unit::bytes);
  auto rx = rail_counter("railyard_rail_rx_bytes", tel::Unit::bytes);
  auto pk = rail_counter("railyard_rail_tx_packets", tel::Unit::none);
  auto re = rail_counter("railyard_rail_retransmits", tel::Unit::none);
  tel::FamilySpec rtt_spec = base;
  rtt_spec.name = "railyard_rail_rtt_seconds";
  rtt_spec.help = "bench";
  rtt_spec.unit = tel::Unit::seconds;
  auto rtt = r.gauge_family(rtt_spec);
  tel::FamilySpec lat = {.name = "railyard_transfer_duration_seconds", .help = "bench", .unit = tel::Unit::seconds,
                         .labels = {"host", "rail", "class"}, .group = "rails",
                         .buckets = {1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1}};
  auto hist = r.histogram_family(lat);
  auto bmc = r.gauge_family({.name = "railyard_bmc_temperature_celsius", .help = "bench", .unit = tel::Unit::celsius,
                             .labels = {"chassis", "sensor"}, .group = "bmc"});
  auto other = r.gauge_family({.name = "railyard_workload_value", .help = "bench", .labels = {"host", "sensor"}});
  const int rails = 8;
  for (int rail = 0; rail < rails; ++rail) {
    std::string rl = fmt::format("r{}", rail);
    for (const char* cls : {"kv", "activation"}) m.histograms.push_back(hist.series({"h1", rl, cls}));
  }
  int series = rails * 2 * 14;  // a histogram counts as its 14 exported series
  int peer = 0;
  while (series < target * 6 / 10) {
    std::string pl = fmt::format("p{}", peer++);
    for (int rail = 0; rail < rails && series < target * 6 / 10; ++rail) {
      std::string rl = fmt::format("r{}", rail);
      for (auto* f : {&tx, &rx, &pk, &re}) m.counters.push_back(f->series({"h1", rl, pl}));
      m.gauges.push_back(rtt.series({"h1", rl, pl}));
      series += 5;
    }
  }
  for (int i = 0; series < target * 8 / 10; ++i, ++series) {
    bmc.series({fmt::format("c{}", i / 50), fmt::format("s{}", i)}).set(30 + i % 10);
  }
  for (int i = 0; series < target; ++i, ++series) other.series({"h1", fmt::format("w{}", i)}).set(i);
  return m;
}

struct Scenario {
  const char* name;
  std::chrono::milliseconds rails_interval;
  std::chrono::milliseconds bmc_interval;  // 0: one sampler for every group
  bool remote_write;
  unsigned push_every;  // remote-write receives every n-th rails snapshot
  bool scrape;
};

}  // namespace

int main(int argc, char** argv) {
  int seconds = 10;
  int target = 3000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds") seconds = std::stoi(argv[i + 1]);
    if (a == "--series") target = std::stoi(argv[i + 1]);
  }
  railyard::log::set_threshold(railyard::log::Level::warning);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  const Scenario scenarios[] = {
      {"1 Hz, all groups, history", 1000ms, 0ms, false, 1, false},
      {"10 Hz, all groups, history", 100ms, 0ms, false, 1, false},
      {"1 Hz, all groups, history + remote-write", 1000ms, 0ms, true, 1, false},
      {"default: rails 10 Hz + bmc 1 Hz, history, rw 1 Hz, scrape 1/s", 100ms, 1000ms, true, 10, true},
      {"worst: 10 Hz all groups, remote-write every tick, scrape 1/s", 100ms, 0ms, true, 1, true},
  };

  // The data plane's side: the cost of one update.
  {
    tel::Registry r;
    tel::Counter c = r.counter_family({.name = "x_ops", .help = "bench"}).series({});
    tel::Histogram h = r.histogram_family({.name = "x_seconds", .help = "bench", .unit = tel::Unit::seconds,
                                           .buckets = {1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1}})
                           .series({});
    auto per_op = [](auto&& fn) {
      constexpr int kOps = 20'000'000;
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < kOps; ++i) fn(i);
      return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / kOps;
    };
    double shared_inc = per_op([&](int) { c.inc(); });
    tel::ThreadScope scope(r);
    double own_inc = per_op([&](int) { c.inc(); });
    double own_observe = per_op([&](int i) { h.observe(static_cast<double>(i & 1023) * 1e-4); });
    fmt::print("update cost: counter.inc {:.1f} ns with a ThreadScope ({:.1f} ns without: atomic RMW), "
               "histogram.observe {:.1f} ns\n\n",
               own_inc, shared_inc, own_observe);
  }

  fmt::print("{:<64} {:>7} {:>10} {:>10} {:>9}\n", "scenario (control thread only)", "series", "samples/s", "cpu ms/s",
             "% core");
  std::fflush(stdout);
  for (const Scenario& sc : scenarios) {
    boost::asio::io_context io;
    tel::Registry registry(tel::RegistryOptions{.history_points = 600});
    Metrics m = register_series(registry, target);
    std::vector<tel::BufferedSample> flat;
    tel::RemoteSeriesTable table({});
    tel::flatten(registry.collect(0), table, flat);
    const std::size_t exported = flat.size();  // exported series: a histogram is its buckets, _sum, _count

    // The data plane: own slots, updates as fast as it likes.
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> updates{0};
    std::thread dp([&] {
      tel::ThreadScope scope(registry);
      std::minstd_rand rng(1);
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int k = 0; k < 1024; ++k) {
          m.counters[rng() % m.counters.size()].inc(1500);
          m.histograms[rng() % m.histograms.size()].observe(static_cast<double>(rng() % 1000) * 1e-5);
        }
        m.gauges[rng() % m.gauges.size()].set(static_cast<double>(rng() % 100) * 1e-6);
        n += 2048;
        std::this_thread::sleep_for(50us);  // like a poll-mode core that idles a little
      }
      updates = n;
    });

    std::unique_ptr<SinkServer> sink;
    std::unique_ptr<tel::CurlMulti> curl;
    std::unique_ptr<tel::RemoteWriter> writer;
    if (sc.remote_write) {
      sink = std::make_unique<SinkServer>();
      curl = std::make_unique<tel::CurlMulti>(io);
      writer = std::make_unique<tel::RemoteWriter>(
          io, *curl, registry,
          tel::RemoteWriteOptions{.endpoints = {{.url = sink->url()}}, .external_labels = {{"host", "h1"}}});
      if (auto err = writer->start(); !err.empty()) {
        fmt::print(stderr, "{}\n", err);
        return 1;
      }
    }
    std::vector<std::unique_ptr<tel::Sampler>> samplers;
    std::uint64_t pushed_samples = 0;
    auto add_sampler = [&](std::chrono::milliseconds interval, std::vector<std::string> groups, unsigned every) {
      auto s = std::make_unique<tel::Sampler>(io, registry,
                                              tel::SamplerOptions{.interval = interval, .groups = std::move(groups)});
      if (writer) {
        s->add_sink(
            [&](const tel::Snapshot& snap) {
              for (const auto& f : snap.families) {
                for (const auto& v : f.series) {
                  pushed_samples += f.family->type == tel::MetricType::histogram ? v.histogram.cumulative.size() + 2 : 1;
                }
              }
              writer->push(snap);
            },
            every);
      }
      s->start();
      samplers.push_back(std::move(s));
    };
    if (sc.bmc_interval.count() == 0) {
      add_sampler(sc.rails_interval, {}, sc.push_every);
    } else {
      add_sampler(sc.rails_interval, {"rails"}, sc.push_every);
      add_sampler(sc.bmc_interval, {"bmc", "default"}, 1);
    }

    std::unique_ptr<tel::HttpExporter> exporter;
    std::thread scraper;
    std::atomic<bool> scraping{true};
    if (sc.scrape) {
      exporter = std::make_unique<tel::HttpExporter>(io, registry, tel::HttpExporterOptions{.port = 0});
      if (exporter->start()) return 1;
      std::string url = fmt::format("http://127.0.0.1:{}/metrics", exporter->local_endpoint().port());
      scraper = std::thread([url, &scraping] {
        CURL* e = curl_easy_init();
        curl_easy_setopt(e, CURLOPT_URL, url.c_str());
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, +[](char*, std::size_t s, std::size_t n, void*) { return s * n; });
        while (scraping) {
          curl_easy_perform(e);
          std::this_thread::sleep_for(1s);
        }
        curl_easy_cleanup(e);
      });
    }

    // Warm up: first history points allocate the rings, first pushes the
    // remote-write label table; measure the steady state.
    io.run_for(2s);
    pushed_samples = 0;
    const double cpu0 = thread_cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    io.run_for(std::chrono::seconds(seconds));
    const double cpu = thread_cpu_seconds() - cpu0;
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    scraping = false;
    if (scraper.joinable()) scraper.join();
    stop = true;
    dp.join();
    std::uint64_t collected = 0;
    for (auto& s : samplers) collected += s->ticks();
    (void)collected;
    fmt::print("{:<64} {:>7} {:>10.0f} {:>10.2f} {:>8.3f}%\n", sc.name, exported,
               static_cast<double>(pushed_samples) / wall, cpu * 1000 / wall, cpu * 100 / wall);
    std::fflush(stdout);
    if (writer) {
      auto st = writer->stats()[0];
      if (st.dropped + st.rejected > 0 || !st.healthy) {
        fmt::print("  remote-write: sent {} dropped {} rejected {}\n", st.sent, st.dropped, st.rejected);
      }
    }
    (void)updates;
  }
  return 0;
}
