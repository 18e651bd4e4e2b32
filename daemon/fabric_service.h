#pragma once
// The fabric on the control thread: builds the rails and the data plane from
// the configuration, watches link state (rtnetlink) on the Asio loop, turns
// workload posts into data-plane commands, routes completions and inbound
// transfers back to workloads, answers railctl, and runs `railctl send`.

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/episode_log.h"
#include "daemon/config.h"
#include "daemon/data_plane.h"
#include "daemon/dpdk_rails.h"
#include "daemon/rail_ebpf.h"
#include "daemon/region_table.h"
#include "daemon/verbs_fabric.h"
#include "daemon/workload_server.h"
#include "drivers/nic/link_monitor.h"
#include "fabric/peer_channel.h"
#include "railyard/v1/control.pb.h"
#include "railyard/v1/peer.pb.h"

namespace railyard::daemon {

/// One rail as its congestion controller sees it, for the policy: read-only,
/// from the data plane's last snapshot (ten a second).
struct RailCongestion {
  std::string name;
  bool up = false;         ///< towards at least one established peer
  uint64_t srtt_ns = 0;    ///< smoothed RTT, the largest over its peers; 0 before a sample
  uint64_t rx_frames = 0;  ///< datagrams received (a counter)
  uint64_t rx_ecn_ce = 0;  ///< of them CE-marked on the way (a counter)
};

class FabricService {
 public:
  /// Region id each daemon keeps for `railctl send` probes (source and sink).
  static constexpr uint32_t kProbeRegion = RegionTable::kMaxRegions - 1;
  static constexpr uint64_t kProbeRegionBytes = 256ull << 20;
  /// What is wrong with a send or fault request's numbers (empty: nothing),
  /// checked before anything else looks at them. Pure, for the unit tests.
  static std::string check_send(const v1::SendRequest& request);
  static std::string check_fault(const v1::FaultRequest& request);

  /// Opens the rails and starts the data plane. Throws std::runtime_error
  /// naming the rail or peer and the fix.
  FabricService(boost::asio::io_context& io, const config::Config& config, RegionTable& regions);
  ~FabricService();

  void stop();

  /// Where inbound transfers and completions go.
  void attach(WorkloadServer& workloads) { workloads_ = &workloads; }

  // WorkloadServer's TransferPort.
  TransferPort::Posted post(uint64_t owner, const v1::PostTransfer& request);
  /// A transfer the daemon posts from `owner`'s region (a migration's KV
  /// copy): `done` gets its outcome; the workload hears nothing of it.
  TransferPort::Posted post_for(uint64_t owner, const v1::PostTransfer& request,
                                std::function<void(v1::WorkloadError)> done);

  // Daemon-to-daemon messages (fabric/peer_channel.h), on the control thread.
  using MessageHandler = std::function<void(const std::string& peer, const v1::PeerMessage& message)>;
  using PeerHandler = std::function<void(const std::string& peer, bool up)>;
  void on_message(MessageHandler handler) { message_handler_ = std::move(handler); }
  void on_peer_change(PeerHandler handler) { peer_handler_ = std::move(handler); }
  /// Queues a message to `peer`; false with `error` when it has no session or
  /// the message cannot be queued. Delivery is reliable while the session lasts.
  bool send_message(const std::string& peer, std::span<const std::byte> message, std::string& error);
  bool peer_up(const std::string& peer) const;
  void abandon_owner(uint64_t owner);
  std::vector<std::string> peer_names() const;

  // railctl.
  v1::RailsReply rails() const;
  v1::PeersReply peers() const;
  v1::TransfersReply transfers() const;
  void send(const v1::SendRequest& request, std::function<void(v1::Status, std::string, v1::SendReply)> done);
  void fill_status(v1::StatusReply& status) const;
  /// railctl fault; refused unless fabric.fault_injection is on.
  v1::Status fault(const v1::FaultRequest& request, std::string& error, v1::FaultReply& reply);
  /// eBPF view of rail `r` (for telemetry).
  v1::EbpfRail ebpf(size_t r) const;

  /// For the systemd watchdog: false when the data-plane thread has not
  /// looped since the previous call (a stall); true without a data plane.
  bool data_plane_progressing();

