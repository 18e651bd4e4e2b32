#pragma once
// The fabric's data-plane thread: it owns the rails and, per peer, the
// handshake state and the send and receive engines (fabric/). The control
// thread talks to it only through two single-producer rings, each with an
// eventfd to wake the other side, and reads a statistics snapshot it
// publishes ten times a second. No locks or allocation per packet.

#include <array>
#include <functional>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/event_fd.h"
#include "common/spsc_ring.h"
#include "daemon/region_table.h"
#include "drivers/nic/rail.h"
#include "fabric/packet_auth.h"
#include "fabric/peer_session.h"
#include "fabric/session_auth.h"
#include "fabric/wire.h"

namespace railyard::daemon {

/// Control → data plane: a transfer to post.
struct FabricCommand {
  uint16_t peer = 0;
  uint64_t transfer_id = 0;  // the daemon's id, reported back with the completion
  RegionTable::Pin source;   // unpinned by the data plane when the transfer ends
  uint32_t dest_region = 0;
  uint64_t dest_offset = 0;
  fabric::TrafficClass cls = fabric::TrafficClass::kv;
  bool checksum = false;
};

/// A MESSAGE datagram (fabric/peer_channel.h) crossing between the control
/// thread, which owns the peer channels, and the rails: control → data plane
/// to send, data plane → control when one arrives on the peer's session.
struct MessageDatagram {
  static constexpr size_t kMaxBytes = 1472;  // an IPv4/UDP datagram in a 1500-byte frame
  uint16_t peer = 0;
  uint16_t length = 0;
  uint32_t rail_shift = 0;  // send on the (shift mod n)-th of the n rails up: moves on when messages get lost
  std::array<std::byte, kMaxBytes> bytes;
  std::span<const std::byte> datagram() const { return std::span(bytes).first(length); }
};

/// Data plane → control.
struct FabricEvent {
  enum class Kind : uint8_t { sent, received, peer_up, peer_down };
  enum class Outcome : uint8_t { ok, rejected, stale, conflict, peer_restarted, backlog_full, checksum_failed };
  Kind kind = Kind::sent;
  Outcome outcome = Outcome::ok;
  uint16_t peer = 0;
  uint64_t transfer_id = 0;  // sent: the daemon's id; received: the sender's id
  uint64_t session = 0;      // peer_up: the new session
  uint64_t bytes = 0;
  uint64_t done_ns = 0;      // CLOCK_MONOTONIC when it finished
  // received:
  uint32_t region = 0;
  uint64_t offset = 0;
  fabric::TrafficClass cls = fabric::TrafficClass::kv;
  bool checksum_requested = false;
};

struct RailSnapshot {
  nic::RailCounters counters;
  nic::LinkState link = nic::LinkState::unknown;
  bool up = false;  // the fabric's view: up towards at least one established peer
  fabric::DownReason reason = fabric::DownReason::none;
  uint64_t window_bytes = 0, inflight_bytes = 0, srtt_ns = 0, delivery_rate_Bps = 0;
  uint64_t retransmits = 0, timeouts = 0, spurious_timeouts = 0, keepalives = 0, down_events = 0;
  double tx_bps = 0, rx_bps = 0;  // wire bits per second over the last second
};

struct PeerSnapshot {
  bool established = false;
  bool confirmed = false;  // the peer has been heard on the session (the initiator waits for it)
  uint64_t session = 0;
  uint64_t handshakes = 0, handshake_failures = 0;
  uint64_t sessions_replaced = 0;  // a live session given up for a confirmed new one (the peer restarted)
  uint64_t sessions_desynchronized = 0;  // sessions given up because the peer's ACKs named what we never sent
  uint64_t bytes_sent = 0, bytes_received = 0;
  uint64_t backlog = 0;
  // Refused before any engine: no session yet, a MESSAGE of another session,
  // handshakes by result (fabric::AuthResult).
  uint64_t no_session = 0, message_stale_session = 0;
  std::array<uint64_t, fabric::kAuthResultCount> handshake_refused{};
  // Summed over all of this peer's sessions, the current one included.
  fabric::SessionCounters session_refused;
  fabric::SenderCounters sender;
  fabric::ReceiverCounters receiver;
};

struct FabricSnapshot {
  std::vector<RailSnapshot> rails;
  std::vector<PeerSnapshot> peers;
  fabric::ParseCounters malformed;  // datagrams parse() refused, by reason
  uint64_t rx_unknown_source = 0;   // from an address that is no configured peer
  uint64_t messages_dropped = 0;  // MESSAGE datagrams lost: no rail up, a full ring, or refused by the rail (the channel resends)
  uint64_t loops = 0;
};

class DataPlane {
 public:
  struct Peer {
    std::string name;
    uint64_t node = 0;        // node id both ends derive from the host name
    uint32_t rail_mask = 0;   // bit r: the peer has an address on rail r
  };
  struct Settings {
    std::vector<std::unique_ptr<nic::Rail>> rails;  // PeerSlot p on every rail is peer p
    std::vector<Peer> peers;
    uint64_t self_node = 0;
    std::vector<std::byte> psk;
    fabric::PacketAuth packet_auth = fabric::PacketAuth::none;
    std::function<void()> thread_init;  // run first on the data-plane thread (DPDK registers it)
  };

