#pragma once
// The fabric's wire format (version 3): an 8-byte prefix common to every
// datagram, then a fixed part per packet type, then (ext::kMac) a packet tag,
// then the type's body. All integers big-endian. Encoding writes into caller
// buffers and parse() reads from driver buffers: no allocation, no exceptions.
//
// Prefix (every type):
//   0 u16 magic 0x5259 "RY"   2 u8 version (3)   3 u8 type
//   4 u8  traffic class       5 u8 flags         6 u8 rail   7 u8 extensions (ext::kMac)
//
// DATA (kDataHeaderSize = 32; what every payload packet pays):
//   8 u32 session tag (low 32 bits of the session id)
//  12 u64 packet sequence (per-peer space, never reused; a retransmission gets a new one)
//  20 u32 transfer id, low 32 bits (the receiver widens it against the ids it has seen)
//  24 u32 chunk index
//  28 u16 seq floor delta: seq - (sender's lowest unacknowledged seq)
//  30 u16 payload length
//   then, with flag::kMeta, the transfer's meta (kMetaSize = 28):
//   0 u64 total length  8 u64 base offset in the destination region  16 u32 region id
//  20 u32 CRC32C of the whole transfer (with kChecksumRequested, else 0)
//  24 u16 meta chunks  26 u16 chunk size (ChunkLayout)
//   then the payload.
// ACK (kAckHeaderSize = 36, then its SACK blocks, 16 bytes each):
//   8 u32 session tag  12 u64 cum  20 u64 trigger seq  28 u32 ack delay (ns)
//  32 u8 trigger rail  33 u8 block count  34 u8 verdict  35 u8 zero
// PROBE, PROBE_REPLY (24):
//   8 u32 session tag  12 u32 zero  16 u64 time (the probe's send time; a reply echoes it)
// MESSAGE (24, then the peer channel's tag and payload):
//   8 u32 session tag  12 u64 fragment sequence  20 u16 body length  22 u16 zero
// HANDSHAKE_INIT / REPLY / CONFIRM (24, then kHandshakeBodySize):
//   8 u64 session id (0 in an INIT)  16 u64 wall clock
//
// The transfer's meta travels only in its first `meta chunks` chunks
// (ChunkLayout): those carry chunk size − kMetaSize bytes of payload, every
// later chunk a full chunk size, so a steady stream of a large transfer pays
// 32 bytes a packet. The sender sends no chunk beyond them before the
// receiver has answered one of the transfer's packets, so a chunk without meta
// never reaches a receiver that has not opened its transfer (if one does, it
// is dropped unanswered and sent again).
//
// With ext::kMac, a kMacSize-byte tag follows the fixed part (fabric/packet_auth.h:
// the tag covers the fixed part and everything after the tag). Sessions run
// with `fabric.packet_auth = "mac"` tag every DATA, ACK, PROBE and
// PROBE_REPLY; without it, packets after the handshake carry the session tag
// and nothing an outsider could not copy (fabric/README.md, "Threat model").

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace railyard::fabric {

inline constexpr uint16_t kMagic = 0x5259;  // "RY"
inline constexpr uint8_t kVersion = 3;
inline constexpr size_t kPrefixSize = 8;
inline constexpr size_t kDataHeaderSize = 32;
inline constexpr size_t kAckHeaderSize = 36;
inline constexpr size_t kProbeHeaderSize = 24;
inline constexpr size_t kMessageHeaderSize = 24;
inline constexpr size_t kHandshakeHeaderSize = 24;
/// The shortest datagram of any type (what a classifier may rely on).
inline constexpr size_t kMinDatagram = 24;
inline constexpr size_t kMetaSize = 28;

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
inline constexpr size_t kSackBlockSize = 16;
inline constexpr size_t kMaxAckSize = kAckHeaderSize + kMaxSackBlocks * kSackBlockSize;
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

/// Bytes of the type's fixed header (0 for an unknown type).
size_t fixed_header_size(PacketType type);

enum class TrafficClass : uint8_t { activation = 0, kv = 1 };
inline constexpr size_t kClassCount = 2;

/// Header flag bits.
namespace flag {
inline constexpr uint8_t kLast = 0x01;               ///< DATA: the transfer's final chunk
inline constexpr uint8_t kChecksumRequested = 0x02;  ///< DATA: verify the CRC32C at completion
inline constexpr uint8_t kMeta = 0x04;               ///< DATA: the transfer's meta follows the header
inline constexpr uint8_t kEcnEcho = 0x04;            ///< ACK: the triggering packet was CE-marked
inline constexpr uint8_t kMore = 0x01;               ///< MESSAGE: more fragments of this message follow
inline constexpr uint8_t kMessageAck = 0x02;         ///< MESSAGE: an acknowledgement (body: the tag only)
inline constexpr uint8_t kDataMask = kLast | kChecksumRequested | kMeta;
inline constexpr uint8_t kAckMask = kEcnEcho;
inline constexpr uint8_t kMessageMask = kMore | kMessageAck;
}  // namespace flag

/// Header extension bits (byte 7).
namespace ext {
inline constexpr uint8_t kMac = 0x01;  ///< a kMacSize-byte tag follows the fixed header
inline constexpr uint8_t kMask = kMac;
}  // namespace ext

/// The low 32 bits of a session id: what DATA, ACK, PROBE and MESSAGE carry.
inline uint32_t session_tag(uint64_t session) { return static_cast<uint32_t>(session); }

/// How a transfer is cut into chunks: chunks 0 .. meta_chunks-1 carry the
/// meta and chunk_size - kMetaSize bytes each, the rest chunk_size bytes; the
/// last may be shorter. An empty transfer is one empty chunk.
struct ChunkLayout {
  uint64_t total = 0;
  uint32_t chunk_size = 0;
  uint32_t meta_chunks = 0;

  /// chunk_size leaves room for the meta, there is a meta chunk, and the
  /// chunk count fits 32 bits.
  bool valid() const;
  uint32_t count() const;
  uint64_t offset(uint32_t chunk) const;
  uint32_t length(uint32_t chunk) const;
  bool carries_meta(uint32_t chunk) const { return chunk < meta_chunks; }
  bool operator==(const ChunkLayout&) const = default;
};

/// What the first chunks of a transfer tell the receiver (flag::kMeta).
struct TransferMeta {
  uint64_t total_len = 0;
  uint64_t region_offset = 0;
  uint32_t region = 0;
  uint32_t checksum = 0;     ///< CRC32C of the whole transfer, with kChecksumRequested
  uint16_t meta_chunks = 0;
  uint16_t chunk_size = 0;
  ChunkLayout layout() const { return {.total = total_len, .chunk_size = chunk_size, .meta_chunks = meta_chunks}; }
  bool operator==(const TransferMeta&) const = default;
};

struct Header {
  PacketType type = PacketType::data;
  TrafficClass cls = TrafficClass::activation;
  uint8_t flags = 0;
  uint8_t rail = 0;
  uint8_t ext = 0;  ///< ext:: bits
  /// Handshakes: the session id. Every other type: its session_tag() (what
  /// the wire carries; encoding takes the low 32 bits).
  uint64_t session = 0;
  uint64_t seq = 0;  ///< DATA: packet sequence; MESSAGE: fragment sequence
  uint64_t ts = 0;   ///< PROBE: send time; PROBE_REPLY: the probe's, echoed; handshakes: wall clock
  // DATA only:
  uint32_t transfer = 0;  ///< low 32 bits of the transfer id
  uint32_t chunk = 0;
  uint16_t floor_delta = 0;
  TransferMeta meta;      ///< with flag::kMeta
  /// DATA: payload bytes; MESSAGE: the peer channel's tag and payload. Other
  /// types have no body length on the wire (their size is their layout's).
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
  too_short,          ///< fewer bytes than the type's fixed header
  bad_magic,
  bad_version,
  bad_type,
  bad_class,
  bad_flags,          ///< a flag or extension bit not defined for this type, or a reserved byte set
  bad_rail,           ///< rail index (header or ACK trigger) beyond kMaxRails
  length_mismatch,    ///< the datagram's size is not what its header says
  nonzero_unused,     ///< a field that must be zero is not
  bad_body,           ///< body of the wrong size for its type (HANDSHAKE, MESSAGE)
  bad_sack,           ///< too many blocks, empty, below cum or overlapping blocks
  bad_range,          ///< chunk, length, total or layout inconsistent or overflowing
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

/// A validated datagram. `raw_header` is the fixed header as it arrived (what
/// a packet tag covers, with the body), `mac` the tag when there is one.
/// `body` points into the parsed buffer: DATA's payload, a MESSAGE's tag and
/// payload, a handshake's raw body (also decoded into `handshake`); an ACK's
/// blocks (also decoded into `ack`); it ends where the datagram ends.
struct Packet {
  Header header;
  std::span<const std::byte> raw_header;
  std::span<const std::byte> mac;
  std::span<const std::byte> body;
  AckBody ack;              ///< valid when header.type == ack
  HandshakeBody handshake;  ///< valid for handshake_init / handshake_reply / handshake_confirm
};

/// Validates everything a receiver can check without the session's state;
/// `out` is meaningful only on ok. Reuse one Packet for many datagrams (it
/// is large; parse() sets what each type uses).
ParseResult parse(std::span<const std::byte> datagram, Packet& out);
/// parse() and count the result.
ParseResult parse(std::span<const std::byte> datagram, Packet& out, ParseCounters& counters);

/// Bytes before a DATA packet's payload (or a MESSAGE's body): the fixed
/// header, the tag's room with ext::kMac, the meta with flag::kMeta.
size_t header_room(const Header& h);

/// Writes the fixed header, zeroes the tag's room (ext::kMac; fabric/packet_auth.h
/// fills it) and, for DATA with flag::kMeta, writes the meta. h.body_len as
/// given. Returns header_room(h), or 0 when `out` is too small or h is an ACK
/// or a handshake (encode_ack, encode_handshake).
size_t encode_header(const Header& h, std::span<std::byte> out);
/// Writes an ACK (fixed header, tag room, blocks). Returns bytes written or 0.
size_t encode_ack(Header h, const AckBody& ack, std::span<std::byte> out);
/// Writes header + handshake body. Returns bytes written or 0.
size_t encode_handshake(Header h, const HandshakeBody& body, std::span<std::byte> out);
/// Writes the handshake body alone (the bytes the HMAC covers are a prefix of it).
void encode_handshake_body(const HandshakeBody& body, std::span<std::byte, kHandshakeBodySize> out);

/// Reads the sequence number of an encoded DATA header without parsing it
/// (for a sender taking back frames its rail refused); 0 for another type or
/// too few bytes.
uint64_t peek_data_seq(std::span<const std::byte> datagram);

}  // namespace railyard::fabric
