#include "drivers/bmc/redfish/episodes.h"

namespace railyard::redfish {

namespace {
constexpr std::array<std::string_view, kIssueCount> kIssueNames{
    "timeout",         "connect",          "tls",        "http_5xx",      "unavailable", "http_4xx",
    "unauthorized",    "auth_loop",        "login_failed", "malformed_json", "missing_property", "wrong_type",
    "unit_mismatch",   "id_mismatch",      "too_large",  "sse",
};
}  // namespace

std::string_view to_string(Issue issue) { return kIssueNames[static_cast<std::size_t>(issue)]; }

Issue issue_for(ProblemKind kind) {
  switch (kind) {
    case ProblemKind::malformed_json: return Issue::malformed_json;
    case ProblemKind::missing_property: return Issue::missing_property;
    case ProblemKind::wrong_type: return Issue::wrong_type;
    case ProblemKind::unit_mismatch: return Issue::unit_mismatch;
    case ProblemKind::id_mismatch: return Issue::id_mismatch;
  }
  return Issue::malformed_json;
}

bool EpisodeLog::occurred(Issue issue, Clock::time_point now, std::uint64_t n) {
  if (n == 0) return false;
  State& s = at(issue);
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

std::optional<EpisodeLog::Ended> EpisodeLog::clean(Issue issue, Clock::time_point now) {
  State& s = at(issue);
  if (!s.active) return std::nullopt;
  if (++s.quiet < quiet_cycles_) return std::nullopt;
  s.active = false;
  s.quiet = 0;
  return Ended{issue, s.in_episode, now - s.since};
}

}  // namespace railyard::redfish
