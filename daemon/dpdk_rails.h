#pragma once
// The daemon's DPDK rails: the EAL, started once with the first DPDK rail,
// and the rails opened on it. Built from dpdk_rails.cc with DPDK, or
// dpdk_rails_absent.cc in a build without it (where the configuration
// already refuses driver = "dpdk").

#include <memory>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "drivers/nic/dpdk/dpdk_config.h"
#include "drivers/nic/rail.h"
#include "railyard/v1/control.pb.h"

namespace railyard::nic {
class LinkMonitor;
}

namespace railyard::daemon {

class DpdkRails {
 public:
  /// `file_prefix`: the EAL's, unique per daemon (config::dpdk_file_prefix).
  DpdkRails(config::DpdkSection eal, std::string file_prefix);
  ~DpdkRails();

  /// Opens a DPDK rail (starting the EAL first if needed). Throws
  /// std::runtime_error naming the rail, the port and the fix.
  std::unique_ptr<nic::Rail> open(const config::RailConfig& rail, uint16_t udp_port, std::vector<nic::DpdkPeer> peers,
                                  nic::LinkMonitor* links);

  /// Called once on the data-plane thread before it touches a DPDK rail.
  static void register_thread();

  /// For `railctl rails`: the port's PMD and MAC, and the driver's extended
  /// statistics that are worth a look (errors, misses, good packets/bytes).
  void describe(const std::string& rail, v1::RailStatus& out) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace railyard::daemon