  DataPlane(Settings settings, RegionTable& regions);
  ~DataPlane();

  void start();  // spawns the thread
  void stop();   // joins it; in-flight transfers are dropped

  /// Control thread. False when the ring is full (try again after events).
  bool submit(FabricCommand command);
  /// Readable when events or messages are queued.
  int event_fd() const { return event_fd_.fd(); }
  std::optional<FabricEvent> next_event();
  /// Control thread: a MESSAGE datagram for `peer`, sent on its
  /// (rail_shift mod n)-th of n rails up. False when the ring is full (the channel resends).
  bool send_message(uint16_t peer, std::span<const std::byte> datagram, uint32_t rail_shift);
  /// Control thread: a MESSAGE datagram that arrived on the peer's session.
  std::optional<MessageDatagram> next_message();
  /// Largest MESSAGE datagram every rail carries.
  size_t message_datagram_limit() const { return message_limit_; }
  FabricSnapshot snapshot() const;
  /// Loops the thread has run; it moves at least every 50 ms while the thread
  /// is alive (idle sleeps are bounded), so a stalled thread shows.
  uint64_t heartbeat() const { return heartbeat_.load(std::memory_order_relaxed); }

  /// Node id of a host name (FNV-1a 64), the same on every host.
  static uint64_t node_id(std::string_view host_name);

 private:
  struct PeerState;
  void run();
  bool poll_commands(uint64_t now);
  bool receive(uint64_t now);
  bool transmit(uint64_t now);
  void handshake(PeerState& p, uint16_t index, uint64_t now);
  void on_handshake(const fabric::Packet& pkt, uint16_t peer, uint8_t rail, uint64_t now);
  /// `confirmed`: the peer answered our challenge (responder); false: we
  /// answered its REPLY and wait to hear from it (initiator).
  void establish(PeerState& p, uint16_t index, uint64_t session, bool confirmed, uint64_t now);
  /// Ends the session without failing its transfers (a new session resends them).
  void drop_session(PeerState& p, uint16_t index, uint64_t now);
  void fail_all(PeerState& p, uint16_t index, FabricEvent::Outcome outcome, uint64_t now);
  void post_backlog(PeerState& p, uint64_t now);
  void drain_completions(PeerState& p, uint16_t index, uint64_t now);
  void emit(const FabricEvent& event);
  void publish(uint64_t now);
  void idle_wait(uint64_t now, uint64_t deadline);
  /// False when the rail refused it (a full queue).
  bool send_control(uint8_t rail, uint16_t peer, std::span<const std::byte> datagram);

  std::vector<std::unique_ptr<nic::Rail>> rails_;
  std::vector<Peer> peers_;
  std::vector<std::unique_ptr<PeerState>> state_;
  uint64_t self_node_;
  std::vector<std::byte> psk_;
  fabric::PacketAuth packet_auth_;
  std::function<void()> thread_init_;
  RegionTable& regions_;

  SpscRing<FabricCommand> commands_{4096};
  SpscRing<FabricEvent> events_{65536};
  SpscRing<MessageDatagram> messages_out_{256};
  SpscRing<MessageDatagram> messages_in_{256};
  size_t message_limit_ = MessageDatagram::kMaxBytes;
  EventFd command_fd_;  // control → data plane
  EventFd event_fd_;    // data plane → control
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> heartbeat_{0};
  std::thread thread_;

  // Data-plane thread only.
  std::vector<std::vector<nic::TxFrame>> tx_frames_;
  std::vector<std::vector<std::byte>> tx_room_;
  std::vector<fabric::TxBatch> batches_;
  std::vector<nic::RxFrame> rx_frames_;
  // Reused for every received datagram: a Packet is ~760 bytes, and clearing
  // one per datagram cost more than parsing it.
  fabric::Packet rx_packet_;
  std::array<std::byte, 512> control_buffer_{};
  FabricSnapshot counts_;  // the thread's running totals, copied out by publish()
  uint64_t next_publish_ = 0;
  bool wake_control_ = false;  // events were queued this loop
  std::vector<nic::LinkState> last_link_;
  std::vector<uint64_t> down_events_;
  std::vector<nic::RailCounters> rate_base_;  // counters at rate_since_
  uint64_t rate_since_ = 0;

  mutable std::mutex snapshot_mu_;  // taken ten times a second, never per packet
  FabricSnapshot snapshot_;
};

}  // namespace railyard::daemon
