#pragma once
// decode-sim's token log, one line per token: `seq_id index token host unix_ns`,
// and the checker that reads the logs of every host a run touched: per
// sequence, indices contiguous with no gap and no repeat across all logs,
// every token equal to the hash chain's value, and the downtime of each move
// from one host to another.

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace railyard::decode_sim {

/// One token-log line, with its newline.
std::string token_line(uint64_t sequence, uint64_t index, uint64_t token, std::string_view host, int64_t unix_ns);

/// A sequence's move between hosts, seen in the logs.
struct Handoff {
  uint64_t sequence = 0;
  uint64_t index = 0;  ///< the first token on the new host
  std::string from, to;
  int64_t downtime_ns = 0;  ///< first token on `to` minus last token on `from`
};

struct LogReport {
  uint64_t sequences = 0, tokens = 0, gaps = 0, repeats = 0, wrong_tokens = 0, malformed_lines = 0;
  std::vector<Handoff> handoffs;
  std::vector<std::string> problems;  ///< each with the sequence, index and where it was logged
  bool ok() const { return gaps == 0 && repeats == 0 && wrong_tokens == 0 && malformed_lines == 0; }
};

class LogChecker {
 public:
  /// Adds one line; `where` (file:line) names it in problems.
  void add_line(std::string_view line, const std::string& where);
  LogReport finish() const;

 private:
  struct Entry {
    uint64_t index = 0, token = 0;
    int64_t unix_ns = 0;
    std::string host, where;
  };
  std::map<uint64_t, std::vector<Entry>> by_sequence_;
  std::vector<std::string> malformed_;
};

/// Checks the token logs `paths` and prints each handoff and a summary to
/// `out`, problems to `err`; returns 0 when all is well, 1 otherwise.
int verify_logs(const std::vector<std::string>& paths, std::FILE* out, std::FILE* err);

}  // namespace railyard::decode_sim
