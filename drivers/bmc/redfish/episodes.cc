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

}  // namespace railyard::redfish
