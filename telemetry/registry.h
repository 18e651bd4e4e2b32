#pragma once
// The metric registry: typed metric families (counter, gauge, histogram) with
// labels, series created on the control plane, updated from any thread
// through small handles.
//
// Hot-path updates never lock, allocate or make a system call. A thread that
// updates often (a data-plane thread) opens a ThreadScope once; from then on
// its updates go to its own cache-line-aligned slot arrays with a plain
// relaxed load and store (no atomic read-modify-write, no shared cache line).
// Updates from threads without a scope go to shared cells with atomic
// read-modify-write: still lock-free, fine for the control plane. The
// collector (control thread) sums the shared cells and every thread's slots.
//
// Series are never removed, so handles, SeriesInfo pointers and snapshots
// stay valid for the registry's life.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace railyard::telemetry {

enum class MetricType : std::uint8_t { counter, gauge, histogram };
std::string_view to_string(MetricType type);

/// Base units (Prometheus conventions); a family with a unit must carry it as
/// its name's suffix ("railyard_rail_tx_bytes", "railyard_bmc_power_watts").
enum class Unit : std::uint8_t {
  none,
  seconds,
  bytes,
  celsius,
  watts,
  joules,
  volts,
  amperes,
  hertz,
  pascals,
  ratio,  ///< 0..1, never percent
  rpm,
  cubic_meters_per_second,
};
/// The name suffix without the underscore ("seconds"); "" for none.
std::string_view suffix(Unit unit);

/// The label names railyard uses everywhere; families may add free-form ones.
namespace label {
inline constexpr std::string_view host = "host";
inline constexpr std::string_view rail = "rail";
inline constexpr std::string_view peer = "peer";
inline constexpr std::string_view klass = "class";
inline constexpr std::string_view sensor = "sensor";
inline constexpr std::string_view chassis = "chassis";
}  // namespace label

/// Describes a family. Name rules are checked when the family is created.
struct FamilySpec {
  /// [a-zA-Z_:][a-zA-Z0-9_:]*, ends with "_<unit>" when unit is set, and
  /// never with _total/_count/_sum/_bucket (counters get "_total" on export).
  std::string name;
  std::string help;
  Unit unit = Unit::none;
  std::vector<std::string> labels;
  /// Sampling group: a Sampler collects the groups it is given.
  std::string group = "default";
  /// Counters only: exported value = raw integer count * scale, so a hot path
  /// can count integer nanoseconds and export seconds (scale 1e-9).
  double scale = 1.0;
  /// Histograms only: finite upper bounds, strictly increasing, at most
  /// kMaxBuckets; "+Inf" is implicit.
  std::vector<double> buckets;
  /// Points of history kept per series; unset: RegistryOptions::history_points.
  /// Histograms keep none.
  std::optional<std::size_t> history_points;
};

inline constexpr std::size_t kMaxBuckets = 64;

struct RegistryOptions {
  /// Default history ring size per counter/gauge series (points).
  std::size_t history_points = 0;
};

using SeriesId = std::uint32_t;

struct FamilyInfo;

/// One series, immutable after creation (except its history, which the
/// registry guards).
struct SeriesInfo {
  const FamilyInfo* family;
  SeriesId id;
  std::vector<std::string> label_values;
  /// `{host="a",rail="r0"}`, values escaped for the text format; "" without labels.
  std::string text_labels;
  std::uint32_t slot;  ///< first slot; histograms: buckets..., +Inf, sum
  std::function<double()> callback;  ///< set for callback series
};

struct FamilyInfo {
  MetricType type;
  std::string name;
  std::string help;
  Unit unit;
  std::vector<std::string> labels;
  std::string group;
  double scale;
  std::vector<double> buckets;
  std::size_t history_points;
  /// Name of the exported sample: counters "<name>_total", else "<name>".
  std::string exposition_name;
  std::vector<const SeriesInfo*> series;  ///< creation order
};

class Registry;
class Shard;

namespace detail {
/// Adds to a counter slot: the calling thread's own shard when it has a
/// ThreadScope on `registry`, else the shared cells (atomic RMW).
void counter_add(Registry* registry, std::uint32_t slot, std::uint64_t n) noexcept;
void gauge_set(Registry* registry, std::uint32_t slot, double value) noexcept;
void gauge_add(Registry* registry, std::uint32_t slot, double delta) noexcept;
void histogram_observe(Registry* registry, const FamilyInfo* family, std::uint32_t slot, double value) noexcept;
}  // namespace detail

