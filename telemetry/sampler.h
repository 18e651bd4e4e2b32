#pragma once
// Periodic collection on the control plane's io_context: every `interval`
// a steady_timer collects the configured groups of the registry, appends the
// values to the registry's history and hands the snapshot to the sinks
// (remote-write, the telemetry stream...). The schedule does not drift; when
// the loop falls behind, missed ticks are skipped, not bunched.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "telemetry/registry.h"

namespace railyard::telemetry {

struct SamplerOptions {
  std::chrono::milliseconds interval{1000};
  /// Registry groups to collect; empty: every family.
  std::vector<std::string> groups;
  bool record_history = true;
};

class Sampler {
 public:
  using Sink = std::function<void(const Snapshot&)>;
  /// Wall-clock milliseconds for snapshot timestamps; replaceable in tests.
  using Clock = std::function<std::int64_t()>;

  Sampler(boost::asio::io_context& io, Registry& registry, SamplerOptions options, Clock clock = {});
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  /// Runs before each collection (e.g. to read a driver's statistics into
  /// gauges); must not block.
  void add_before(std::function<void()> hook);
  /// Receives every `every`-th snapshot (e.g. sample rails at 10 Hz for the
  /// policy's history but push them at 1 Hz: every = 10).
  void add_sink(Sink sink, unsigned every = 1);

  void start();
  void stop();
  /// Collects once, now (also what each tick does).
  void sample_now();
  std::uint64_t ticks() const { return ticks_; }

 private:
  void schedule();
  void on_tick(const boost::system::error_code& ec);

  struct SinkEntry {
    Sink sink;
    unsigned every;
  };
  Registry& registry_;
  SamplerOptions options_;
  Clock clock_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point next_{};
  std::vector<std::function<void()>> before_;
  std::vector<SinkEntry> sinks_;
  std::uint64_t ticks_ = 0;
  bool running_ = false;
  std::shared_ptr<int> alive_;
};

}  // namespace railyard::telemetry
