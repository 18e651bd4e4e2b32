#pragma once
// What went wrong talking to a BMC, counted per kind and logged once per
// episode (common/episode_log.h): a line when a kind of problem first shows
// up, nothing while it persists, and a line when it has been gone for a few
// clean sweeps.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "common/episode_log.h"
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

/// The client's problems, per issue (common/episode_log.h).
class EpisodeLog : public railyard::EpisodeLog<Issue> {
 public:
  explicit EpisodeLog(unsigned quiet_cycles = 2) : railyard::EpisodeLog<Issue>(kIssueCount, quiet_cycles) {}
};

}  // namespace railyard::redfish
