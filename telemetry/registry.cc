#include "telemetry/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <stdexcept>

#include "telemetry/text_escape.h"

namespace railyard::telemetry {

std::string_view to_string(MetricType type) {
  switch (type) {
    case MetricType::counter: return "counter";
    case MetricType::gauge: return "gauge";
    case MetricType::histogram: return "histogram";
  }
  return "untyped";
}

std::string_view suffix(Unit unit) {
  switch (unit) {
    case Unit::none: return "";
    case Unit::seconds: return "seconds";
    case Unit::bytes: return "bytes";
    case Unit::celsius: return "celsius";
    case Unit::watts: return "watts";
    case Unit::joules: return "joules";
    case Unit::volts: return "volts";
    case Unit::amperes: return "amperes";
    case Unit::hertz: return "hertz";
    case Unit::pascals: return "pascals";
    case Unit::ratio: return "ratio";
    case Unit::rpm: return "rpm";
    case Unit::cubic_meters_per_second: return "cubic_meters_per_second";
  }
  return "";
}

// Slots live in chunks of 512 (4 KiB, cache-line aligned), allocated by the
// control plane for every shard before a handle that uses them exists, so an
// update is an index into memory that is already there.
namespace {
constexpr std::uint32_t kChunkShift = 9;
constexpr std::uint32_t kChunkSlots = 1u << kChunkShift;
constexpr std::uint32_t kMaxChunks = 4096;  // 2 Mi slots

struct alignas(64) Chunk {
  std::array<std::atomic<std::uint64_t>, kChunkSlots> cells{};
};

double as_double(std::uint64_t bits) { return std::bit_cast<double>(bits); }
std::uint64_t as_bits(double v) { return std::bit_cast<std::uint64_t>(v); }

}  // namespace

class Shard {
 public:
  explicit Shard(const Registry* owner) : owner_(owner) {}

  std::atomic<std::uint64_t>& cell(std::uint32_t slot) const noexcept {
    return chunks_[slot >> kChunkShift].load(std::memory_order_acquire)->cells[slot & (kChunkSlots - 1)];
  }
  /// Makes sure chunks [0, count) exist. Registry mutex held.
  void ensure(std::uint32_t count) {
    while (storage_.size() < count) {
      storage_.push_back(std::make_unique<Chunk>());
      chunks_[storage_.size() - 1].store(storage_.back().get(), std::memory_order_release);
    }
  }
  const Registry* owner() const { return owner_; }
  bool in_use = false;

