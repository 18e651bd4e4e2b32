#pragma once
// A DMTF mockup directory served as it is, with the scenario on top: `set` and
// `ramp` changes rewrite the Reading of the named Sensors (and of every
// excerpt whose DataSourceUri names them), `leak` changes the DetectorState
// of the named LeakDetectors (and of LeakDetection groups pointing at them).
//
// Layouts: DIR/redfish/v1/<path>/index.json (DMTF's published mockups), or
// DIR/<path below /redfish/v1>/index.json (../shared/redfish-mockups/<name>).

#include <filesystem>
#include <map>
#include <string>

#include "tools/bmc-sim/scenario.h"
#include "tools/bmc-sim/source.h"

namespace railyard::bmcsim {

class MockupSource : public Source {
 public:
  /// Indexes the directory; throws std::runtime_error when it holds no mockup.
  MockupSource(const Timeline& timeline, const std::filesystem::path& dir, std::string sse_uri);

  std::optional<boost::json::value> get(std::string_view path, double t) const override;
  Samples samples(double t) const override;

  const std::filesystem::path& root() const { return root_; }
  /// Whether the service root advertises ProtocolFeaturesSupported.ExpandQuery.
  bool advertises_expand() const { return advertises_expand_; }
  std::size_t resources() const { return files_.size(); }

 private:
  struct SensorInfo {
    std::string name;
    std::string units;
    double reading = 0;
    Limits limits;
  };
  void rewrite(boost::json::value& v, double t, int depth) const;

  const Timeline& timeline_;
  std::filesystem::path root_;
  std::string sse_uri_;
  bool advertises_expand_ = false;
  std::map<std::string, std::filesystem::path, std::less<>> files_;  // URI -> index.json
  std::map<std::string, SensorInfo, std::less<>> sensors_;           // every Sensor, by URI
  std::map<std::string, std::string, std::less<>> detectors_;        // LeakDetector URI -> name
};

}  // namespace railyard::bmcsim
