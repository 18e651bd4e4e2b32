#pragma once
// Daemon-to-daemon messages over the fabric session (migration, headroom
// adverts): reliable, in order, authenticated, on the rails themselves, so no
// second unauthenticated channel exists between hosts.
//
// A message is cut into MESSAGE fragments of at most `max_fragment` payload
// bytes; the last has no kMore flag. Fragments carry per-direction sequence
// numbers starting at 1 in each session. The receiver takes only the next
// sequence it expects and answers with a cumulative ACK (header.seq = the next
// sequence it expects); the sender resends every unacknowledged fragment in
// its window after `retransmit_ns` without an ACK (go-back-N: these are small
// control messages, a few per second).
//
// Every datagram's body starts with
//   tag = HMAC-SHA256(K, header with body_len | payload),
//   K   = derive_session_key(psk, "railyard-msg-v2", session, from, to),
// so it is bound to this session (fresh per handshake) and direction: a
// datagram from another session, a forged one, or one of ours reflected back
// at us is refused; a replayed one is a duplicate.
//
// Pure logic, no I/O: the caller hands in parsed datagrams and the time, and
// sends what poll() emits. Not thread-safe (the control thread owns it).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <vector>

#include "fabric/session_auth.h"
#include "fabric/wire.h"

namespace railyard::fabric {

struct PeerChannelConfig {
  size_t max_fragment = 1200;          ///< payload bytes per fragment (rail MTU − headers − tag)
  size_t window = 32;                  ///< fragments in flight
  uint64_t retransmit_ns = 20'000'000;  ///< resend the window after this long without progress
  size_t max_message = 1 << 20;        ///< larger messages are refused at send()
  size_t max_queued_bytes = 8 << 20;   ///< send() refuses beyond this backlog
};

enum class ChannelSend : uint8_t { ok, no_session, too_large, queue_full };
enum class ChannelReceive : uint8_t {
  fragment,       ///< in order, taken (a message may have been delivered)
  acked,          ///< an ACK, applied
  duplicate,      ///< already taken (its ACK was lost): ACKed again
  out_of_order,   ///< a gap before it (an earlier fragment was lost): dropped, ACKed with what we expect
  bad_tag,        ///< not authenticated for this session and direction
  stale_session,  ///< another session's datagram, or no session
  too_large,      ///< the reassembled message would pass max_message: the session's stream is broken
};

struct PeerChannelCounters {
  uint64_t messages_sent = 0, messages_delivered = 0;
  uint64_t fragments_resent = 0;
  uint64_t duplicates = 0;    ///< fragments received again: our ACK was lost
  uint64_t out_of_order = 0;  ///< fragments after a lost one: ordinary on a lossy rail, resent by the peer
  uint64_t bad_tag = 0;       ///< refused: forged, another key, or reflected
  uint64_t stale_session = 0; ///< refused: another session's, or none yet
  uint64_t too_large = 0;     ///< refused: a message beyond max_message
  uint64_t dropped = 0;       ///< messages lost to a session change (the callers' failure path)
};

class PeerChannel {
 public:
  using Emit = std::function<void(std::span<const std::byte> datagram)>;
  using Deliver = std::function<void(std::span<const std::byte> message)>;

  /// `self_node` and `peer_node` name the two ends (session_auth.h's node ids).
  PeerChannel(std::span<const std::byte> psk, uint64_t self_node, uint64_t peer_node, PeerChannelConfig config = {});

  /// A new session (0: none). Messages queued, in flight or half received
  /// belong to the old one and are dropped; returns how many outbound ones.
  size_t reset(uint64_t session);
  uint64_t session() const { return session_; }

  ChannelSend send(std::span<const std::byte> message, uint64_t now);

  /// Emits what is due: fragments entering the window, a resent window, an ACK.
  void poll(uint64_t now, const Emit& emit);
  /// Earliest time poll() has something to do (UINT64_MAX: nothing pending).
  uint64_t next_deadline() const;

  /// A parsed MESSAGE datagram. Complete messages go to `deliver`, in order.
  ChannelReceive on_datagram(const Packet& packet, uint64_t now, const Deliver& deliver);

  /// Fragments sent and not yet acknowledged, plus those waiting for the window.
  size_t backlog() const { return outbound_.size(); }
  const PeerChannelCounters& counters() const { return counters_; }

 private:
  struct Fragment {
    uint64_t seq = 0;
    bool more = false;
    std::vector<std::byte> payload;
  };
  Tag tag(const SessionKey& key, std::span<const std::byte> header, std::span<const std::byte> payload);
  void emit_fragment(const Fragment& f, const Emit& emit);

  const std::vector<std::byte> psk_;
  const uint64_t self_;
  const uint64_t peer_;
  const PeerChannelConfig config_;
  uint64_t session_ = 0;
  SessionKey out_key_{};  // what we send
  SessionKey in_key_{};   // what the peer sends

  // Outbound.
  std::deque<Fragment> outbound_;  // front: oldest unacknowledged
  uint64_t next_seq_ = 1;
  size_t sent_count_ = 0;          // fragments of outbound_ (from the front) sent at least once
  uint64_t last_progress_ = 0;     // when the window last moved or was (re)sent
  size_t queued_bytes_ = 0;

  // Inbound.
  uint64_t expected_ = 1;
  std::vector<std::byte> assembling_;
  bool ack_due_ = false;

  std::vector<std::byte> datagram_;
  std::vector<std::byte> signed_;  // header | payload, the bytes a tag covers
  PeerChannelCounters counters_;
};

}  // namespace railyard::fabric
