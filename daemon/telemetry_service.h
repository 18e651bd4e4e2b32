#pragma once
// Telemetry in the daemon: one metric registry fed by every module, the
// Prometheus endpoint, remote-write pushes, and the samplers that drive them,
// all on the control thread's io_context.

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "daemon/config.h"
#include "daemon/data_plane.h"
#include "daemon/verbs_plane.h"
#include "fabric/peer_channel.h"
#include "railyard/v1/control.pb.h"
#include "telemetry/curl_asio.h"
#include "telemetry/http_exporter.h"
#include "telemetry/registry.h"
#include "telemetry/remote_write.h"
#include "telemetry/sampler.h"

namespace railyard::daemon {

class FabricService;

class TelemetryService {
 public:
  TelemetryService(boost::asio::io_context& io, const config::Config& config);
  ~TelemetryService();

  telemetry::Registry& registry() { return registry_; }
  /// The shared libcurl multi (remote-write, Redfish).
  telemetry::CurlMulti& curl() { return curl_; }

  /// Exports the fabric's rails, peers, refusals and transfers.
  void watch_fabric(const FabricService& fabric, const std::vector<config::RailConfig>& rails,
                    const std::vector<config::PeerConfig>& peers);

  /// Binds the endpoint and starts pushing. Throws std::runtime_error saying what to fix.
  void start();
  void stop();

  /// The endpoint's port (0: none); useful when the config asked for port 0.
  uint16_t port() const;
  /// Current values for `railctl watch`.
  v1::WatchUpdate watch(const v1::WatchRequest& request) const;

 private:
  const config::TelemetrySection settings_;
  const std::string host_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  telemetry::Registry registry_;
  telemetry::CurlMulti curl_;
  std::unique_ptr<telemetry::HttpExporter> exporter_;
  std::unique_ptr<telemetry::RemoteWriter> writer_;
  telemetry::Sampler fast_;  // group "rails"
  telemetry::Sampler slow_;  // everything else
  const FabricService* fabric_ = nullptr;
  FabricSnapshot fabric_cache_;  // refreshed before each fast sample (a scrape reads the last one)
  std::vector<fabric::PeerChannelCounters> message_cache_;  // per peer, refreshed with fabric_cache_
  VerbsSnapshot verbs_cache_;    // likewise, on a host with verbs rails
  std::vector<v1::EbpfRail> ebpf_cache_;  // refreshed before each slow sample
};

}  // namespace railyard::daemon