  // Telemetry.
  FabricSnapshot snapshot() const { return plane_ ? plane_->snapshot() : FabricSnapshot{}; }
  /// Each peer's message-channel counters, in configuration order.
  std::vector<fabric::PeerChannelCounters> message_counters() const;
  /// The verbs rails' counters (empty without verbs rails).
  VerbsSnapshot verbs_snapshot() const { return verbs_ ? verbs_->snapshot() : VerbsSnapshot{}; }
  struct Totals {
    uint64_t completed_out = 0, failed_out = 0, completed_in = 0, bytes_out = 0, bytes_in = 0;
  };
  const Totals& totals() const { return totals_; }
  /// Per rail, in configuration order (the policy's congestion input).
  std::vector<RailCongestion> rail_congestion() const;

 private:
  struct Outbound {
    uint64_t owner = 0;  // 0: a railctl send probe
    uint64_t cookie = 0;
    uint16_t peer = 0;
    uint64_t length = 0;
    bool activation = false;
    std::chrono::steady_clock::time_point posted;
    std::function<void(v1::WorkloadError)> done;  // set: the daemon's own transfer (post_for)
  };
  struct Probe;

  void watch_links();
  void refresh_links();
  void watch_events();
  void on_event(const FabricEvent& event);
  void probe_next(const std::shared_ptr<Probe>& probe);
  void on_message_datagram(const MessageDatagram& datagram);
  void on_peer_message(uint16_t peer, std::span<const std::byte> bytes);
  bool send_to(uint16_t peer, const v1::PeerMessage& message, std::string& error);
  /// To the verbs rails (the source's region and offset name it there) or the
  /// fabric's data plane; false when the data plane's ring is full.
  bool submit(const FabricCommand& command, uint32_t local_region, uint64_t local_offset);
  void open_verbs(boost::asio::io_context& io, const config::Config& config);
  void flush_messages();
  int peer_index(const std::string& name) const;
  /// Once a second: refusal counts that moved start an episode (one log
  /// line); reasons quiet for kRefusalQuietChecks end theirs (one more).
  void watch_refusals();
  /// A warning when a rail goes down (with the reason and what to check) or
  /// flaps between two checks, a notice when it is back.
  void log_rail_changes(const FabricSnapshot& snap, std::chrono::steady_clock::time_point now);

  RegionTable& regions_;
  std::string host_name_;
  std::vector<config::RailConfig> rail_config_;
  std::vector<config::PeerConfig> peer_config_;
  std::unique_ptr<nic::LinkMonitor> links_;
  std::unique_ptr<DpdkRails> dpdk_;
  std::unique_ptr<DataPlane> plane_;
  std::unique_ptr<RailEbpf> ebpf_;
  std::unique_ptr<verbs::VerbsOps> verbs_ops_;  // libibverbs; outlives verbs_
  std::unique_ptr<VerbsFabric> verbs_;          // with verbs rails: every transfer goes there
  std::vector<bool> warned_verbs_message_;      // per peer: a verbs message reached a host without verbs rails
  boost::asio::posix::stream_descriptor link_fd_;
  boost::asio::steady_timer link_timer_;
  boost::asio::posix::stream_descriptor event_fd_;
  WorkloadServer* workloads_ = nullptr;

  uint64_t next_transfer_id_ = 1;
  std::map<uint64_t, Outbound> outbound_;
  std::map<uint64_t, std::function<void(const FabricEvent&)>> probe_waiters_;
  std::vector<fabric::PeerChannel> channels_;
  std::vector<uint32_t> message_rail_shift_;  // per peer: moves on when messages or their ACKs get lost
  std::vector<uint64_t> message_losses_;      // per peer: resends + duplicates seen at the last shift
  boost::asio::steady_timer message_timer_;
  boost::asio::steady_timer refusal_timer_;
  // Per peer and reason (daemon/fabric_refusals.h), then the host's own two
  // (malformed, unknown source): counts at the last check, and their episodes.
  std::vector<uint64_t> refusals_seen_;
  EpisodeLog<size_t> refusal_episodes_;
  // Per rail, as last logged by log_rail_changes: its state and down events.
  struct RailSeen {
    std::string state;   // empty before the first check
    std::string reason;  // why it is down ("link down", "ack silence"); empty while up
    uint64_t down_events = 0;
    std::chrono::steady_clock::time_point since{};
  };
  std::vector<RailSeen> rails_seen_;
  MessageHandler message_handler_;
  PeerHandler peer_handler_;
  Totals totals_;
  std::vector<bool> peer_up_;
  std::vector<size_t> outstanding_;  // per peer: posted, not yet finished in the data plane (abandoned included)
  uint64_t last_heartbeat_ = ~uint64_t{0};
  const bool fault_injection_;
  const fabric::PacketAuth packet_auth_;
};

}  // namespace railyard::daemon
