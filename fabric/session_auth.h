#pragma once
// Peer session handshake, authenticated with a pre-shared key, in three
// messages so that only a live initiator can make a responder change sessions:
//
//   initiator                                   responder
//   HANDSHAKE_INIT {from, to, wall, Ni, 0, tag}  ──►  verify tag, freshness, replay;
//                                                    remember the challenge (Ni, Nr, S)
//               ◄──  HANDSHAKE_REPLY {from, to, wall, Ni, Nr, tag}, header.session = S
//   verify tag, Ni is ours and pending, S matches: session S starts here
//   HANDSHAKE_CONFIRM {from, to, wall, Ni, Nr, tag}, header.session = S  ──►
//                                                    Nr is our pending challenge: session S
//
// tag = HMAC-SHA256(psk, "railyard-hs-v1" | type | header.session | body without tag)
// S   = first 8 bytes of HMAC-SHA256(psk, "railyard-session-v1" | Ni | Nr | from | to), never 0
//
// Both nonces enter S, so neither side alone picks it and every handshake
// gives a fresh session: packets of the previous session (a restarted peer,
// a late retransmission) no longer match and are dropped by the engines.
// Replay: an INIT captured earlier and sent again — even to a responder that
// restarted and forgot every INIT it saw — gets only a REPLY with a fresh
// challenge Nr; nothing changes until a CONFIRM signs that Nr, which only a
// holder of the key who saw this REPLY can send. A REPLY is accepted once
// per pending INIT and a CONFIRM once per challenge (again after that, it
// only says "confirmed", so the initiator's resends are harmless).
// Staleness: every stamp must be within max_clock_skew of ours (rack hosts
// run NTP/PTP), and a responder answers only INITs newer than the last one it
// answered from that peer: cheap filters, not the replay defence.
//
// Crossing INITs (both sides start at once): the side with the lower node id
// keeps its own INIT and ignores the peer's; the other answers it.
//
// Per-session keys for one direction of traffic (the packet MAC, the peer
// channel) come from derive_session_key(): the same PSK and session give each
// direction its own key, so a datagram reflected back at its sender is not
// authentic there.

#include <array>
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
  unexpected_reply,  ///< REPLY with no matching pending INIT, or CONFIRM with no matching challenge
  already_confirmed,  ///< CONFIRM of the session it confirmed before (the initiator resends until it hears us)
  crossed,           ///< peer's INIT ignored: ours wins (lower node id)
  no_room,           ///< output buffer too small
};
inline constexpr size_t kAuthResultCount = static_cast<size_t>(AuthResult::no_room) + 1;
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

  /// Responder: verifies `init`; on ok writes the HANDSHAKE_REPLY (reply_len),
  /// which challenges the initiator. No session starts until on_confirm().
  AuthResult on_init(const Packet& init, uint64_t wall_ns, const Nonce& reply_nonce, std::span<std::byte> out,
                     size_t& reply_len);

  /// Initiator: verifies `reply` against the pending INIT; on ok sets
  /// `session` and writes the HANDSHAKE_CONFIRM (confirm_len) to send back.
  AuthResult on_reply(const Packet& reply, uint64_t wall_ns, std::span<std::byte> out, size_t& confirm_len,
                      uint64_t& session);

  /// Initiator: the last CONFIRM again, restamped (it may have been lost).
  /// Returns its length, 0 if there is none.
  size_t resend_confirm(uint64_t wall_ns, uint8_t rail, std::span<std::byte> out) const;

  /// Responder: verifies `confirm` against the pending challenge; on ok sets
  /// `session`: the initiator holds the key and answered this challenge.
  AuthResult on_confirm(const Packet& confirm, uint64_t wall_ns, uint64_t& session);

  bool pending() const { return pending_; }

 private:
  Tag compute_tag(PacketType type, uint64_t session, const HandshakeBody& body) const;
  uint64_t derive_session(const HandshakeBody& body) const;
  bool fresh(uint64_t stamp, uint64_t now) const;
  /// Tag, origin and freshness checks every handshake message passes first.
  AuthResult check(const Packet& p, PacketType type, uint64_t wall_ns) const;
  size_t write_confirm(uint64_t wall_ns, uint8_t rail, std::span<std::byte> out) const;

  struct Exchange {  // the nonces and session of one handshake
    Nonce init{};
    Nonce reply{};
    uint64_t session = 0;
  };

  std::vector<std::byte> psk_;
  uint64_t self_;
  uint64_t peer_;
  AuthConfig config_;
  bool pending_ = false;
  Nonce pending_nonce_{};
  uint64_t last_init_wall_ = 0;  // newest INIT answered from the peer
  bool challenged_ = false;      // responder: a REPLY is out, waiting for its CONFIRM
  Exchange challenge_;
  Exchange confirmed_;           // responder: the last exchange confirmed
  Exchange confirming_;          // initiator: the exchange our CONFIRM answers
};

/// Fills `nonce` from the OpenSSL CSPRNG; false if it failed.
bool random_nonce(Nonce& nonce);

/// Key for traffic from node `from` to node `to` in `session`:
/// HMAC-SHA256(psk, label | session | from | to).
using SessionKey = std::array<std::byte, 32>;
SessionKey derive_session_key(std::span<const std::byte> psk, std::string_view label, uint64_t session,
                              uint64_t from, uint64_t to);

}  // namespace railyard::fabric
