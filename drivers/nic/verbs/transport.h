#pragma once
// The verbs data path: rails (device, port, GID, PD, one CQ with a completion
// channel), one RC QP per peer per rail, memory registrations, and transfers
// cut into slices written with RDMA WRITE. The last slice of a transfer is a
// WRITE_WITH_IMM whose immediate is the transfer id, posted only once every
// other slice of the transfer has completed (on any rail), so the receiver's
// IMM completion means every byte has landed.
//
// Slices are sprayed across a peer's usable rails by smooth weighted round
// robin (the algorithm of fabric/scheduler.h, at slice granularity), weighted
// by each QP's free in-flight budget; a QP that is not in RTS, not confirmed
// by the peer, on a rail whose link is down, or out of budget is never
// picked. An error completion (retry exceeded, ...) or a failed post moves
// that QP to ERROR, reports the path down, and puts every unfinished slice it
// carried back in the queue for the other rails; the daemon reconnects it.
//
// Threading: after set-up (add_rail, set_peer) everything runs on the one
// data-plane thread that owns the transport. Nothing locks; allocation
// happens only when a table grows past its high-water mark.
//
// Not a nic::Rail: RDMA WRITE places bytes in hardware, so there are no
// datagrams to burst. The daemon drives this beside the fabric's engines.

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/nic/verbs/conn_data.h"
#include "drivers/nic/verbs/connection.h"
#include "drivers/nic/verbs/device.h"
#include "drivers/nic/verbs/registry.h"
#include "drivers/nic/verbs/verbs_ops.h"
#include "fabric/scheduler.h"

namespace railyard::verbs {

inline constexpr uint32_t kMinSliceBytes = 64 * 1024;
inline constexpr uint32_t kMaxSliceBytes = 1024 * 1024;

struct TransportConfig {
  uint64_t node_id = 0;                         ///< this daemon's node id (FNV-1a of the host name)
  uint32_t slice_bytes = 256 * 1024;            ///< 64 KiB .. 1 MiB
  uint16_t max_peers = 64;                      ///< peer slots 0 .. max_peers-1
  uint32_t max_transfers = 16384;               ///< outstanding transfers, all peers
  uint64_t qp_budget_bytes = 8 * 1024 * 1024;   ///< in-flight bytes per QP (its credit)
  uint32_t max_posts_per_poll = 256;
  uint32_t max_completions_per_poll = 512;
  QpTuning qp{};
};

/// Empty when valid; otherwise which key is wrong and what is allowed.
std::string check_config(const TransportConfig& cfg);

struct TransferRequest {
  uint32_t id = 0;  ///< carried as the immediate; unique among the peer's outstanding transfers
  uint16_t peer = 0;
  uint32_t local_region = 0;
  uint64_t local_offset = 0;
  uint64_t length = 0;
  uint32_t remote_region = 0;
  uint64_t remote_offset = 0;
  bool activation = false;  ///< strict priority over kv
};

enum class PostError : uint8_t {
  ok,
  unknown_peer,
  unknown_local_region,
  local_range,
  unknown_remote_region,  ///< no connected QP to the peer knows that region
  remote_range,
  full,                   ///< max_transfers outstanding
};
std::string_view post_error_name(PostError e);

struct VerbsEvent {
  enum class Kind : uint8_t {
    sent,             ///< the IMM slice completed: every byte is at the peer
    send_failed,      ///< given up (fail_peer, or an access error); status says why
    received,         ///< a peer's WRITE_WITH_IMM landed: id = its transfer id
    region_released,  ///< a retired region's deferred deregistration happened: id = region
    path_down,        ///< a QP failed; its slices went back to the queue; reconnect it
  };
  Kind kind = Kind::sent;
  uint16_t peer = 0;
  uint8_t rail = 0;
  uint32_t id = 0;
  uint32_t byte_len = 0;  ///< received: bytes carried by the IMM slice
  WcStatus status = WcStatus::success;
};

/// Per-rail counters the daemon exports (telemetry, `railctl rails`).
struct VerbsRailCounters {
  uint64_t tx_bytes = 0;          ///< bytes of successfully completed WRITEs
  uint64_t tx_slices = 0;         ///< completed WRITEs (IMM included)
  uint64_t tx_imm = 0;            ///< completed WRITE_WITH_IMM (finished transfers)
  uint64_t rx_imm = 0;            ///< received WRITE_WITH_IMM (inbound transfers)
  uint64_t rx_imm_bytes = 0;
  uint64_t reposted_slices = 0;   ///< slices this rail failed, queued again for any rail
  uint64_t wc_errors = 0;         ///< error completions other than flushes
  uint64_t post_errors = 0;       ///< ibv_post_send/recv failures (queue full excluded)
  uint64_t post_busy = 0;         ///< posts refused because a send queue was full
  uint64_t path_failures = 0;     ///< QPs moved to ERROR
  uint64_t cq_depth = 0;          ///< work requests outstanding on the rail's CQ now
  uint64_t cq_capacity = 0;
  uint32_t qps_connected = 0;     ///< QPs in RTS confirmed by the peer
  bool link_up = false;
};

struct AcceptOutcome {
  ConnError error = ConnError::ok;
  int verbs_errno = 0;  ///< when the QP could not be set up or connected
  bool reply = false;   ///< send `reply` to the peer (this message connected the QP)
};

class VerbsTransport {
 public:
  VerbsTransport(VerbsOps& ops, const TransportConfig& cfg);
  ~VerbsTransport();
  VerbsTransport(const VerbsTransport&) = delete;
  VerbsTransport& operator=(const VerbsTransport&) = delete;