 private:
  const Registry* owner_;
  std::array<std::atomic<Chunk*>, kMaxChunks> chunks_{};
  std::vector<std::unique_ptr<Chunk>> storage_;
};

namespace {
// initial-exec: a plain %fs-relative load even though the library is built
// -fPIC (it is linked into executables, never dlopen()ed).
__attribute__((tls_model("initial-exec"))) thread_local Shard* tls_shard = nullptr;

Shard* own_shard(const Registry* registry) noexcept {
  Shard* s = tls_shard;
  return s != nullptr && s->owner() == registry ? s : nullptr;
}

// The owning thread is the only writer of its cells: load + store, no RMW.
void local_add(std::atomic<std::uint64_t>& c, std::uint64_t n) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
void local_add(std::atomic<std::uint64_t>& c, double d) noexcept {
  c.store(as_bits(as_double(c.load(std::memory_order_relaxed)) + d), std::memory_order_relaxed);
}
void shared_add(std::atomic<std::uint64_t>& c, double d) noexcept {
  std::uint64_t old = c.load(std::memory_order_relaxed);
  while (!c.compare_exchange_weak(old, as_bits(as_double(old) + d), std::memory_order_relaxed)) {
  }
}

bool valid_metric_name(std::string_view n) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

[[noreturn]] void bad(std::string_view family, std::string_view what) {
  throw std::invalid_argument(fmt::format("telemetry family '{}': {}", family, what));
}

void validate(MetricType type, const FamilySpec& spec) {
  const std::string& n = spec.name;
  if (!valid_metric_name(n)) bad(n, "name must match [a-zA-Z_:][a-zA-Z0-9_:]*");
  for (std::string_view reserved : {"_total", "_count", "_sum", "_bucket"}) {
    if (n.ends_with(reserved)) bad(n, fmt::format("name must not end with '{}' (added on export where due)", reserved));
  }
  if (spec.unit != Unit::none) {
    std::string want = fmt::format("_{}", suffix(spec.unit));
    if (!n.ends_with(want)) bad(n, fmt::format("unit {} needs the name to end with '{}'", suffix(spec.unit), want));
  }
  if (spec.help.empty()) bad(n, "help text is empty");
  for (std::size_t i = 0; i < spec.labels.size(); ++i) {
    const std::string& l = spec.labels[i];
    if (!valid_label_name(l)) bad(n, fmt::format("label name '{}' must match [a-zA-Z_][a-zA-Z0-9_]* without a leading '__'", l));
    if (l == "le" || l == "quantile") bad(n, fmt::format("label name '{}' is reserved", l));
    if (std::find(spec.labels.begin(), spec.labels.begin() + static_cast<std::ptrdiff_t>(i), l) !=
        spec.labels.begin() + static_cast<std::ptrdiff_t>(i))
      bad(n, fmt::format("label name '{}' appears twice", l));
  }
  if (type == MetricType::counter) {
    if (!(spec.scale > 0) || !std::isfinite(spec.scale)) bad(n, "scale must be finite and > 0");
  } else if (spec.scale != 1.0) {
    bad(n, "scale applies to counters only");
  }
  if (type == MetricType::histogram) {
    if (spec.buckets.size() > kMaxBuckets) bad(n, fmt::format("more than {} buckets", kMaxBuckets));
    for (std::size_t i = 0; i < spec.buckets.size(); ++i) {
      if (!std::isfinite(spec.buckets[i])) bad(n, "bucket bounds must be finite (+Inf is implicit)");
      if (i > 0 && !(spec.buckets[i] > spec.buckets[i - 1])) bad(n, "bucket bounds must increase strictly");
    }
  } else if (!spec.buckets.empty()) {
    bad(n, "buckets apply to histograms only");
  }
}

std::string series_key(std::string_view family, std::span<const std::string_view> values) {
  std::string key(family);
  for (std::string_view v : values) {
    key.push_back('\xff');
    key.append(v);
  }
  return key;
}

}  // namespace

struct Registry::SeriesState {
  SeriesInfo info;
  std::vector<Point> ring;  // capacity = family history_points, allocated on first use
  std::size_t head = 0;     // next write position
  std::size_t size = 0;
};

namespace detail {

void counter_add(Registry* registry, std::uint32_t slot, std::uint64_t n) noexcept {
  if (registry == nullptr) return;
  if (Shard* s = own_shard(registry)) {
    local_add(s->cell(slot), n);
  } else {
    registry->shared_->cell(slot).fetch_add(n, std::memory_order_relaxed);
  }
}

void gauge_set(Registry* registry, std::uint32_t slot, double value) noexcept {
  if (registry == nullptr) return;
  registry->shared_->cell(slot).store(as_bits(value), std::memory_order_relaxed);
}

void gauge_add(Registry* registry, std::uint32_t slot, double delta) noexcept {
  if (registry == nullptr) return;
  if (Shard* s = own_shard(registry)) {
    local_add(s->cell(slot), delta);
  } else {
    shared_add(registry->shared_->cell(slot), delta);
  }
}

void histogram_observe(Registry* registry, const FamilyInfo* family, std::uint32_t slot, double value) noexcept {
  if (registry == nullptr) return;
  const std::vector<double>& b = family->buckets;
  // le semantics: the first bound >= value; NaN and above-all land in +Inf.
  auto bucket = static_cast<std::uint32_t>(std::lower_bound(b.begin(), b.end(), value) - b.begin());
  if (std::isnan(value)) bucket = static_cast<std::uint32_t>(b.size());
  const auto sum_slot = slot + static_cast<std::uint32_t>(b.size()) + 1;
  if (Shard* s = own_shard(registry)) {
    local_add(s->cell(slot + bucket), std::uint64_t{1});
    local_add(s->cell(sum_slot), value);
  } else {
    registry->shared_->cell(slot + bucket).fetch_add(1, std::memory_order_relaxed);
    shared_add(registry->shared_->cell(sum_slot), value);
  }
}

}  // namespace detail

std::size_t Snapshot::series_count() const {
  std::size_t n = 0;
  for (const FamilySnapshot& f : families) n += f.series.size();
  return n;
}

Registry::Registry(RegistryOptions options) : options_(options), shared_(std::make_unique<Shard>(this)) {}

Registry::~Registry() = default;

FamilyInfo* Registry::make_family(MetricType type, const FamilySpec& spec) {
  validate(type, spec);
  std::lock_guard lock(mutex_);
  std::size_t history = type == MetricType::histogram ? 0 : spec.history_points.value_or(options_.history_points);
  if (auto it = family_by_name_.find(spec.name); it != family_by_name_.end()) {
    const FamilyInfo& f = *it->second;
    if (f.type == type && f.help == spec.help && f.unit == spec.unit && f.labels == spec.labels &&
        f.group == spec.group && f.scale == spec.scale && f.buckets == spec.buckets && f.history_points == history)
      return it->second;
    bad(spec.name, "already registered with a different type, help, unit, labels, group, scale or buckets");
  }
  // "x" and "x_total" (a counter) would export the same sample name.
  std::string exposition = type == MetricType::counter ? spec.name + "_total" : spec.name;
  for (const FamilyInfo& f : families_) {
    if (f.exposition_name == exposition) bad(spec.name, fmt::format("clashes with family '{}' on export", f.name));
  }
  FamilyInfo& f = families_.emplace_back(FamilyInfo{
      .type = type,
      .name = spec.name,
      .help = spec.help,
      .unit = spec.unit,
      .labels = spec.labels,
      .group = spec.group,
      .scale = spec.scale,
      .buckets = spec.buckets,
      .history_points = history,
      .exposition_name = std::move(exposition),
      .series = {},
  });
  family_by_name_.emplace(f.name, &f);
  return &f;
}

CounterFamily Registry::counter_family(const FamilySpec& spec) {
  return CounterFamily(this, make_family(MetricType::counter, spec));
}
GaugeFamily Registry::gauge_family(const FamilySpec& spec) {
  return GaugeFamily(this, make_family(MetricType::gauge, spec));
}
HistogramFamily Registry::histogram_family(const FamilySpec& spec) {
  return HistogramFamily(this, make_family(MetricType::histogram, spec));
}

std::uint32_t Registry::allocate_slots(std::uint32_t count) {
  if ((next_slot_ & (kChunkSlots - 1)) + count > kChunkSlots) {
    next_slot_ = (next_slot_ + kChunkSlots - 1) & ~(kChunkSlots - 1);
  }
  std::uint32_t first = next_slot_;
  std::uint32_t chunks = ((first + count - 1) >> kChunkShift) + 1;
  if (chunks > kMaxChunks) throw std::length_error("telemetry registry: out of metric slots");
  next_slot_ += count;
  shared_->ensure(chunks);
  for (auto& s : shards_) s->ensure(chunks);
  return first;
}

Registry::SeriesState& Registry::make_series(FamilyInfo* family, std::span<const std::string_view> values,
                                              std::function<double()> callback) {
  if (values.size() != family->labels.size()) {
    bad(family->name, fmt::format("{} label values given for {} label names", values.size(), family->labels.size()));
  }
  std::string key = series_key(family->name, values);
  std::lock_guard lock(mutex_);
  if (auto it = series_by_key_.find(key); it != series_by_key_.end()) {
    SeriesState& existing = series_[it->second];
    if (static_cast<bool>(callback) != static_cast<bool>(existing.info.callback)) {
      bad(family->name, "series exists with a different kind (callback or handle)");
    }
    return existing;
  }
  std::uint32_t slots = family->type == MetricType::histogram ? static_cast<std::uint32_t>(family->buckets.size()) + 2 : 1;
  std::uint32_t slot = callback ? 0 : allocate_slots(slots);
  auto id = static_cast<SeriesId>(series_.size());
  std::string text;
  if (!values.empty()) {
    text.push_back('{');
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i > 0) text.push_back(',');
      text.append(family->labels[i]);
      text.append("=\"");
      append_escaped_label_value(text, values[i]);
      text.push_back('"');
    }
    text.push_back('}');
  }
  SeriesState& s = series_.emplace_back(SeriesState{
      .info = SeriesInfo{.family = family,
                         .id = id,
                         .label_values = std::vector<std::string>(values.begin(), values.end()),
                         .text_labels = std::move(text),
                         .slot = slot,
                         .callback = std::move(callback)},
  });
  series_by_key_.emplace(std::move(key), id);
  family->series.push_back(&s.info);
  return s;
}

