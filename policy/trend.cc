#include "policy/trend.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace railyard::policy {

Series::Series(std::size_t capacity, TimeMs bucket_ms) : ring_(std::max<std::size_t>(capacity, 3)), bucket_ms_(bucket_ms) {}

bool Series::add(TimeMs t_ms, double value) {
  if (count_ > 0 && t_ms < last_t_) return false;
  last_t_ = t_ms;
  last_v_ = value;
  if (count_ > 0 && bucket_ms_ > 0 && t_ms - bucket_start_ < bucket_ms_) {
    sum_t_ += static_cast<double>(t_ms);
    sum_v_ += value;
    ++n_;
    Point& p = ring_[(head_ + count_ - 1) % ring_.size()];
    p.t_ms = static_cast<TimeMs>(sum_t_ / static_cast<double>(n_));
    p.value = sum_v_ / static_cast<double>(n_);
    return true;
  }
  bucket_start_ = t_ms;
  sum_t_ = static_cast<double>(t_ms);
  sum_v_ = value;
  n_ = 1;
  if (count_ == ring_.size()) {
    head_ = (head_ + 1) % ring_.size();
    --count_;
  }
  ring_[(head_ + count_) % ring_.size()] = Point{t_ms, value};
  ++count_;
  return true;
}

double robust_level(const Series& series) {
  const std::size_t n = series.size();
  if (n == 1) return series.at(0).value;
  if (n == 2) return 0.5 * (series.at(0).value + series.at(1).value);
  double a = series.at(n - 1).value, b = series.at(n - 2).value, c = series.at(n - 3).value;
  return std::max(std::min(a, b), std::min(std::max(a, b), c));
}

namespace {

// Theil–Sen over the points [first, size) with the noise tests.
Trend trend_over(const Series& series, std::size_t first, const TrendParams& params, std::vector<double>& scratch) {
  Trend out;
  out.level = robust_level(series);
  const std::size_t n = series.size() - first;
  out.points = n;
  if (n < std::max<std::size_t>(params.min_points, 3)) return out;
  const TimeMs span = series.newest().t_ms - series.at(first).t_ms;
  if (span < params.min_span_ms || span <= 0) return out;
  scratch.clear();
  for (std::size_t i = first; i < series.size(); ++i) {
    const Point& a = series.at(i);
    for (std::size_t j = i + 1; j < series.size(); ++j) {
      const Point& b = series.at(j);
      if (b.t_ms == a.t_ms) continue;
      scratch.push_back((b.value - a.value) * 1000.0 / static_cast<double>(b.t_ms - a.t_ms));
    }
  }
  if (scratch.empty()) return out;
  const std::size_t mid = scratch.size() / 2;
  std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(mid), scratch.end());
  double slope = scratch[mid];
  if (scratch.size() % 2 == 0) {
    const double lower = *std::max_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(mid));
    slope = 0.5 * (slope + lower);
  }
  // Scatter around the line: residuals' median absolute deviation.
  const TimeMs t0 = series.at(first).t_ms;
  scratch.clear();
  for (std::size_t i = first; i < series.size(); ++i) {
    const Point& p = series.at(i);
    scratch.push_back(p.value - slope * static_cast<double>(p.t_ms - t0) / 1000.0);
  }
  const std::size_t m = scratch.size() / 2;
  std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(m), scratch.end());
  const double centre = scratch[m];
  for (double& r : scratch) r = std::abs(r - centre);
  std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(m), scratch.end());
  const double sigma = 1.4826 * scratch[m];
  out.scatter = sigma;
  // Standard error of the rise over the span for n points spread evenly: σ·√(12/n).
  const double se_rise = sigma * std::sqrt(12.0 / static_cast<double>(n));
  const double rise = std::abs(slope) * static_cast<double>(span) / 1000.0;
  out.slope_per_s = (rise < params.min_rise || rise < params.significance * se_rise) ? 0.0 : slope;
  out.valid = true;
  return out;
}

}  // namespace

Trend estimate_trend(const Series& series, TimeMs from_ms, const TrendParams& params, std::vector<double>& scratch) {
  if (series.empty()) return {};
  std::size_t first = series.size();
  while (first > 0 && series.at(first - 1).t_ms >= from_ms) --first;
  Trend out = trend_over(series, first, params, scratch);
  if (!out.valid) return out;
  // The newest half, quarter... of the window, while they still have the
  // points and the span a slope needs: a rise that began a few points ago
  // is outvoted in the whole window by the flat history before it (Theil–Sen
  // needs ~30 % of the points on the ramp), not in a shorter one. The
  // steepest rise that passes the noise tests on its own points wins (a few
  // tests instead of one: the significance and min_rise floors keep noise
  // out, which the simulator's benign day checks).
  const std::size_t lo = std::max<std::size_t>(params.min_points, 3);
  for (std::size_t n = (series.size() - first) / 2; n >= lo; n /= 2) {
    const std::size_t start = series.size() - n;
    if (series.newest().t_ms - series.at(start).t_ms < std::max<TimeMs>(params.min_span_ms, 1)) break;
    const Trend t = trend_over(series, start, params, scratch);
    if (t.valid && t.slope_per_s > 0.0 && t.slope_per_s > out.slope_per_s) out = t;
  }
  return out;
}

double linear_time_to_limit(double level, double slope_per_s, double limit) {
  if (level >= limit) return 0.0;
  if (!(slope_per_s > 0.0)) return std::numeric_limits<double>::infinity();
  return (limit - level) / slope_per_s;
}

}  // namespace railyard::policy
