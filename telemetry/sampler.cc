#include "telemetry/sampler.h"

namespace railyard::telemetry {

namespace {
std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Sampler::Sampler(boost::asio::io_context& io, Registry& registry, SamplerOptions options, Clock clock)
    : registry_(registry),
      options_(std::move(options)),
      clock_(clock ? std::move(clock) : Clock(&wall_ms)),
      timer_(io),
      alive_(std::make_shared<int>(0)) {
  if (options_.interval <= std::chrono::milliseconds::zero()) options_.interval = std::chrono::milliseconds(1000);
}

Sampler::~Sampler() { stop(); }

void Sampler::add_before(std::function<void()> hook) { before_.push_back(std::move(hook)); }

void Sampler::add_sink(Sink sink, unsigned every) { sinks_.push_back({std::move(sink), every == 0 ? 1 : every}); }

void Sampler::start() {
  if (running_) return;
  running_ = true;
  next_ = std::chrono::steady_clock::now() + options_.interval;
  schedule();
}

void Sampler::stop() {
  running_ = false;
  timer_.cancel();
}

void Sampler::schedule() {
  timer_.expires_at(next_);
  timer_.async_wait([this, alive = std::weak_ptr<int>(alive_)](const boost::system::error_code& ec) {
    if (alive.expired()) return;
    on_tick(ec);
  });
}

void Sampler::on_tick(const boost::system::error_code& ec) {
  if (ec || !running_) return;
  sample_now();
  next_ += options_.interval;
  const auto now = std::chrono::steady_clock::now();
  if (next_ <= now) {
    // Behind by a whole interval or more: skip the missed ticks.
    const auto behind = now - next_;
    next_ += (behind / options_.interval + 1) * options_.interval;
  }
  schedule();
}

void Sampler::sample_now() {
  for (auto& hook : before_) hook();
  Snapshot snapshot = registry_.collect(clock_(), options_.groups);
  if (options_.record_history) registry_.record_history(snapshot);
  for (SinkEntry& s : sinks_) {
    if (ticks_ % s.every == 0) s.sink(snapshot);
  }
  ++ticks_;
}

}  // namespace railyard::telemetry