Counter CounterFamily::series(std::span<const std::string_view> values) const {
  auto& s = registry_->make_series(family_, values, {});
  return Counter(registry_, s.info.slot, s.info.id);
}
SeriesId CounterFamily::callback(std::initializer_list<std::string_view> values, std::function<double()> read) const {
  if (!read) bad(family_->name, "empty callback");
  return registry_->make_series(family_, std::span(values.begin(), values.size()), std::move(read)).info.id;
}
Gauge GaugeFamily::series(std::span<const std::string_view> values) const {
  auto& s = registry_->make_series(family_, values, {});
  return Gauge(registry_, s.info.slot, s.info.id);
}
SeriesId GaugeFamily::callback(std::initializer_list<std::string_view> values, std::function<double()> read) const {
  if (!read) bad(family_->name, "empty callback");
  return registry_->make_series(family_, std::span(values.begin(), values.size()), std::move(read)).info.id;
}
Histogram HistogramFamily::series(std::span<const std::string_view> values) const {
  auto& s = registry_->make_series(family_, values, {});
  return Histogram(registry_, family_, s.info.slot, s.info.id);
}

std::uint64_t Registry::sum_u64(std::uint32_t slot) const {
  std::uint64_t v = shared_->cell(slot).load(std::memory_order_relaxed);
  for (const auto& s : shards_) v += s->cell(slot).load(std::memory_order_relaxed);
  return v;
}

