#pragma once
// railyardd's control plane: one io_context on one thread owns the config,
// the control socket, signals and the systemd notifications.

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <chrono>
#include <string>

#include "daemon/bmc_service.h"
#include "daemon/config.h"
#include "daemon/control_server.h"
#include "daemon/control_service.h"
#include "daemon/fabric_service.h"
#include "daemon/migration_service.h"
#include "daemon/policy_service.h"
#include "daemon/region_table.h"
#include "daemon/systemd_notify.h"
#include "daemon/telemetry_service.h"
#include "daemon/workload_server.h"

namespace railyard::daemon {

struct Options {
  std::string config_path;  // --config; empty: the default path, or embedded defaults
};

class Daemon {
 public:
  Daemon(Options options, config::Located initial);

  /// Starts every module, serves until SIGTERM/SIGINT, stops them. Throws
  /// std::runtime_error (with what to fix) when start-up fails.
  void run();

 private:
  void start();
  void stop();
  void wait_for_signal();
  void on_signal(int signal);
  void reload();
  void apply_log_level() const;
  v1::StatusReply status() const;
  static ControlServer::Settings control_settings(const config::Config& c);
  static WorkloadServer::Settings workload_settings(const config::Config& c);
  ControlHandlers control_handlers();

  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  Options options_;
  config::Config config_;
  bool from_file_ = false;
  uint64_t config_generation_ = 1;
  uint64_t reloads_refused_ = 0;
  std::chrono::system_clock::time_point config_loaded_at_;
  const std::chrono::steady_clock::time_point started_at_;
  RegionTable regions_;
  std::unique_ptr<FabricService> fabric_;  // built in start(): opening rails can fail
  std::unique_ptr<WorkloadServer> workloads_;
  std::unique_ptr<MigrationService> migration_;  // after fabric_ and workloads_: uses both
  std::unique_ptr<TelemetryService> telemetry_;
  std::unique_ptr<BmcService> bmc_;  // absent without a [bmc] url
  std::unique_ptr<PolicyService> policy_;  // after bmc_ and telemetry_: uses both
  ControlService control_service_;
  ControlServer control_server_;
  Watchdog watchdog_;
};

}  // namespace railyard::daemon
