#pragma once
// A Redfish service backed by a DMTF mockup directory (each resource is
// <dir>/<path below /redfish/v1>/index.json), and the loop the HTTP client
// will run: discovery until nothing is pending, then one polling sweep.

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/bmc/redfish/discovery.h"
#include "drivers/bmc/redfish/extract.h"

namespace railyard::redfish::mock {

class MockupService {
 public:
  explicit MockupService(std::filesystem::path root) : root_(std::move(root)) {}

  /// The document at `uri`, nullopt for 404. With `expand`, a collection's
  /// members are inlined as a service honouring $expand=.($levels=1) would.
  std::optional<std::string> get(std::string_view uri, bool expand = false);

  /// Every URI requested, in order.
  const std::vector<std::string>& requests() const { return requests_; }
  /// The file a URI maps to ("/redfish/v1/Chassis" -> <root>/Chassis/index.json).
  std::filesystem::path file_for(std::string_view uri) const;

 private:
  std::filesystem::path root_;
  std::vector<std::string> requests_;
};

struct Walk {
  std::vector<PollTarget> targets;
  std::set<std::string> not_found;
  std::size_t gets = 0;
};

/// Runs discovery to completion against the service.
Walk discover(Discovery& discovery, MockupService& service, bool honour_expand = true);

/// One sweep: every target fetched, extracted, merged.
struct Sweep {
  std::vector<Reading> readings;
  Problems problems;
};
Sweep poll(const std::vector<PollTarget>& targets, MockupService& service, TimePoint now);

/// Reads a whole file ("" when missing).
std::string read_file(const std::filesystem::path& path);

}  // namespace railyard::redfish::mock
