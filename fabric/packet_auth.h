#pragma once
// Per-packet authentication (`fabric.packet_auth = "mac"`): every DATA, ACK,
// PROBE and PROBE_REPLY of a session carries a kMacSize-byte tag right after
// its header (wire.h, ext::kMac):
//
//   tag = first 16 bytes of HMAC-SHA256(K, fixed header | everything after the tag)
//   K   = derive_session_key(psk, "railyard-pkt-v1", session, from, to)
//
// The key is fresh per session (the handshake's nonces) and per direction,
// so a datagram from another session, one forged without the PSK, or one of
// ours reflected back fails verification. A replayed datagram of the same
// session verifies; the engines take it as the duplicate it is. The tag covers
// every header field (session, sequences, floor, transfer, offsets, verdict
// via the body) and the whole payload, so nothing of it can be altered.
// The threat model and the measured cost are in fabric/README.md.
//
// One PacketMac per peer session, owned by the data-plane thread: the HMAC
// contexts hold the keyed state and are reused for every packet (no
// allocation per packet).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "fabric/wire.h"

typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace railyard::fabric {

enum class PacketAuth : uint8_t { none, mac };
std::string_view packet_auth_name(PacketAuth mode);

class PacketMac {
 public:
  /// Keys for traffic from `self_node` to `peer_node` (sign) and back (verify).
  /// Throws std::runtime_error when OpenSSL cannot set up HMAC-SHA256 (start-up only).
  PacketMac(std::span<const std::byte> psk, uint64_t session, uint64_t self_node, uint64_t peer_node);
  ~PacketMac();
  PacketMac(const PacketMac&) = delete;
  PacketMac& operator=(const PacketMac&) = delete;

  /// Fills the tag of one encoded datagram: `head` starts with the type's
  /// fixed header, its tag room follows, and the rest of `head` and then
  /// `payload` are what the tag covers after it (an ACK's blocks or a DATA
  /// packet's meta are in `head`, a DATA payload in `payload`).
  /// Precondition: head holds the fixed header and the tag's room.
  void sign(std::span<std::byte> head, std::span<const std::byte> payload);

  /// True when `p` carries a tag and it is the peer's tag for its bytes.
  bool verify(const Packet& p);

 private:
  void tag(EVP_MAC_CTX* ctx, std::span<const std::byte> header, std::span<const std::byte> body_head,
           std::span<const std::byte> body_tail, std::byte* out);

  EVP_MAC_CTX* sign_ = nullptr;
  EVP_MAC_CTX* verify_ = nullptr;
};

}  // namespace railyard::fabric
