#pragma once
// What went wrong talking to a BMC, counted per kind and logged once per
// episode: a line when a kind of problem first shows up, nothing while it
// persists, and a line when it has been gone for a few clean sweeps
// (so a flapping problem does not log every poll either). Pure: the caller
// passes the time and does the logging.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "drivers/bmc/redfish/resource.h"

namespace railyard::redfish {

enum class Issue : std::uint8_t {
  timeout,         ///< no complete answer within the request timeout (hung or slow BMC)
  connect,         ///< could not connect, resolve, or the connection broke
  tls,             ///< certificate not verified, handshake failed
  http_5xx,        ///< 500 and the like
  unavailable,     ///< 503 (with or without Retry-After)
  http_4xx,        ///< 404 and other client errors (except 401)
  unauthorized,    ///< 401 on a request (session expired; re-login follows)
  auth_loop,       ///< 401s keep coming right after fresh logins
  login_failed,    ///< the session or Basic credentials were refused
  malformed_json,  ///< not JSON, truncated, too deep
  missing_property,
  wrong_type,
  unit_mismatch,
  id_mismatch,
  too_large,       ///< a response over the size limit
  sse,             ///< the event stream failed or closed
};
inline constexpr std::size_t kIssueCount = static_cast<std::size_t>(Issue::sse) + 1;
std::string_view to_string(Issue issue);
Issue issue_for(ProblemKind kind);

class EpisodeLog {
 public:
  using Clock = std::chrono::steady_clock;

  struct Ended {
    Issue issue;
    std::uint64_t occurrences;  ///< in this episode
    Clock::duration length;     ///< first occurrence to the clearing
  };

  /// `quiet_cycles`: how many consecutive clean cycles end an episode.
  explicit EpisodeLog(unsigned quiet_cycles = 2) : quiet_cycles_(quiet_cycles == 0 ? 1 : quiet_cycles) {}

  /// One occurrence (or `n`). True when it starts an episode: log it then.
  bool occurred(Issue issue, Clock::time_point now, std::uint64_t n = 1);
  /// A cycle (a sweep, a stream connection) passed without the issue. The
  /// episode it ends, after `quiet_cycles` such calls in a row.
  std::optional<Ended> clean(Issue issue, Clock::time_point now);

  bool active(Issue issue) const { return at(issue).active; }
  /// Occurrences ever.
  std::uint64_t count(Issue issue) const { return at(issue).total; }
  /// Episodes started ever (= lines logged for it).
  std::uint64_t episodes(Issue issue) const { return at(issue).episodes; }

 private:
  struct State {
    bool active = false;
    unsigned quiet = 0;
    std::uint64_t in_episode = 0;
    std::uint64_t total = 0;
    std::uint64_t episodes = 0;
    Clock::time_point since{};
  };
  State& at(Issue issue) { return states_[static_cast<std::size_t>(issue)]; }
  const State& at(Issue issue) const { return states_[static_cast<std::size_t>(issue)]; }

  unsigned quiet_cycles_;
  std::array<State, kIssueCount> states_{};
};

}  // namespace railyard::redfish
