#pragma once
// The fabric's wire format: one fixed-size header (network byte order) in
// front of every datagram, followed by a type-specific body (DATA payload,
// ACK body, HANDSHAKE body). Encoding writes into caller buffers and parse()
// reads from driver buffers: no allocation, no exceptions.
//
// Header layout (kHeaderSize = 92 bytes, all integers big-endian):
//
//   0  u16 magic 0x5259 "RY"      2  u8 version (2)   3 u8 type
//   4  u8  traffic class          5  u8 flags          6 u8 rail   7 u8 extensions (ext::kMac)
//   8  u64 session id
//  16  u64 packet sequence (per-peer space, never reused; a retransmission gets a new one)
//  24  u64 send timestamp (sender's clock, ns)
//  32  u64 echoed timestamp (ACK, PROBE_REPLY: the send timestamp of the packet answered)
//  40  u64 transfer id                      DATA only, zero otherwise ─┐
//  48  u64 offset within the transfer                                   │
//  56  u64 transfer total length                                        │
//  64  u64 transfer's base offset in the destination region             │
//  72  u32 destination region id                                        │
//  76  u32 chunk size (every packet of a transfer but the last carries  │
//          exactly this many bytes, at an offset multiple of it)        │
//  80  u32 seq floor delta: seq - (sender's lowest unacknowledged seq)  │
//  84  u32 CRC32C of the whole transfer (LAST + CHECKSUM_REQUESTED)   ─┘
//  88  u32 body length (bytes after the header; must match the datagram)
//
// The header is the same size for every type so that a parser needs no
// per-type layout table and a driver can reserve one fixed headroom.
//
// With ext::kMac set, a kMacSize-byte tag follows the header and body_len
// counts the bytes after the tag (fabric/packet_auth.h: the tag covers the
// header and the body). Sessions run with `fabric.packet_auth = "mac"` tag
// every DATA, ACK, PROBE and PROBE_REPLY; without it, packets after the
// handshake carry the session id and nothing an outsider could not forge
// (fabric/README.md, "Threat model").

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace railyard::fabric {

inline constexpr uint16_t kMagic = 0x5259;  // "RY"
inline constexpr uint8_t kVersion = 2;
inline constexpr size_t kHeaderSize = 92;

/// Protocol limits both ends rely on (they are not negotiated).
/// A sender never has more than this many packet sequences outstanding
/// (sent, neither acknowledged nor given up), so a receiver's window of this
/// many sequences above the sender's floor always suffices.
inline constexpr uint32_t kMaxInFlightPackets = 4096;
/// Transfer ids map to slot (id % kTransferSlots) on both ends; a sender only
/// reuses a slot once the previous transfer in it is fully acknowledged, which
/// lets the receiver tell a stale duplicate from a new transfer by comparing ids.
inline constexpr uint32_t kTransferSlots = 1024;
/// A sender only sends chunk i of a transfer if every chunk below
/// i - kChunkWindow + 1 is acknowledged, so each end tracks a transfer's
/// chunks in a window of this many bits.
inline constexpr uint32_t kChunkWindow = 8192;
inline constexpr size_t kMaxSackBlocks = 32;
inline constexpr size_t kAckBodyFixed = 24;
inline constexpr size_t kSackBlockSize = 16;
inline constexpr size_t kMaxAckBody = kAckBodyFixed + kMaxSackBlocks * kSackBlockSize;
inline constexpr size_t kNonceSize = 16;
inline constexpr size_t kTagSize = 32;
inline constexpr size_t kHandshakeBodySize = 24 + 2 * kNonceSize + kTagSize;
inline constexpr size_t kMaxRails = 8;
/// Per-packet authentication tag (ext::kMac): HMAC-SHA256 truncated to 128 bits.
inline constexpr size_t kMacSize = 16;

enum class PacketType : uint8_t {
  data = 1,
  ack = 2,
  handshake_init = 3,
  handshake_reply = 4,
  probe = 5,
  probe_reply = 6,
  message = 7,  ///< daemon-to-daemon message fragment or its ACK (fabric/peer_channel.h)
  handshake_confirm = 8,  ///< the initiator's answer to the responder's challenge (fabric/session_auth.h)
};

enum class TrafficClass : uint8_t { activation = 0, kv = 1 };
inline constexpr size_t kClassCount = 2;

/// Header flag bits.
namespace flag {
inline constexpr uint8_t kLast = 0x01;               ///< DATA: the transfer's final chunk
inline constexpr uint8_t kChecksumRequested = 0x02;  ///< DATA: verify the CRC32C at completion
inline constexpr uint8_t kEcnEcho = 0x04;            ///< ACK: the triggering packet was CE-marked
inline constexpr uint8_t kMore = 0x01;               ///< MESSAGE: more fragments of this message follow
inline constexpr uint8_t kMessageAck = 0x02;         ///< MESSAGE: an acknowledgement (body: the tag only)
inline constexpr uint8_t kDataMask = kLast | kChecksumRequested;
inline constexpr uint8_t kAckMask = kEcnEcho;
inline constexpr uint8_t kMessageMask = kMore | kMessageAck;
}  // namespace flag

/// Header extension bits (byte 7).
namespace ext {
inline constexpr uint8_t kMac = 0x01;  ///< a kMacSize-byte tag follows the header
inline constexpr uint8_t kMask = kMac;
}  // namespace ext

struct Header {
  PacketType type = PacketType::data;
  TrafficClass cls = TrafficClass::activation;
  uint8_t flags = 0;
  uint8_t rail = 0;
  uint8_t ext = 0;  ///< ext:: bits
  uint64_t session = 0;
  uint64_t seq = 0;
  uint64_t send_ts = 0;
  uint64_t echo_ts = 0;
  // DATA only:
  uint64_t transfer = 0;
  uint64_t offset = 0;
  uint64_t total_len = 0;
  uint64_t region_offset = 0;
  uint32_t region = 0;
  uint32_t chunk_size = 0;
  uint32_t floor_delta = 0;
  uint32_t checksum = 0;
  uint32_t body_len = 0;

  bool operator==(const Header&) const = default;
};

/// A half-open range [start, end) of packet sequences the receiver holds.
struct SackBlock {
  uint64_t start = 0;
  uint64_t end = 0;
  bool operator==(const SackBlock&) const = default;
};

/// What the receiver made of an ACK's trigger when it did not take it.
/// Anything but `none` means the trigger was *not* recorded as received (a
/// lost verdict can never be read as delivery by a later SACK), and the
/// sender ends the trigger's transfer with the matching failure.
enum class Verdict : uint8_t {
  none = 0,      ///< an ordinary ACK: the trigger was received
  refused = 1,   ///< unknown region, or the transfer does not fit in it
  stale = 2,     ///< the transfer is older than the one holding its slot at the receiver
  conflict = 3,  ///< the slot holds another transfer, or the packet contradicts the transfer's earlier ones
};
inline constexpr uint8_t kVerdictCount = 4;

/// ACK body. `cum` is the receiver's first missing sequence: every sequence
/// below it was received or given up by the sender. Block 0 contains the
/// triggering sequence (the freshest news); the rest run upwards from `cum`.
struct AckBody {
  uint64_t cum = 0;
  uint64_t trigger_seq = 0;
  uint32_t ack_delay_ns = 0;  ///< time the trigger waited at the receiver; subtracted from the RTT
  uint8_t trigger_rail = 0;   ///< rail the trigger arrived on, for per-rail RTT
  uint8_t block_count = 0;
  Verdict verdict = Verdict::none;
  std::array<SackBlock, kMaxSackBlocks> blocks{};

  bool operator==(const AckBody& o) const;
};

using Nonce = std::array<uint8_t, kNonceSize>;
using Tag = std::array<uint8_t, kTagSize>;

struct HandshakeBody {
  uint64_t from_node = 0;
  uint64_t to_node = 0;
  uint64_t wall_ns = 0;   ///< sender's wall clock (CLOCK_REALTIME), for staleness
  Nonce init_nonce{};     ///< chosen by the initiator
  Nonce reply_nonce{};    ///< chosen by the responder; zero in HANDSHAKE_INIT
  Tag tag{};              ///< HMAC-SHA256, see session_auth.h
  bool operator==(const HandshakeBody&) const = default;
};

enum class ParseResult : uint8_t {
  ok = 0,
  too_short,          ///< fewer bytes than a header
  bad_magic,
  bad_version,
  bad_type,
  bad_class,
  bad_flags,          ///< a flag or extension bit not defined for this type, or a reserved byte set
  bad_rail,           ///< rail index (header or ACK trigger) beyond kMaxRails
  length_mismatch,    ///< body length field disagrees with the datagram size
  nonzero_unused,     ///< a DATA-only field set in another type
  bad_body,           ///< body of the wrong size for its type (ACK, HANDSHAKE, PROBE)
  bad_sack,           ///< too many blocks, empty, below cum or overlapping blocks
  bad_range,          ///< offset/length/total/chunk inconsistent or overflowing
  count_,
};
inline constexpr size_t kParseResultCount = static_cast<size_t>(ParseResult::count_);

std::string_view parse_result_name(ParseResult r);

/// Rejections by reason, for the rails' counters (one per receive path).
struct ParseCounters {
  std::array<uint64_t, kParseResultCount> by_result{};
  void count(ParseResult r) { ++by_result[static_cast<size_t>(r)]; }
  uint64_t operator[](ParseResult r) const { return by_result[static_cast<size_t>(r)]; }
  uint64_t rejected() const;
};

/// A validated datagram. `body` points into the parsed buffer: for DATA the
/// payload, for ACK and HANDSHAKE the raw body (also decoded into ack / handshake).
struct Packet {
  Header header;
  std::span<const std::byte> raw_header;  ///< the kHeaderSize bytes as they arrived
  std::span<const std::byte> mac;         ///< the tag (ext::kMac), else empty
  std::span<const std::byte> body;
  AckBody ack;              ///< valid when header.type == ack
  HandshakeBody handshake;  ///< valid for handshake_init / handshake_reply
};

/// Validates everything a receiver relies on; `out` is meaningful only on ok.
ParseResult parse(std::span<const std::byte> datagram, Packet& out);
/// parse() and count the result.
ParseResult parse(std::span<const std::byte> datagram, Packet& out, ParseCounters& counters);

/// Bytes before the body: the header, and the tag's room when h.ext has kMac.
inline size_t header_room(const Header& h) { return kHeaderSize + ((h.ext & ext::kMac) ? kMacSize : 0); }

/// Writes the header (h.body_len as given) into out[0, kHeaderSize) and, with
/// ext::kMac, zeroes the tag's room after it (fabric/packet_auth.h fills it);
/// returns header_room(h), or 0 when `out` is too small.
size_t encode_header(const Header& h, std::span<std::byte> out);
/// Writes header (+ tag room) + ACK body; sets the header's body_len. Returns bytes written or 0.
size_t encode_ack(Header h, const AckBody& ack, std::span<std::byte> out);
/// Writes header + handshake body; sets the header's body_len. Returns bytes written or 0.
size_t encode_handshake(Header h, const HandshakeBody& body, std::span<std::byte> out);
/// Writes the handshake body alone (the bytes the HMAC covers are a prefix of it).
void encode_handshake_body(const HandshakeBody& body, std::span<std::byte, kHandshakeBodySize> out);

/// Reads the sequence number of an encoded header without parsing it (for a
/// sender taking back frames its rail refused). Needs kHeaderSize bytes.
uint64_t peek_seq(std::span<const std::byte> header);

}  // namespace railyard::fabric
