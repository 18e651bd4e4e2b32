#include "daemon/telemetry_service.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "common/build_info.h"
#include "common/log.h"
#include "daemon/fabric_refusals.h"
#include "daemon/fabric_service.h"
#include "telemetry/process_metrics.h"

namespace railyard::daemon {

namespace tel = railyard::telemetry;
using std::chrono::milliseconds;

TelemetryService::TelemetryService(boost::asio::io_context& io, const config::Config& config)
    : settings_(config.telemetry),
      host_(config.daemon.host_name),
      registry_(tel::RegistryOptions{.history_points = 0}),
      curl_(io),
      // No series keeps a history in the daemon: collectors keep it.
      fast_(io, registry_,
            tel::SamplerOptions{
                .interval = milliseconds(settings_.rails_interval_ms), .groups = {"rails"}, .record_history = false}),
      slow_(io, registry_,
            tel::SamplerOptions{
                .interval = milliseconds(settings_.interval_ms), .groups = {"default", "bmc"}, .record_history = false}) {
  registry_
      .gauge_family({.name = "railyard_build_info",
                     .help = "railyardd's version; always 1",
                     .labels = {"host", "version"}})
      .series(std::array<std::string_view, 2>{host_, kVersion})
      .set(1);
  registry_
      .gauge_family({.name = "railyard_uptime_seconds",
                     .help = "Seconds since railyardd started",
                     .unit = tel::Unit::seconds,
                     .labels = {"host"}})
      .callback({host_}, [this] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
      });
  tel::add_process_metrics(registry_, host_);
  if (settings_.listen_port != 0) {
    exporter_ = std::make_unique<tel::HttpExporter>(
        io, registry_, tel::HttpExporterOptions{.address = settings_.listen_address, .port = settings_.listen_port});
  }
  if (!settings_.remote_write.empty()) {
    tel::RemoteWriteOptions options{.buffer_samples = settings_.buffer_samples, .external_labels = {{"host", host_}}};
    for (const auto& t : settings_.remote_write) {
      options.endpoints.push_back(tel::RemoteWriteEndpoint{.url = t.url,
                                                           .bearer_token_file = t.bearer_token_file,
                                                           .basic_auth_username = t.basic_auth_username,
                                                           .basic_auth_password_file = t.basic_auth_password_file,
                                                           .ca_file = t.ca_file});
    }
    writer_ = std::make_unique<tel::RemoteWriter>(io, curl_, registry_, std::move(options));
  }
}

TelemetryService::~TelemetryService() { stop(); }

