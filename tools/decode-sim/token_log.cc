#include "tools/decode-sim/token_log.h"

#include <algorithm>
#include <charconv>
#include <fstream>

#include <fmt/format.h>

#include "tools/decode-sim/determinism.h"

namespace railyard::decode_sim {
namespace {

template <class T>
bool parse_number(std::string_view text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Splits on single spaces; false unless there are exactly `n` fields.
bool split_fields(std::string_view line, std::string_view* fields, size_t n) {
  size_t found = 0;
  while (!line.empty()) {
    const size_t space = line.find(' ');
    if (found == n) return false;
    fields[found++] = line.substr(0, space);
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  return found == n;
}

std::string milliseconds(int64_t ns) { return fmt::format("{:.3f} ms", static_cast<double>(ns) / 1e6); }

}  // namespace

std::string token_line(uint64_t sequence, uint64_t index, uint64_t token, std::string_view host, int64_t unix_ns) {
  return fmt::format("{} {} {} {} {}\n", sequence, index, token, host, unix_ns);
}

void LogChecker::add_line(std::string_view line, const std::string& where) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return;
  std::string_view f[5];
  uint64_t sequence = 0;
  Entry e;
  if (!split_fields(line, f, 5) || !parse_number(f[0], sequence) || !parse_number(f[1], e.index) ||
      !parse_number(f[2], e.token) || f[3].empty() || !parse_number(f[4], e.unix_ns)) {
    malformed_.push_back(fmt::format("{}: not `seq_id index token host unix_ns`: {}", where, line));
    return;
  }
  e.host = f[3];
  e.where = where;
  by_sequence_[sequence].push_back(std::move(e));
}

LogReport LogChecker::finish() const {
  LogReport r;
  r.malformed_lines = malformed_.size();
  r.problems = malformed_;
  for (const auto& [sequence, logged] : by_sequence_) {
    ++r.sequences;
    r.tokens += logged.size();
    std::vector<const Entry*> entries;
    for (const auto& e : logged) entries.push_back(&e);
    std::stable_sort(entries.begin(), entries.end(),
                     [](const Entry* a, const Entry* b) { return a->index < b->index; });
    // Walk the chain alongside the sorted indices: one pass from token 0.
    uint64_t chain_index = 0, chain = next_token(sequence, 0, kChainStart);
    const Entry* previous = nullptr;
    for (const Entry* e : entries) {
      if (previous != nullptr && e->index == previous->index) {
        ++r.repeats;
        r.problems.push_back(fmt::format("sequence {}: token {} logged again at {} (first at {})", sequence, e->index,
                                         e->where, previous->where));
        continue;
      }
      if (previous != nullptr && e->index != previous->index + 1) {
        ++r.gaps;
        r.problems.push_back(fmt::format("sequence {}: tokens {}..{} are missing (between {} and {})", sequence,
                                         previous->index + 1, e->index - 1, previous->where, e->where));
      }
      while (chain_index < e->index) {
        ++chain_index;
        chain = next_token(sequence, chain_index, chain);
      }
      if (e->token != chain) {
        ++r.wrong_tokens;
        r.problems.push_back(fmt::format("sequence {}: token {} is {} at {}, the chain gives {}", sequence, e->index,
                                         e->token, e->where, chain));
      }
      if (previous != nullptr && e->host != previous->host)
        r.handoffs.push_back(Handoff{.sequence = sequence,
                                     .index = e->index,
                                     .from = previous->host,
                                     .to = e->host,
                                     .downtime_ns = e->unix_ns - previous->unix_ns});
      previous = e;
    }
  }
  return r;
}

int verify_logs(const std::vector<std::string>& paths, std::FILE* out, std::FILE* err) {
  LogChecker checker;
  for (const auto& path : paths) {
    std::ifstream in(path);
    if (!in) {
      fmt::print(err, "decode-sim: cannot read token log {}\n", path);
      return 1;
    }
    std::string line;
    for (uint64_t n = 1; std::getline(in, line); ++n) checker.add_line(line, fmt::format("{}:{}", path, n));
  }
  const LogReport r = checker.finish();
  constexpr size_t kProblemsShown = 50;
  for (size_t i = 0; i < r.problems.size() && i < kProblemsShown; ++i) fmt::print(err, "{}\n", r.problems[i]);
  if (r.problems.size() > kProblemsShown)
    fmt::print(err, "... and {} more problems\n", r.problems.size() - kProblemsShown);
  std::vector<int64_t> downtimes;
  for (const auto& h : r.handoffs) {
    fmt::print(out, "sequence {}: {} -> {} at token {}, downtime {}\n", h.sequence, h.from, h.to, h.index,
               milliseconds(h.downtime_ns));
    downtimes.push_back(h.downtime_ns);
  }
  std::sort(downtimes.begin(), downtimes.end());
  // p99 by the nearest-rank method: the smallest value at or above 99 % of them.
  const auto p99 = downtimes.empty() ? 0 : downtimes[(downtimes.size() * 99 + 99) / 100 - 1];
  fmt::print(out, "sequences {}, tokens {}, gaps {}, repeats {}, wrong tokens {}, malformed lines {}, handoffs {}",
             r.sequences, r.tokens, r.gaps, r.repeats, r.wrong_tokens, r.malformed_lines, r.handoffs.size());
  if (!downtimes.empty())
    fmt::print(out, ", downtime max {} p99 {}", milliseconds(downtimes.back()), milliseconds(p99));
  fmt::print(out, ": {}\n", r.ok() ? "ok" : "FAILED");
  return r.ok() ? 0 : 1;
}

}  // namespace railyard::decode_sim
