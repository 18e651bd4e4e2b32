#pragma once
// The host's BMC in the daemon: the Redfish client on the control loop, its
// sensors in `railctl bmc` and in telemetry (one gauge series per sensor,
// created as discovery finds them), and leak/threshold events for the policy.

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "daemon/config.h"
#include "drivers/bmc/redfish/client.h"
#include "railyard/v1/control.pb.h"
#include "telemetry/registry.h"

namespace railyard::daemon {

class BmcService {
 public:
  /// Throws std::runtime_error (bad credentials file, URL) before READY.
  BmcService(boost::asio::io_context& io, telemetry::CurlMulti& curl, telemetry::Registry& registry,
             const config::Config& config);
  ~BmcService();

  /// Ends the session (DELETE) within a bounded time, then calls `done`.
  void stop(std::function<void()> done);

  v1::BmcReply reply() const;
  std::vector<redfish::SensorState> sensors() const { return client_.snapshot(); }
  void on_event(std::function<void(const redfish::BmcEvent&)> handler) { event_handlers_.push_back(std::move(handler)); }
  /// Called after each sweep, once sensors() holds its readings.
  void on_sweep(std::function<void()> handler) { sweep_handlers_.push_back(std::move(handler)); }

 private:
  void export_new_sensors();

  const std::string url_;
  const std::string host_;
  redfish::Client client_;
  telemetry::Registry& registry_;
  std::set<std::string> exported_;  // sensor ids already looked at (exported or not exportable)
  std::map<std::string, redfish::SensorState> latest_;  // refreshed after each sweep
  std::vector<std::function<void(const redfish::BmcEvent&)>> event_handlers_;
  std::vector<std::function<void()>> sweep_handlers_;
};

}  // namespace railyard::daemon