/// Handle to a counter series. Cheap to copy; valid while the registry lives.
class Counter {
 public:
  Counter() = default;
  void inc(std::uint64_t n = 1) const noexcept { detail::counter_add(registry_, slot_, n); }
  SeriesId id() const { return id_; }
  bool valid() const { return registry_ != nullptr; }

 private:
  friend class CounterFamily;
  Counter(Registry* r, std::uint32_t slot, SeriesId id) : registry_(r), slot_(slot), id_(id) {}
  Registry* registry_ = nullptr;
  std::uint32_t slot_ = 0;
  SeriesId id_ = 0;
};

/// Handle to a gauge series. Use set() or add(), not both on one series:
/// the value is the last set() plus the sum of every add().
class Gauge {
 public:
  Gauge() = default;
  void set(double v) const noexcept { detail::gauge_set(registry_, slot_, v); }
  void add(double d) const noexcept { detail::gauge_add(registry_, slot_, d); }
  SeriesId id() const { return id_; }
  bool valid() const { return registry_ != nullptr; }

 private:
  friend class GaugeFamily;
  Gauge(Registry* r, std::uint32_t slot, SeriesId id) : registry_(r), slot_(slot), id_(id) {}
  Registry* registry_ = nullptr;
  std::uint32_t slot_ = 0;
  SeriesId id_ = 0;
};

/// Handle to a histogram series with the family's fixed buckets.
class Histogram {
 public:
  Histogram() = default;
  void observe(double v) const noexcept { detail::histogram_observe(registry_, family_, slot_, v); }
  SeriesId id() const { return id_; }
  bool valid() const { return registry_ != nullptr; }

 private:
  friend class HistogramFamily;
  Histogram(Registry* r, const FamilyInfo* f, std::uint32_t slot, SeriesId id)
      : registry_(r), family_(f), slot_(slot), id_(id) {}
  Registry* registry_ = nullptr;
  const FamilyInfo* family_ = nullptr;
  std::uint32_t slot_ = 0;
  SeriesId id_ = 0;
};

/// Family handles: create (or find) series by label values, in the order of
/// the family's label names.
class CounterFamily {
 public:
  CounterFamily() = default;
  Counter series(std::span<const std::string_view> values) const;
  Counter series(std::initializer_list<std::string_view> values) const {
    return series(std::span<const std::string_view>(values.begin(), values.size()));
  }
  /// A counter whose raw value is read by the collector (e.g. a driver's own
  /// count); it must not decrease. Callbacks run on the collecting thread
  /// with the registry locked: they must be quick and not use the registry.
  SeriesId callback(std::initializer_list<std::string_view> values, std::function<double()> read) const;
  const FamilyInfo& info() const { return *family_; }

 private:
  friend class Registry;
  CounterFamily(Registry* r, FamilyInfo* f) : registry_(r), family_(f) {}
  Registry* registry_ = nullptr;
  FamilyInfo* family_ = nullptr;
};

class GaugeFamily {
 public:
  GaugeFamily() = default;
  Gauge series(std::span<const std::string_view> values) const;
  Gauge series(std::initializer_list<std::string_view> values) const {
    return series(std::span<const std::string_view>(values.begin(), values.size()));
  }
  /// A gauge read by the collector at each collection (same rules as above).
  SeriesId callback(std::initializer_list<std::string_view> values, std::function<double()> read) const;
  const FamilyInfo& info() const { return *family_; }

 private:
  friend class Registry;
  GaugeFamily(Registry* r, FamilyInfo* f) : registry_(r), family_(f) {}
  Registry* registry_ = nullptr;
  FamilyInfo* family_ = nullptr;
};

class HistogramFamily {
 public:
  HistogramFamily() = default;
  Histogram series(std::span<const std::string_view> values) const;
  Histogram series(std::initializer_list<std::string_view> values) const {
    return series(std::span<const std::string_view>(values.begin(), values.size()));
  }
  const FamilyInfo& info() const { return *family_; }

 private:
  friend class Registry;
  HistogramFamily(Registry* r, FamilyInfo* f) : registry_(r), family_(f) {}
  Registry* registry_ = nullptr;
  FamilyInfo* family_ = nullptr;
};

/// A collected histogram: cumulative bucket counts (last is +Inf == count).
struct HistogramValue {
  std::vector<std::uint64_t> cumulative;
  double sum = 0;
  std::uint64_t count = 0;
};