  // --- set-up (before regions and the data plane) ---
  /// Opens the device, selects port and GID, creates PD, completion channel
  /// and CQ. Returns the rail index, or -1 with why.
  int add_rail(const RailDeviceConfig& cfg, std::string& why);
  void set_peer(uint16_t slot, uint64_t node_id);
  size_t rail_count() const { return rails_.size(); }
  std::string_view rail_name(size_t rail) const { return rails_[rail].cfg.name; }
  /// Polls readable when the rail's CQ has an event (after arm()); -1 if none.
  int wait_fd(size_t rail) const { return rails_[rail].fd; }
  const LocalEndpoint& endpoint(size_t rail) const { return rails_[rail].ep; }

  // --- regions ---
  bool register_region(uint32_t id, void* base, uint64_t length, std::string& why);
  /// Stops advertising and using region `id`; deregisters now or when its
  /// last in-flight WRITE completes (event region_released). The daemon keeps
  /// the memory mapped until then. Peers must have stopped writing into it
  /// (the daemon announces the new region list first).
  MrRegistry::Retire retire_region(uint32_t id);
  const MrRegistry& registry() const { return *registry_; }

  // --- connections (messages carried by the daemon's peer session) ---
  ConnState path_state(uint16_t peer, size_t rail) const;
  bool path_sendable(uint16_t peer, size_t rail) const;
  /// (Re)creates the QP to `peer` on `rail` with a new epoch and fills
  /// `message` with its connect message. 0 or errno.
  int open_path(uint16_t peer, size_t rail, std::vector<std::byte>& message);
  /// The message to (re)send now: connect with the QP, the advertised regions
  /// and the readiness. kind regions: the same without the QP (after a region
  /// was registered or retired). Empty when the path has no QP.
  void local_message(uint16_t peer, size_t rail, ConnKind kind, std::vector<std::byte>& out) const;
  /// Handles a peer's message for `rail`. A connect for an idle path opens
  /// it; a connect with a new epoch replaces the QP (the peer reconnected).
  AcceptOutcome on_message(uint16_t peer, size_t rail, std::span<const std::byte> bytes,
                           std::vector<std::byte>& reply);
  /// Destroys the QP (its slices go back to the queue); the path is idle.
  void reset_path(uint16_t peer, size_t rail);
  /// Every path to the peer is reset (its slices in flight go back to the queue).
  void reset_peer(uint16_t peer);
  /// A new session with the peer, which may have restarted with fresh memory:
  /// every path is reset and every unfinished transfer to it starts over from
  /// its first slice (placement is idempotent, so rewriting is harmless).
  /// `restarted` gets their ids.
  void restart_peer(uint16_t peer, std::vector<uint32_t>& restarted);
  /// Link state from rtnetlink / port events. Down: every QP on the rail
  /// fails at once (its slices move to the other rails).
  void set_link(size_t rail, bool up);

  // --- transfers ---
  PostError post(const TransferRequest& t);
  /// Fails every outstanding transfer to `peer` (event send_failed).
  void fail_peer(uint16_t peer, std::vector<VerbsEvent>& events);
  /// Fails transfer `id` to `peer` (event send_failed) if it is outstanding.
  /// Its slices already written stay written; call it before the path is up
  /// again (after restart_peer) for a transfer that must not be written at all.
  bool cancel(uint16_t peer, uint32_t id, std::vector<VerbsEvent>& events);

  // --- data plane ---
  /// Handles completions, then posts slices. Appends events.
  void poll(std::vector<VerbsEvent>& events);
  /// Before sleeping on the wait fds: requests CQ notifications and polls
  /// once more. False: nothing pending, safe to sleep.
  bool arm(std::vector<VerbsEvent>& events);
  /// After a wait fd polled readable: consumes and acknowledges its events.
  void on_wakeup(size_t rail);