void TelemetryService::watch_fabric(const FabricService& fabric, const std::vector<config::RailConfig>& rails,
                                    const std::vector<config::PeerConfig>& peers) {
  fabric_ = &fabric;
  // One snapshot per sample serves every series below.
  fast_.add_before([this] {
    fabric_cache_ = fabric_->snapshot();
    message_cache_ = fabric_->message_counters();
  });
  fabric_cache_ = fabric.snapshot();
  message_cache_ = fabric.message_counters();

  // One series per rail, read from `rows` (a cache refreshed before each sample).
  auto rail_series = [&](auto family, const auto& rows, auto read) {
    for (size_t r = 0; r < rails.size(); ++r)
      family.callback({host_, rails[r].name}, [r, &rows, read] {
        return r < rows.size() ? static_cast<double>(read(rows[r])) : 0.0;
      });
  };
  auto rail_spec = [](const char* name, const char* help, tel::Unit unit) {
    return tel::FamilySpec{.name = name, .help = help, .unit = unit, .labels = {"host", "rail"}, .group = "rails"};
  };
  auto rail_counter = [&](const char* name, const char* help, tel::Unit unit, auto read, const auto& rows) {
    rail_series(registry_.counter_family(rail_spec(name, help, unit)), rows, read);
  };
  auto rail_gauge = [&](const char* name, const char* help, tel::Unit unit, auto read, const auto& rows) {
    rail_series(registry_.gauge_family(rail_spec(name, help, unit)), rows, read);
  };
  using R = const RailSnapshot&;
  rail_counter("railyard_rail_tx_bytes", "Bytes sent on the rail (headers and retransmissions included)",
               tel::Unit::bytes, [](R s) { return s.counters.tx_bytes; }, fabric_cache_.rails);
  rail_counter("railyard_rail_rx_bytes", "Bytes received on the rail", tel::Unit::bytes,
               [](R s) { return s.counters.rx_bytes; }, fabric_cache_.rails);
  rail_counter("railyard_rail_tx_packets", "Datagrams sent on the rail", tel::Unit::none,
               [](R s) { return s.counters.tx_frames; }, fabric_cache_.rails);
  rail_counter("railyard_rail_rx_packets", "Datagrams received on the rail", tel::Unit::none,
               [](R s) { return s.counters.rx_frames; }, fabric_cache_.rails);
  rail_counter("railyard_rail_retransmits", "Packets first sent on the rail that had to be sent again",
               tel::Unit::none, [](R s) { return s.retransmits; }, fabric_cache_.rails);
  rail_counter("railyard_rail_timeouts", "Retransmission timeouts on the rail", tel::Unit::none,
               [](R s) { return s.timeouts; }, fabric_cache_.rails);
  rail_counter("railyard_rail_spurious_timeouts",
               "Retransmission timeouts whose packets arrived after all (a stall, not a loss): the window was restored",
               tel::Unit::none, [](R s) { return s.spurious_timeouts; }, fabric_cache_.rails);
  rail_counter("railyard_rail_keepalives",
               "Probes sent because the rail was idle and had heard nothing from a peer for a second (a path that dies "
               "while idle is seen within three)",
               tel::Unit::none, [](R s) { return s.keepalives; }, fabric_cache_.rails);
  rail_counter("railyard_rail_ecn_marks", "Datagrams received with an ECN Congestion Experienced mark",
               tel::Unit::none, [](R s) { return s.counters.rx_ecn_ce; }, fabric_cache_.rails);
  rail_counter("railyard_rail_tx_would_block", "Datagrams the rail's queue refused for being full", tel::Unit::none,
               [](R s) { return s.counters.tx_would_block; }, fabric_cache_.rails);
  rail_counter("railyard_rail_down_events", "Times the fabric took the rail out (link down or ack silence)",
               tel::Unit::none, [](R s) { return s.down_events; }, fabric_cache_.rails);
  rail_gauge("railyard_rail_up", "1 while the fabric sends on the rail, else 0", tel::Unit::none,
             [](R s) { return s.up ? 1 : 0; }, fabric_cache_.rails);
  rail_gauge("railyard_rail_link_up", "1 while the rail's link is up, else 0", tel::Unit::none,
             [](R s) { return s.link == nic::LinkState::up ? 1 : 0; }, fabric_cache_.rails);
  // NaN until a first sample, as a BMC reading with no value: 0 would read as a perfect rail.
  rail_gauge("railyard_rail_rtt_seconds", "Smoothed round-trip time on the rail (NaN until measured)",
             tel::Unit::seconds,
             [](R s) { return s.srtt_ns == 0 ? std::nan("") : static_cast<double>(s.srtt_ns) / 1e9; },
             fabric_cache_.rails);
  rail_gauge("railyard_rail_window_bytes", "Congestion window on the rail", tel::Unit::bytes,
             [](R s) { return s.window_bytes; }, fabric_cache_.rails);
  rail_gauge("railyard_rail_inflight_bytes", "Bytes sent on the rail and not yet acknowledged", tel::Unit::bytes,
             [](R s) { return s.inflight_bytes; }, fabric_cache_.rails);

  if (!rails.empty() && rails.front().driver == "verbs") {
    fast_.add_before([this] { verbs_cache_ = fabric_->verbs_snapshot(); });
    using V = const VerbsRailSnapshot&;
    const auto& v = verbs_cache_.rails;
    rail_counter("railyard_verbs_tx_bytes", "Bytes of RDMA WRITEs completed on the verbs rail", tel::Unit::bytes,
                 [](V s) { return s.counters.tx_bytes; }, v);
    rail_counter("railyard_verbs_tx_slices", "RDMA WRITEs (slices) completed on the verbs rail", tel::Unit::none,
                 [](V s) { return s.counters.tx_slices; }, v);
    rail_counter("railyard_verbs_rx_transfers", "Peers' last slices (WRITE_WITH_IMM) landed on the verbs rail",
                 tel::Unit::none, [](V s) { return s.counters.rx_imm; }, v);
    rail_counter("railyard_verbs_reposted_slices", "Slices the verbs rail failed, sent again on any rail",
                 tel::Unit::none, [](V s) { return s.counters.reposted_slices; }, v);
    rail_counter("railyard_verbs_wc_errors", "Error completions on the verbs rail other than flushes",
                 tel::Unit::none, [](V s) { return s.counters.wc_errors; }, v);
    rail_counter("railyard_verbs_post_errors", "Failed ibv_post_send/recv calls on the verbs rail", tel::Unit::none,
                 [](V s) { return s.counters.post_errors; }, v);
    rail_counter("railyard_verbs_qp_failures", "Queue pairs of the verbs rail moved to ERROR", tel::Unit::none,
                 [](V s) { return s.counters.path_failures; }, v);
    rail_gauge("railyard_verbs_cq_depth", "Work requests outstanding on the verbs rail's completion queue",
               tel::Unit::none, [](V s) { return s.counters.cq_depth; }, v);
    rail_gauge("railyard_verbs_qps_connected", "Queue pairs of the verbs rail in RTS and confirmed by their peer",
               tel::Unit::none, [](V s) { return s.counters.qps_connected; }, v);
  }

  using P = const PeerSnapshot&;
  auto peer_series = [&](auto family, auto read) {
    for (size_t p = 0; p < peers.size(); ++p)
      family.callback({host_, peers[p].name}, [this, p, read] {
        return p < fabric_cache_.peers.size() ? static_cast<double>(read(fabric_cache_.peers[p])) : 0.0;
      });
  };
  peer_series(registry_.gauge_family({.name = "railyard_peer_established",
                                      .help = "1 while an authenticated session with the peer exists",
                                      .labels = {"host", "peer"},
                                      .group = "rails"}),
              [](P s) { return s.established ? 1 : 0; });
  peer_series(registry_.counter_family({.name = "railyard_peer_sent_bytes",
                                        .help = "Payload bytes the peer acknowledged",
                                        .unit = tel::Unit::bytes,
                                        .labels = {"host", "peer"},
                                        .group = "rails"}),
              [](P s) { return s.bytes_sent; });
  peer_series(registry_.counter_family({.name = "railyard_peer_received_bytes",
                                        .help = "Payload bytes placed from the peer",
                                        .unit = tel::Unit::bytes,
                                        .labels = {"host", "peer"},
                                        .group = "rails"}),
              [](P s) { return s.bytes_received; });
  peer_series(registry_.counter_family({.name = "railyard_peer_handshake_failures",
                                        .help = "Handshakes from the peer that were refused",
                                        .labels = {"host", "peer"},
                                        .group = "rails"}),
              [](P s) { return s.handshake_failures; });

  // Refusals by peer and reason (daemon/fabric_refusals.h); the host's own
  // (not a fabric datagram, or from no peer) under peer="".
  auto refused = registry_.counter_family({.name = "railyard_fabric_refused_datagrams",
                                           .help = "Datagrams the fabric refused, by peer and reason",
                                           .labels = {"host", "peer", "reason"},
                                           .group = "rails"});
  const auto& reasons = peer_refusal_reasons();
  for (size_t p = 0; p < peers.size(); ++p) {
    for (size_t k = 0; k < kPeerRefusalCount; ++k) {
      refused.callback({host_, peers[p].name, std::string(reasons[k].name)}, [this, p, k] {
        if (p >= fabric_cache_.peers.size() || p >= message_cache_.size()) return 0.0;
        return static_cast<double>(peer_refusals(fabric_cache_.peers[p], message_cache_[p])[k]);
      });
    }
  }
  for (size_t r = 1; r < fabric::kParseResultCount; ++r) {
    refused.callback({host_, "", "malformed_" + std::string(fabric::parse_result_name(static_cast<fabric::ParseResult>(r)))},
                     [this, r] { return static_cast<double>(fabric_cache_.malformed.by_result[r]); });
  }
  refused.callback({host_, "", "unknown_source"},
                   [this] { return static_cast<double>(fabric_cache_.rx_unknown_source); });
  peer_series(registry_.counter_family({.name = "railyard_peer_duplicate_packets",
                                        .help = "DATA packets from the peer received again: acknowledged, not written",
                                        .labels = {"host", "peer"},
                                        .group = "rails"}),
              [](P s) { return s.receiver.duplicates; });

  // eBPF: what the kernel saw on each rail, per direction and class (read once a second).
  ebpf_cache_.resize(rails.size());
  slow_.add_before([this] {
    for (size_t r = 0; r < ebpf_cache_.size(); ++r) ebpf_cache_[r] = fabric_->ebpf(r);
  });
  auto ebpf_packets = registry_.counter_family({.name = "railyard_ebpf_packets",
                                                .help = "Fabric datagrams the eBPF rail monitor saw",
                                                .labels = {"host", "rail", "direction", "class"}});
  auto ebpf_bytes = registry_.counter_family({.name = "railyard_ebpf_bytes",
                                              .help = "Fabric datagram bytes (UDP payload) the eBPF rail monitor saw",
                                              .unit = tel::Unit::bytes,
                                              .labels = {"host", "rail", "direction", "class"}});
  auto ebpf_ce = registry_.counter_family({.name = "railyard_ebpf_ecn_marks",
                                           .help = "ECN CE marks on fabric datagrams the eBPF rail monitor saw",
                                           .labels = {"host", "rail", "direction", "class"}});
  size_t k = 0;
  for (const char* direction : {"rx", "tx"}) {
    for (const char* cls : {"activation", "kv"}) {
      for (size_t r = 0; r < rails.size(); ++r) {
        auto read = [this, r, k](auto field) {
          return [this, r, k, field] {
            const auto& e = ebpf_cache_[r];
            return k < static_cast<size_t>(e.classes_size()) ? static_cast<double>((e.classes(static_cast<int>(k)).*field)())
                                                             : 0.0;
          };
        };
        ebpf_packets.callback({host_, rails[r].name, direction, cls}, read(&v1::EbpfClass::packets));
        ebpf_bytes.callback({host_, rails[r].name, direction, cls}, read(&v1::EbpfClass::bytes));
        ebpf_ce.callback({host_, rails[r].name, direction, cls}, read(&v1::EbpfClass::ecn_ce));
      }
      ++k;
    }
  }
  auto fault = registry_.counter_family({.name = "railyard_fault_injected",
                                         .help = "Datagrams the eBPF fault injector dropped or CE-marked",
                                         .labels = {"host", "rail", "effect"}});
  for (size_t r = 0; r < rails.size(); ++r) {
    fault.callback({host_, rails[r].name, "dropped"},
                   [this, r] { return static_cast<double>(ebpf_cache_[r].fault_dropped()); });
    fault.callback({host_, rails[r].name, "marked"},
                   [this, r] { return static_cast<double>(ebpf_cache_[r].fault_marked()); });
  }

  auto transfers = registry_.counter_family({.name = "railyard_transfers",
                                             .help = "Transfers finished, by direction and outcome",
                                             .labels = {"host", "direction", "outcome"},
                                             .group = "rails"});
  transfers.callback({host_, "out", "completed"}, [&fabric] { return static_cast<double>(fabric.totals().completed_out); });
  transfers.callback({host_, "out", "failed"}, [&fabric] { return static_cast<double>(fabric.totals().failed_out); });
  transfers.callback({host_, "in", "completed"}, [&fabric] { return static_cast<double>(fabric.totals().completed_in); });
}

