#pragma once
// Peer session handshake, authenticated with a pre-shared key.
//
//   initiator                                   responder
//   HANDSHAKE_INIT {from, to, wall, Ni, 0, tag}  ──►  verify tag, freshness, replay
//               ◄──  HANDSHAKE_REPLY {from, to, wall, Ni, Nr, tag}, header.session = S
//   verify tag, Ni is ours and pending, S matches
//
// tag = HMAC-SHA256(psk, "railyard-hs-v1" | type | header.session | body without tag)
// S   = first 8 bytes of HMAC-SHA256(psk, "railyard-session-v1" | Ni | Nr | from | to), never 0
//
// Both nonces enter S, so neither side alone picks it and every handshake
// gives a fresh session: packets of the previous session (a restarted peer,
// a late retransmission) no longer match and are dropped by the engines.
// Staleness: the INIT's and REPLY's wall-clock stamps must be within
// max_clock_skew of ours (rack hosts run NTP/PTP). Replay: a responder only
// accepts an INIT newer than the last one it accepted from that peer, and an
// initiator only accepts one REPLY per pending INIT.
//
// Crossing INITs (both sides start at once): the side with the lower node id
// keeps its own INIT and ignores the peer's; the other answers it.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "fabric/wire.h"

namespace railyard::fabric {

struct AuthConfig {
  uint64_t max_clock_skew_ns = 30'000'000'000;  ///< NTP-synchronised racks are within ms; 30 s tolerates a bad day
};

enum class AuthResult : uint8_t {
  ok,
  bad_type,          ///< not the handshake message expected here
  bad_tag,           ///< HMAC mismatch: wrong key or tampered
  wrong_node,        ///< not from our peer, or not addressed to us
  stale,             ///< wall-clock stamp outside the allowed skew
  replayed,          ///< INIT not newer than the last accepted one
  unexpected_reply,  ///< REPLY with no matching pending INIT
  crossed,           ///< peer's INIT ignored: ours wins (lower node id)
  no_room,           ///< output buffer too small
};
std::string_view auth_result_name(AuthResult r);

/// Minimum accepted key length (bytes): HMAC-SHA256 wants at least its output size.
inline constexpr size_t kMinPskSize = 32;

/// Handshake state towards one peer. Not thread-safe (owned by the peer's thread).
class PeerAuth {
 public:
  /// `psk` must be at least kMinPskSize bytes (checked by valid()).
  PeerAuth(std::span<const std::byte> psk, uint64_t self_node, uint64_t peer_node, AuthConfig config = {});

  bool valid() const { return psk_.size() >= kMinPskSize; }

  /// Initiator: writes a HANDSHAKE_INIT into `out` and remembers its nonce.
  /// Returns the datagram length, 0 when `out` is too small or the key invalid.
  size_t make_init(uint64_t wall_ns, const Nonce& nonce, uint8_t rail, std::span<std::byte> out);

  /// Responder: verifies `init`; on ok writes the HANDSHAKE_REPLY (reply_len)
  /// and sets `session`.
  AuthResult on_init(const Packet& init, uint64_t wall_ns, const Nonce& reply_nonce, std::span<std::byte> out,
                     size_t& reply_len, uint64_t& session);

  /// Initiator: verifies `reply` against the pending INIT; on ok sets `session`.
  AuthResult on_reply(const Packet& reply, uint64_t wall_ns, uint64_t& session);

  bool pending() const { return pending_; }

 private:
  Tag compute_tag(PacketType type, uint64_t session, const HandshakeBody& body) const;
  uint64_t derive_session(const HandshakeBody& body) const;
  bool fresh(uint64_t stamp, uint64_t now) const;

  std::vector<std::byte> psk_;
  uint64_t self_;
  uint64_t peer_;
  AuthConfig config_;
  bool pending_ = false;
  Nonce pending_nonce_{};
  uint64_t last_init_wall_ = 0;  // newest INIT accepted from the peer
};

/// Fills `nonce` from the OpenSSL CSPRNG; false if it failed.
bool random_nonce(Nonce& nonce);

}  // namespace railyard::fabric
