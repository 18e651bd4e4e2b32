#pragma once
// One authenticated session with a peer, as the data-plane thread drives it:
// the send and receive engines and, with `packet_auth = mac`, the packet MAC.
// Every packet of the session passes here: its session id and tag are checked
// before an engine sees it, and what the engines emit is tagged before it
// leaves. The fuzz target tests/fuzz/fabric/session_fuzz.cc drives two of
// these back to back with forged and replayed datagrams in between.
//
// Pure logic like the engines: no I/O, no clock, no allocation per packet.

#include <array>
#include <cstdint>
#include <memory>
#include <span>

#include "fabric/packet_auth.h"
#include "fabric/receiver.h"
#include "fabric/sender.h"
#include "fabric/tx_batch.h"
#include "fabric/wire.h"

namespace railyard::fabric {

struct SessionConfig {
  SenderConfig sender;  ///< packet_mac is set from `auth`
  ReceiverConfig receiver;
  PacketAuth auth = PacketAuth::none;
};

/// Datagrams of session types the session refused before any engine saw them.
struct SessionCounters {
  uint64_t stale_session = 0;   ///< DATA, ACK, PROBE or PROBE_REPLY of another session
  uint64_t mac_missing = 0;     ///< no tag, but this session runs packet_auth = mac
  uint64_t mac_bad = 0;         ///< a tag that does not verify: forged, altered or reflected
  uint64_t mac_unexpected = 0;  ///< a tag, but this session runs packet_auth = none
};

class PeerSession {
 public:
  /// `psk`, `self_node` and `peer_node` key the packet MAC (unused with auth = none).
  PeerSession(const SessionConfig& config, uint64_t session, std::span<const std::byte> psk, uint64_t self_node,
              uint64_t peer_node);

  /// One parsed DATA, ACK, PROBE or PROBE_REPLY from the peer, arrived on
  /// `rail`. `region` is a DATA packet's destination region (empty if unknown
  /// or not DATA). Returns true when it was authentic and went to an engine.
  bool on_packet(const Packet& p, uint8_t rail, bool ecn_ce, std::span<std::byte> region, uint64_t now);

  /// The receiver's ACKs and probe replies, then the sender's probes and data,
  /// appended to the rails' batches and tagged. Returns the frames appended.
  size_t poll_tx(uint64_t now, std::span<TxBatch> rails);

  Sender& sender() { return sender_; }
  const Sender& sender() const { return sender_; }
  Receiver& receiver() { return receiver_; }
  const Receiver& receiver() const { return receiver_; }
  uint64_t id() const { return session_; }
  PacketAuth auth() const { return auth_; }
  /// An authentic packet of this session came from the peer: it runs the session too.
  bool heard_peer() const { return heard_peer_; }
  const SessionCounters& counters() const { return counters_; }

 private:
  uint64_t session_;
  PacketAuth auth_;
  Sender sender_;
  Receiver receiver_;
  std::unique_ptr<PacketMac> mac_;
  bool heard_peer_ = false;
  SessionCounters counters_;
};

}  // namespace railyard::fabric
