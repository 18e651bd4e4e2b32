#pragma once
// A signal's recent history and its robust trend.
//
// History is a bounded ring of points; samples from a fast sensor that fall
// within `bucket_ms` of the open point are averaged into it, so a 100 ms GPU
// sensor and a 10 s BMC sensor both give a few dozen points per window and the
// cost of the slope is bounded (O(n²) pairs, n ≤ capacity).
//
// The slope is Theil–Sen: the median of the slopes of all pairs of points.
// It ignores up to ~29 % of outliers (a spike, a stuck reading), needs no
// tuning, and on quantised readings (1 °C steps) it still finds a slow ramp
// once the window spans a few steps.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "policy/signal.h"

namespace railyard::policy {

struct Point {
  TimeMs t_ms = 0;  ///< mean time of the samples in the point
  double value = 0.0;
};

class Series {
 public:
  Series() : Series(3, 0) {}
  Series(std::size_t capacity, TimeMs bucket_ms);

  /// Adds a sample. A sample older than the newest one is refused (false):
  /// the policy counts it and goes on.
  bool add(TimeMs t_ms, double value);

  std::size_t size() const { return count_; }
  /// i = 0 is the oldest point kept.
  const Point& at(std::size_t i) const { return ring_[(head_ + i) % ring_.size()]; }
  const Point& newest() const { return at(count_ - 1); }
  bool empty() const { return count_ == 0; }
  /// Time and value of the latest raw sample (not averaged).
  TimeMs last_sample_ms() const { return last_t_; }
  double last_sample() const { return last_v_; }

 private:
  std::vector<Point> ring_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  TimeMs bucket_ms_;
  TimeMs bucket_start_ = 0;
  double sum_t_ = 0.0;
  double sum_v_ = 0.0;
  std::size_t n_ = 0;
  TimeMs last_t_ = 0;
  double last_v_ = 0.0;
};

struct Trend {
  bool valid = false;        ///< enough points for a slope
  double slope_per_s = 0.0;  ///< Theil–Sen slope, value units per second
  double level = 0.0;        ///< median of the newest three points (robust "now")
  std::size_t points = 0;    ///< points the slope used
  double scatter = 0.0;      ///< robust σ of the points around the line
};

/// Median of the newest min(3, size) points; the series must not be empty.
double robust_level(const Series& series);

/// Theil–Sen slope over the points at or after `from_ms`. `scratch` is
/// reused between calls so an evaluation does not allocate once warm.
struct TrendParams {
  std::size_t min_points = 5;
  TimeMs min_span_ms = 0;
  double min_rise = 0.0;
  double significance = 4.0;
};

/// Needs `min_points` spanning `min_span_ms`; a slope whose rise over the
/// span is under `min_rise`, or under `significance` standard errors, is
/// reported as 0 (flat): noise is not a trend. The newest half, quarter...
/// of the points (while they have `min_points` spanning `min_span_ms`) are
/// fitted too, and the steepest significant rise wins: a ramp that began a
/// few points ago is not outvoted by the flat history before it.
Trend estimate_trend(const Series& series, TimeMs from_ms, const TrendParams& params, std::vector<double>& scratch);

/// Time in seconds until `level + slope·t` reaches `limit`: 0 when already at
/// or over it, +inf when not rising.
double linear_time_to_limit(double level, double slope_per_s, double limit);

}  // namespace railyard::policy