struct SeriesValue {
  const SeriesInfo* series;
  double value = 0;      ///< counter (scaled) or gauge
  HistogramValue histogram;  ///< histograms only
};

struct FamilySnapshot {
  const FamilyInfo* family;
  std::vector<SeriesValue> series;
};

/// Values of every series of the collected groups at one instant.
/// Refers to the registry's metadata: must not outlive the registry.
struct Snapshot {
  std::int64_t timestamp_ms = 0;  ///< wall clock, ms since the epoch
  std::vector<FamilySnapshot> families;
  std::size_t series_count() const;
};

struct Point {
  std::int64_t timestamp_ms;
  double value;
  bool operator==(const Point&) const = default;
};

/// Owns families, series, per-thread slots and histories. Structure changes
/// (families, series, thread scopes) and collection take an internal mutex;
/// updates through handles never do.
class Registry {
 public:
  explicit Registry(RegistryOptions options = {});
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Create a family, or return the existing one with that name if its spec
  /// is identical. Throws std::invalid_argument naming the problem (bad name,
  /// unit suffix, label name, buckets, or a clash with an existing family).
  CounterFamily counter_family(const FamilySpec& spec);
  GaugeFamily gauge_family(const FamilySpec& spec);
  HistogramFamily histogram_family(const FamilySpec& spec);

  /// Collect the families of `groups` (empty: all) at `timestamp_ms`.
  Snapshot collect(std::int64_t timestamp_ms, std::span<const std::string> groups = {}) const;

  /// Append every counter/gauge value of `snapshot` to its series' history.
  void record_history(const Snapshot& snapshot);
  /// Points of a series' history with timestamp >= since_ms, oldest first.
  std::vector<Point> history(SeriesId series, std::int64_t since_ms = 0) const;

  /// The series `name{labels}` (label values in the family's order), if any.
  std::optional<SeriesId> find(std::string_view family, std::span<const std::string_view> values) const;
  std::optional<SeriesId> find(std::string_view family, std::initializer_list<std::string_view> values) const {
    return find(family, std::span<const std::string_view>(values.begin(), values.size()));
  }
  const SeriesInfo* series_info(SeriesId id) const;
  std::size_t series_count() const;
  std::size_t family_count() const;
  /// Threads that have (or had) a ThreadScope; their slots are reused.
  std::size_t shard_count() const;

 private:
  friend class ThreadScope;
  friend class CounterFamily;
  friend class GaugeFamily;
  friend class HistogramFamily;
  friend void detail::counter_add(Registry*, std::uint32_t, std::uint64_t) noexcept;
  friend void detail::gauge_set(Registry*, std::uint32_t, double) noexcept;
  friend void detail::gauge_add(Registry*, std::uint32_t, double) noexcept;
  friend void detail::histogram_observe(Registry*, const FamilyInfo*, std::uint32_t, double) noexcept;

  struct SeriesState;
  FamilyInfo* make_family(MetricType type, const FamilySpec& spec);
  SeriesState& make_series(FamilyInfo* family, std::span<const std::string_view> values,
                           std::function<double()> callback);
  std::uint32_t allocate_slots(std::uint32_t count);
  Shard* attach_shard();
  void detach_shard(Shard* shard);
  std::uint64_t sum_u64(std::uint32_t slot) const;
  double sum_double(std::uint32_t slot) const;

  RegistryOptions options_;
  mutable std::mutex mutex_;
  std::deque<FamilyInfo> families_;
  std::unordered_map<std::string, FamilyInfo*> family_by_name_;
  std::deque<SeriesState> series_;
  std::unordered_map<std::string, SeriesId> series_by_key_;
  std::uint32_t next_slot_ = 0;
  std::unique_ptr<Shard> shared_;  ///< cells for updates from threads without a scope
  std::vector<std::unique_ptr<Shard>> shards_;
};

/// Gives the calling thread its own slots in `registry` for as long as the
/// scope lives (open it at the start of a data-plane thread). One scope per
/// thread at a time. Opening and closing lock and allocate; updates in
/// between do not. Counts survive the scope (the slots are handed to the
/// next thread that opens one).
class ThreadScope {
 public:
  explicit ThreadScope(Registry& registry);
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  Registry& registry_;
  Shard* shard_;
  Shard* previous_;
};

}  // namespace railyard::telemetry
