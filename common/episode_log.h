#pragma once
// A problem counted per kind and logged once per episode: a line when a kind
// first shows up, nothing while it persists, and a line when it has been gone
// for `quiet_cycles` checks in a row (so a flapping problem does not log every
// time either). Pure: the caller passes the time, checks each kind once per
// cycle, and does the logging. Used by the Redfish client (per issue) and the
// fabric (per peer and refusal reason).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace railyard {

template <class Kind>
class EpisodeLog {
 public:
  using Clock = std::chrono::steady_clock;

  struct Ended {
    Kind kind;
    std::uint64_t occurrences;  ///< in this episode
    Clock::duration length;     ///< first occurrence to the clearing
  };

  /// `kinds`: how many (kinds are 0 .. kinds-1 as size_t); `quiet_cycles`:
  /// how many consecutive clean cycles end an episode.
  EpisodeLog(std::size_t kinds, unsigned quiet_cycles)
      : quiet_cycles_(quiet_cycles == 0 ? 1 : quiet_cycles), states_(kinds) {}

  /// One occurrence (or `n`). True when it starts an episode: log it then.
  bool occurred(Kind kind, Clock::time_point now, std::uint64_t n = 1) {
    if (n == 0) return false;
    State& s = at(kind);
    s.total += n;
    s.quiet = 0;
    if (s.active) {
      s.in_episode += n;
      return false;
    }
    s.active = true;
    s.in_episode = n;
    s.since = now;
    ++s.episodes;
    return true;
  }

  /// A cycle passed without the kind. The episode it ends, after
  /// `quiet_cycles` such calls in a row.
  std::optional<Ended> clean(Kind kind, Clock::time_point now) {
    State& s = at(kind);
    if (!s.active) return std::nullopt;
    if (++s.quiet < quiet_cycles_) return std::nullopt;
    s.active = false;
    s.quiet = 0;
    return Ended{kind, s.in_episode, now - s.since};
  }

  bool active(Kind kind) const { return at(kind).active; }
  /// Occurrences ever.
  std::uint64_t count(Kind kind) const { return at(kind).total; }
  /// Episodes started ever (= lines logged for it).
  std::uint64_t episodes(Kind kind) const { return at(kind).episodes; }

 private:
  struct State {
    bool active = false;
    unsigned quiet = 0;
    std::uint64_t in_episode = 0;
    std::uint64_t total = 0;
    std::uint64_t episodes = 0;
    Clock::time_point since{};
  };
  State& at(Kind kind) { return states_[static_cast<std::size_t>(kind)]; }
  const State& at(Kind kind) const { return states_[static_cast<std::size_t>(kind)]; }

  unsigned quiet_cycles_;
  std::vector<State> states_;
};

}  // namespace railyard