void TelemetryService::start() {
  if (exporter_) {
    if (auto ec = exporter_->start())
      throw std::runtime_error(fmt::format("telemetry: cannot serve metrics on {}:{}: {}; set telemetry.listen_port "
                                           "(0 turns the endpoint off)",
                                           settings_.listen_address, settings_.listen_port, ec.message()));
    log::info("telemetry: Prometheus metrics on http://{}:{}/metrics", settings_.listen_address, port());
  }
  if (writer_) {
    if (auto error = writer_->start(); !error.empty()) throw std::runtime_error("telemetry: remote-write: " + error);
    // Rails are sampled often for `railctl watch`; collectors get one point a second.
    const unsigned every = std::max(1u, 1000u / std::max(1u, settings_.rails_interval_ms));
    fast_.add_sink([this](const tel::Snapshot& s) { writer_->push(s); }, every);
    slow_.add_sink([this](const tel::Snapshot& s) { writer_->push(s); });
    log::info("telemetry: remote-write to {} target(s)", settings_.remote_write.size());
  }
  fast_.start();
  slow_.start();
}

void TelemetryService::stop() {
  fast_.stop();
  slow_.stop();
  if (writer_) writer_->stop();
  if (exporter_) exporter_->stop();
}

v1::WatchUpdate TelemetryService::watch(const v1::WatchRequest& request) const {
  const auto wall = std::chrono::system_clock::now().time_since_epoch();
  const tel::Snapshot snap = registry_.collect(std::chrono::duration_cast<milliseconds>(wall).count());
  v1::WatchUpdate update;
  update.set_timestamp_ms(snap.timestamp_ms);
  for (const auto& family : snap.families) {
    const std::string& name = family.family->exposition_name;
    const bool wanted = request.filter().empty() ||
                        std::any_of(request.filter().begin(), request.filter().end(),
                                    [&](const std::string& f) { return name.find(f) != std::string::npos; });
    if (!wanted || family.family->type == tel::MetricType::histogram) continue;
    for (const auto& series : family.series) {
      auto* sample = update.add_samples();
      sample->set_name(name);
      for (size_t i = 0; i < family.family->labels.size(); ++i)
        (*sample->mutable_labels())[family.family->labels[i]] = series.series->label_values[i];
      sample->set_value(series.value);
    }
  }
  return update;
}

uint16_t TelemetryService::port() const { return exporter_ ? exporter_->local_endpoint().port() : 0; }

}  // namespace railyard::daemon
