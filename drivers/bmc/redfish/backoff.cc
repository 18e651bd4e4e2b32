#include "drivers/bmc/redfish/backoff.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <ctime>
#include <string>

namespace railyard::redfish {

Backoff::Backoff(BackoffPolicy policy, std::uint64_t seed) : policy_(policy), state_(seed) {
  if (policy_.initial.count() < 1) policy_.initial = std::chrono::milliseconds(1);
  if (policy_.max < policy_.initial) policy_.max = policy_.initial;
  if (policy_.multiplier < 1.0) policy_.multiplier = 1.0;
  policy_.jitter = std::clamp(policy_.jitter, 0.0, 1.0);
}

double Backoff::uniform() {
  // splitmix64: small, seedable, good enough to spread retries.
  std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

std::chrono::milliseconds Backoff::ceiling(unsigned failures) const {
  if (failures == 0) return std::chrono::milliseconds(0);
  const double d = static_cast<double>(policy_.initial.count()) *
                   std::pow(policy_.multiplier, static_cast<double>(std::min(failures - 1, 64u)));
  const double cap = static_cast<double>(policy_.max.count());
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(d, cap)));
}

std::chrono::milliseconds Backoff::next() {
  if (failures_ < 1000) ++failures_;
  const double d = static_cast<double>(ceiling(failures_).count());
  const double low = d * (1.0 - policy_.jitter);
  const auto ms = static_cast<std::int64_t>(low + (d - low) * uniform());
  return std::chrono::milliseconds(std::max<std::int64_t>(ms, 1));
}

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

int month_index(std::string_view m) {
  static constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (kMonths[static_cast<std::size_t>(i)] == m) return i;
  }
  return -1;
}

bool number(std::string_view s, int& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

// "08:49:37"
bool clock_time(std::string_view s, std::tm& tm) {
  if (s.size() != 8 || s[2] != ':' || s[5] != ':') return false;
  return number(s.substr(0, 2), tm.tm_hour) && number(s.substr(3, 2), tm.tm_min) && number(s.substr(6, 2), tm.tm_sec) &&
         tm.tm_hour < 24 && tm.tm_min < 60 && tm.tm_sec <= 60;
}

// Splits on spaces (runs of them count as one: asctime pads the day).
std::array<std::string_view, 6> words(std::string_view s, std::size_t& n) {
  std::array<std::string_view, 6> out{};
  n = 0;
  while (!s.empty()) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    if (s.empty()) break;
    const auto sp = s.find(' ');
    if (n == out.size()) {
      ++n;
      break;
    }
    out[n++] = s.substr(0, sp);
    s = sp == std::string_view::npos ? std::string_view{} : s.substr(sp);
  }
  return out;
}

std::optional<std::time_t> http_date(std::string_view s) {
  std::tm tm{};
  std::size_t n = 0;
  auto w = words(s, n);
  if (n == 6 && w[0].size() == 4 && w[0].back() == ',' && w[5] == "GMT") {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    tm.tm_mon = month_index(w[2]);
    if (!number(w[1], tm.tm_mday) || !number(w[3], tm.tm_year) || !clock_time(w[4], tm)) return std::nullopt;
    tm.tm_year -= 1900;
  } else if (n == 4 && w[0].back() == ',' && w[3] == "GMT") {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    const auto d = w[1];
    if (d.size() != 9 || d[2] != '-' || d[6] != '-') return std::nullopt;
    tm.tm_mon = month_index(d.substr(3, 3));
    if (!number(d.substr(0, 2), tm.tm_mday) || !number(d.substr(7, 2), tm.tm_year) || !clock_time(w[2], tm))
      return std::nullopt;
    if (tm.tm_year < 70) tm.tm_year += 100;  // two-digit years: RFC 9110 says interpret near now
  } else if (n == 5 && w[0].size() == 3) {
    // asctime: "Sun Nov  6 08:49:37 1994"
    tm.tm_mon = month_index(w[1]);
    if (!number(w[2], tm.tm_mday) || !clock_time(w[3], tm) || !number(w[4], tm.tm_year)) return std::nullopt;
    tm.tm_year -= 1900;
  } else {
    return std::nullopt;
  }
  if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31) return std::nullopt;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return t;
}

}  // namespace

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    std::uint64_t s = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), s);
    // An absurd number is still "later": saturate instead of refusing it.
    if (ec == std::errc::result_out_of_range || s > 86400ULL * 365) return std::chrono::seconds(86400LL * 365);
    if (ec != std::errc{} || p != value.data() + value.size()) return std::nullopt;
    return std::chrono::seconds(static_cast<std::int64_t>(s));
  }
  const auto t = http_date(value);
  if (!t) return std::nullopt;
  const auto at = std::chrono::system_clock::from_time_t(*t);
  if (at <= now) return std::chrono::seconds(0);
  return std::chrono::ceil<std::chrono::seconds>(at - now);
}

}  // namespace railyard::redfish