  VerbsRailCounters counters(size_t rail) const;
  size_t outstanding_transfers() const { return transfers_live_; }

 private:
  struct RailState {
    RailDeviceConfig cfg;
    ContextHandle ctx;
    ChannelHandle channel;
    int fd = -1;
    LocalEndpoint ep;  ///< also holds the rail's PD and CQ
    bool up = true;
    uint32_t unacked_events = 0;
    VerbsRailCounters c;
  };
  struct Path {
    std::unique_ptr<QpConnection> conn;
    uint32_t outstanding = 0;     // send WRs posted and not completed
    uint64_t inflight_bytes = 0;
    bool busy = false;            // send queue full during this poll
    uint64_t max_remote_epoch = 0;  // newest peer QP accepted, across resets
  };
  struct Transfer {
    bool used = false;
    bool in_ready = false;
    bool imm_posted = false;
    uint32_t gen = 0;
    TransferRequest req;
    uint32_t region = MrRegistry::kNoEntry;
    uint32_t nslices = 0;
    uint32_t cursor = 0;     // next data slice never posted
    uint32_t data_left = 0;  // data slices (all but the last) not yet completed
    std::vector<uint32_t> resend;
    std::vector<uint64_t> done;  // bitmap of completed data slices
  };
  struct WrSlot {
    bool used = false;
    bool orphaned = false;  // its slice was requeued when the path failed
    bool imm = false;
    uint32_t gen = 0;
    uint16_t peer = 0;
    uint8_t rail = 0;
    uint64_t epoch = 0;
    uint32_t transfer = 0;
    uint32_t transfer_gen = 0;
    uint32_t slice = 0;
    uint32_t region = 0;
    uint32_t bytes = 0;
  };
  struct ReadyRef {
    uint32_t index;
    uint32_t gen;
  };
  struct PeerState {
    uint64_t node = 0;
    std::array<std::deque<ReadyRef>, 2> ready;  // [0] activation, [1] kv
    fabric::RailScheduler scheduler;
  };

  Path& path(uint16_t peer, size_t rail) { return paths_[peer * kMaxVerbsRails + rail]; }
  const Path& path(uint16_t peer, size_t rail) const { return paths_[peer * kMaxVerbsRails + rail]; }
  bool usable(uint16_t peer, size_t rail) const;

  void handle_completion(size_t rail, const WorkCompletion& wc, std::vector<VerbsEvent>& events);
  void handle_send(size_t rail, const WorkCompletion& wc, std::vector<VerbsEvent>& events);
  void handle_recv(size_t rail, const WorkCompletion& wc, std::vector<VerbsEvent>& events);
  void path_failed(uint16_t peer, size_t rail, WcStatus why, std::vector<VerbsEvent>* events);
  void requeue(const WrSlot& slot);
  void release_path_slots(uint16_t peer, size_t rail);
  void schedule(std::vector<VerbsEvent>& events);
  bool schedule_one(PeerState& ps, uint16_t peer, std::deque<ReadyRef>& q, std::vector<VerbsEvent>& events);
  /// Some QP to the peer is connected and none of them has the transfer's
  /// destination range (the region is unknown there, or too small).
  bool remote_range_refused(uint16_t peer, const Transfer& t) const;
  int pick_rail(PeerState& ps, uint16_t peer, const Transfer& t, uint64_t bytes);
  int next_slice(const Transfer& t) const;
  void take_slice(Transfer& t);
  void make_ready(uint32_t index);
  void finish_transfer(uint32_t index, VerbsEvent::Kind kind, WcStatus status, std::vector<VerbsEvent>& events);
  uint32_t alloc_slot();
  void free_slot(uint32_t s);
  int drain_cq(size_t rail, std::vector<VerbsEvent>& events);
  uint64_t next_epoch() { return ++epoch_counter_; }
  uint32_t next_psn();

  VerbsOps& ops_;
  TransportConfig cfg_;
  std::vector<RailState> rails_;
  std::unique_ptr<MrRegistry> registry_;
  std::vector<Path> paths_;
  std::vector<PeerState> peers_;
  std::vector<Transfer> transfers_;
  std::vector<uint32_t> free_transfers_;
  size_t transfers_live_ = 0;
  std::vector<WrSlot> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<WorkCompletion> wc_buf_;
  std::vector<uint32_t> released_;
  uint64_t epoch_counter_ = 0;
  uint64_t psn_state_;
  uint16_t rr_peer_ = 0;
};

}  // namespace railyard::verbs