double Registry::sum_double(std::uint32_t slot) const {
  double v = as_double(shared_->cell(slot).load(std::memory_order_relaxed));
  for (const auto& s : shards_) v += as_double(s->cell(slot).load(std::memory_order_relaxed));
  return v;
}

Snapshot Registry::collect(std::int64_t timestamp_ms, std::span<const std::string> groups) const {
  Snapshot snap;
  snap.timestamp_ms = timestamp_ms;
  std::lock_guard lock(mutex_);
  snap.families.reserve(families_.size());
  for (const FamilyInfo& f : families_) {
    if (!groups.empty() && std::find(groups.begin(), groups.end(), f.group) == groups.end()) continue;
    FamilySnapshot& fs = snap.families.emplace_back(FamilySnapshot{.family = &f, .series = {}});
    fs.series.reserve(f.series.size());
    for (const SeriesInfo* s : f.series) {
      SeriesValue& v = fs.series.emplace_back(SeriesValue{.series = s, .value = 0, .histogram = {}});
      switch (f.type) {
        case MetricType::counter:
          v.value = s->callback ? s->callback() * f.scale : static_cast<double>(sum_u64(s->slot)) * f.scale;
          break;
        case MetricType::gauge:
          v.value = s->callback ? s->callback() : sum_double(s->slot);
          break;
        case MetricType::histogram: {
          const std::size_t n = f.buckets.size() + 1;
          v.histogram.cumulative.resize(n);
          std::uint64_t running = 0;
          for (std::size_t i = 0; i < n; ++i) {
            running += sum_u64(s->slot + static_cast<std::uint32_t>(i));
            v.histogram.cumulative[i] = running;
          }
          v.histogram.count = running;
          v.histogram.sum = sum_double(s->slot + static_cast<std::uint32_t>(n));
          break;
        }
      }
    }
  }
  return snap;
}

void Registry::record_history(const Snapshot& snapshot) {
  std::lock_guard lock(mutex_);
  for (const FamilySnapshot& fs : snapshot.families) {
    const std::size_t cap = fs.family->history_points;
    if (cap == 0) continue;
    for (const SeriesValue& v : fs.series) {
      SeriesState& s = series_[v.series->id];
      if (s.ring.empty()) s.ring.resize(cap);
      s.ring[s.head] = Point{snapshot.timestamp_ms, v.value};
      s.head = (s.head + 1) % cap;
      s.size = std::min(s.size + 1, cap);
    }
  }
}

std::vector<Point> Registry::history(SeriesId series, std::int64_t since_ms) const {
  std::vector<Point> out;
  std::lock_guard lock(mutex_);
  if (series >= series_.size()) return out;
  const SeriesState& s = series_[series];
  const std::size_t cap = s.ring.size();
  out.reserve(s.size);
  for (std::size_t i = 0; i < s.size; ++i) {
    const Point& p = s.ring[(s.head + cap - s.size + i) % cap];
    if (p.timestamp_ms >= since_ms) out.push_back(p);
  }
  return out;
}

std::optional<SeriesId> Registry::find(std::string_view family, std::span<const std::string_view> values) const {
  std::string key = series_key(family, values);
  std::lock_guard lock(mutex_);
  if (auto it = series_by_key_.find(key); it != series_by_key_.end()) return it->second;
  return std::nullopt;
}

const SeriesInfo* Registry::series_info(SeriesId id) const {
  std::lock_guard lock(mutex_);
  return id < series_.size() ? &series_[id].info : nullptr;
}

std::size_t Registry::series_count() const {
  std::lock_guard lock(mutex_);
  return series_.size();
}

std::size_t Registry::family_count() const {
  std::lock_guard lock(mutex_);
  return families_.size();
}

std::size_t Registry::shard_count() const {
  std::lock_guard lock(mutex_);
  return shards_.size();
}

Shard* Registry::attach_shard() {
  std::lock_guard lock(mutex_);
  for (auto& s : shards_) {
    if (!s->in_use) {
      s->in_use = true;
      return s.get();
    }
  }
  auto& s = shards_.emplace_back(std::make_unique<Shard>(this));
  s->ensure(next_slot_ == 0 ? 0 : ((next_slot_ - 1) >> kChunkShift) + 1);
  s->in_use = true;
  return s.get();
}

void Registry::detach_shard(Shard* shard) {
  std::lock_guard lock(mutex_);
  shard->in_use = false;
}

ThreadScope::ThreadScope(Registry& registry)
    : registry_(registry), shard_(registry.attach_shard()), previous_(tls_shard) {
  tls_shard = shard_;
}

ThreadScope::~ThreadScope() {
  tls_shard = previous_;
  registry_.detach_shard(shard_);
}

}  // namespace railyard::telemetry
