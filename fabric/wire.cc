#include "fabric/wire.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <type_traits>

namespace railyard::fabric {
namespace {

// Big-endian access at any alignment (the buffers come from drivers): one
// load or store and a byte swap per field. Reading a header byte by byte
// right after the kernel (or a copy) wrote it with wide stores stalls on
// store forwarding, dozens of times per packet.
static_assert(std::endian::native == std::endian::little, "the fabric's byte swaps assume a little-endian host");
void put8(std::byte* p, uint8_t v) { p[0] = std::byte{v}; }
void put16(std::byte* p, uint16_t v) {
  v = __builtin_bswap16(v);
  std::memcpy(p, &v, 2);
}
void put32(std::byte* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
void put64(std::byte* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}
uint8_t get8(const std::byte* p) { return std::to_integer<uint8_t>(p[0]); }
uint16_t get16(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}
uint32_t get32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
uint64_t get64(const std::byte* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();

bool taggable(PacketType t) {
  return t == PacketType::data || t == PacketType::ack || t == PacketType::probe || t == PacketType::probe_reply;
}

size_t tag_room(const Header& h) { return (h.ext & ext::kMac) ? kMacSize : 0; }

void put_prefix(const Header& h, std::byte* p) {
  put16(p, kMagic);
  put8(p + 2, kVersion);
  put8(p + 3, static_cast<uint8_t>(h.type));
  put8(p + 4, static_cast<uint8_t>(h.cls));
  put8(p + 5, h.flags);
  put8(p + 6, h.rail);
  put8(p + 7, h.ext);
}

void put_meta(const TransferMeta& m, std::byte* p) {
  put64(p, m.total_len);
  put64(p + 8, m.region_offset);
  put32(p + 16, m.region);
  put32(p + 20, m.checksum);
  put16(p + 24, m.meta_chunks);
  put16(p + 26, m.chunk_size);
}

TransferMeta get_meta(const std::byte* p) {
  return {.total_len = get64(p),
          .region_offset = get64(p + 8),
          .region = get32(p + 16),
          .checksum = get32(p + 20),
          .meta_chunks = get16(p + 24),
          .chunk_size = get16(p + 26)};
}

ParseResult check_data(const Header& h) {
  if (h.flags & ~flag::kDataMask) return ParseResult::bad_flags;
  if (h.floor_delta >= kMaxInFlightPackets || h.floor_delta > h.seq) return ParseResult::bad_range;
  const bool last = (h.flags & flag::kLast) != 0;
  if (!(h.flags & flag::kMeta)) return ParseResult::ok;  // checked against the transfer by the receiver
  const TransferMeta& m = h.meta;
  const ChunkLayout layout = m.layout();
  if (!layout.valid() || !layout.carries_meta(h.chunk) || h.chunk >= layout.count()) return ParseResult::bad_range;
  if (h.body_len != layout.length(h.chunk) || last != (h.chunk + 1 == layout.count())) return ParseResult::bad_range;
  if (m.total_len > kU64Max - m.region_offset) return ParseResult::bad_range;
  if (!(h.flags & flag::kChecksumRequested) && m.checksum != 0) return ParseResult::nonzero_unused;
  return ParseResult::ok;
}

ParseResult parse_ack(std::span<const std::byte> d, size_t room, Packet& out) {
  const Header& h = out.header;
  if (h.flags & ~flag::kAckMask) return ParseResult::bad_flags;
  const std::byte* p = d.data();
  AckBody& ack = out.ack;
  ack.cum = get64(p + 12);
  ack.trigger_seq = get64(p + 20);
  ack.ack_delay_ns = get32(p + 28);
  ack.trigger_rail = get8(p + 32);
  ack.block_count = get8(p + 33);
  const uint8_t verdict = get8(p + 34);
  if (verdict >= kVerdictCount || get8(p + 35) != 0) return ParseResult::bad_flags;
  ack.verdict = static_cast<Verdict>(verdict);
  if (ack.trigger_rail >= kMaxRails) return ParseResult::bad_rail;
  if (ack.block_count > kMaxSackBlocks) return ParseResult::bad_sack;
  if (d.size() != room + ack.block_count * kSackBlockSize) return ParseResult::length_mismatch;
  out.body = d.subspan(room);
  for (size_t i = 0; i < ack.block_count; ++i) {
    const std::byte* b = out.body.data() + i * kSackBlockSize;
    SackBlock blk{.start = get64(b), .end = get64(b + 8)};
    // A block starts above a hole, so strictly above cum.
    if (blk.start >= blk.end || blk.start <= ack.cum) return ParseResult::bad_sack;
    // Blocks are maximal runs: never overlapping, never touching.
    for (size_t j = 0; j < i; ++j) {
      const SackBlock& o = ack.blocks[j];
      if (!(blk.end < o.start || o.end < blk.start)) return ParseResult::bad_sack;
    }
    ack.blocks[i] = blk;
  }
  for (size_t i = ack.block_count; i < kMaxSackBlocks; ++i) ack.blocks[i] = {};
  return ParseResult::ok;
}

void decode_handshake_body(const std::byte* p, HandshakeBody& hs) {
  hs.from_node = get64(p);
  hs.to_node = get64(p + 8);
  hs.wall_ns = get64(p + 16);
  std::memcpy(hs.init_nonce.data(), p + 24, kNonceSize);
  std::memcpy(hs.reply_nonce.data(), p + 24 + kNonceSize, kNonceSize);
  std::memcpy(hs.tag.data(), p + 24 + 2 * kNonceSize, kTagSize);
}

}  // namespace

size_t fixed_header_size(PacketType type) {
  switch (type) {
    case PacketType::data: return kDataHeaderSize;
    case PacketType::ack: return kAckHeaderSize;
    case PacketType::probe:
    case PacketType::probe_reply: return kProbeHeaderSize;
    case PacketType::message: return kMessageHeaderSize;
    case PacketType::handshake_init:
    case PacketType::handshake_reply:
    case PacketType::handshake_confirm: return kHandshakeHeaderSize;
  }
  return 0;
}

bool ChunkLayout::valid() const {
  if (chunk_size <= kMetaSize || meta_chunks == 0) return false;
  const uint64_t small = chunk_size - kMetaSize;
  const uint64_t head = uint64_t{meta_chunks} * small;
  if (total <= head) return true;
  return (total - head) / chunk_size < kU32Max - meta_chunks;
}

uint32_t ChunkLayout::count() const {
  const uint64_t small = chunk_size - kMetaSize;
  const uint64_t head = uint64_t{meta_chunks} * small;
  if (total <= head) return total == 0 ? 1 : static_cast<uint32_t>((total + small - 1) / small);
  return meta_chunks + static_cast<uint32_t>((total - head + chunk_size - 1) / chunk_size);
}

uint64_t ChunkLayout::offset(uint32_t chunk) const {
  const uint64_t small = chunk_size - kMetaSize;
  if (chunk <= meta_chunks) return uint64_t{chunk} * small;
  return uint64_t{meta_chunks} * small + uint64_t{chunk - meta_chunks} * chunk_size;
}

uint32_t ChunkLayout::length(uint32_t chunk) const {
  const uint64_t start = offset(chunk);
  if (start >= total) return 0;
  const uint64_t size = carries_meta(chunk) ? chunk_size - kMetaSize : chunk_size;
  return static_cast<uint32_t>(std::min(size, total - start));
}

bool AckBody::operator==(const AckBody& o) const {
  if (cum != o.cum || trigger_seq != o.trigger_seq || ack_delay_ns != o.ack_delay_ns ||
      trigger_rail != o.trigger_rail || block_count != o.block_count || verdict != o.verdict)
    return false;
  for (size_t i = 0; i < block_count && i < kMaxSackBlocks; ++i)
    if (!(blocks[i] == o.blocks[i])) return false;
  return true;
}

std::string_view parse_result_name(ParseResult r) {
  switch (r) {
    case ParseResult::ok: return "ok";
    case ParseResult::too_short: return "too_short";
    case ParseResult::bad_magic: return "bad_magic";
    case ParseResult::bad_version: return "bad_version";
    case ParseResult::bad_type: return "bad_type";
    case ParseResult::bad_class: return "bad_class";
    case ParseResult::bad_flags: return "bad_flags";
    case ParseResult::bad_rail: return "bad_rail";
    case ParseResult::length_mismatch: return "length_mismatch";
    case ParseResult::nonzero_unused: return "nonzero_unused";
    case ParseResult::bad_body: return "bad_body";
    case ParseResult::bad_sack: return "bad_sack";
    case ParseResult::bad_range: return "bad_range";
    case ParseResult::count_: break;
  }
  return "unknown";
}

uint64_t ParseCounters::rejected() const {
  uint64_t n = 0;
  for (size_t i = 1; i < kParseResultCount; ++i) n += by_result[i];
  return n;
}

ParseResult parse(std::span<const std::byte> d, Packet& out) {
  if (d.size() < kMinDatagram) return ParseResult::too_short;
  const std::byte* p = d.data();
  if (get16(p) != kMagic) return ParseResult::bad_magic;
  if (get8(p + 2) != kVersion) return ParseResult::bad_version;
  const uint8_t type = get8(p + 3);
  if (type < static_cast<uint8_t>(PacketType::data) || type > static_cast<uint8_t>(PacketType::handshake_confirm))
    return ParseResult::bad_type;
  const uint8_t cls = get8(p + 4);
  if (cls >= kClassCount) return ParseResult::bad_class;
  Header& h = out.header;
  // Cleared in place: the data plane parses every datagram into one Packet,
  // and nothing of the last one may survive (memset, not a copy of a cleared
  // temporary: no wide load waiting on the narrow stores that built it).
  static_assert(std::is_trivially_copyable_v<Header>);
  std::memset(static_cast<void*>(&h), 0, sizeof h);
  h.type = static_cast<PacketType>(type);
  h.cls = static_cast<TrafficClass>(cls);
  h.flags = get8(p + 5);
  h.rail = get8(p + 6);
  h.ext = get8(p + 7);
  if (h.ext & ~ext::kMask) return ParseResult::bad_flags;
  if ((h.ext & ext::kMac) && !taggable(h.type)) return ParseResult::bad_flags;  // handshakes and messages carry their own HMAC
  if (h.rail >= kMaxRails) return ParseResult::bad_rail;
  const size_t fixed = fixed_header_size(h.type);
  const size_t room = fixed + tag_room(h);
  if (d.size() < room) return ParseResult::too_short;
  out.raw_header = d.first(fixed);
  out.mac = d.subspan(fixed, room - fixed);
  out.body = d.subspan(room);  // each type narrows it below

  switch (h.type) {
    case PacketType::data: {
      h.session = get32(p + 8);
      h.seq = get64(p + 12);
      h.transfer = get32(p + 20);
      h.chunk = get32(p + 24);
      h.floor_delta = get16(p + 28);
      h.body_len = get16(p + 30);
      size_t at = room;
      if (h.flags & flag::kMeta) {
        if (d.size() < at + kMetaSize) return ParseResult::length_mismatch;
        h.meta = get_meta(p + at);
        at += kMetaSize;
      }
      if (d.size() != at + h.body_len) return ParseResult::length_mismatch;
      out.body = d.subspan(at);
      return check_data(h);
    }
    case PacketType::ack:
      h.session = get32(p + 8);
      return parse_ack(d, room, out);
    case PacketType::probe:
    case PacketType::probe_reply:
      if (h.flags != 0) return ParseResult::bad_flags;
      h.session = get32(p + 8);
      if (get32(p + 12) != 0) return ParseResult::nonzero_unused;
      h.ts = get64(p + 16);
      if (d.size() != room) return ParseResult::length_mismatch;
      return ParseResult::ok;
    case PacketType::message: {
      // The tag leads the body; an ACK is the tag alone, a fragment has payload.
      if ((h.flags & ~flag::kMessageMask) != 0) return ParseResult::bad_flags;
      h.session = get32(p + 8);
      h.seq = get64(p + 12);
      h.body_len = get16(p + 20);
      if (get16(p + 22) != 0) return ParseResult::nonzero_unused;
      if (d.size() != room + h.body_len) return ParseResult::length_mismatch;
      out.body = d.subspan(room);
      const bool ack = (h.flags & flag::kMessageAck) != 0;
      if (ack && (h.flags & flag::kMore) != 0) return ParseResult::bad_flags;
      if (ack ? out.body.size() != kTagSize : out.body.size() <= kTagSize) return ParseResult::bad_body;
      return ParseResult::ok;
    }
    case PacketType::handshake_init:
    case PacketType::handshake_reply:
    case PacketType::handshake_confirm:
      if (h.flags != 0) return ParseResult::bad_flags;
      h.session = get64(p + 8);
      h.ts = get64(p + 16);
      if (d.size() != room + kHandshakeBodySize) return ParseResult::bad_body;
      out.body = d.subspan(room);
      decode_handshake_body(out.body.data(), out.handshake);
      return ParseResult::ok;
  }
  return ParseResult::bad_type;
}

ParseResult parse(std::span<const std::byte> datagram, Packet& out, ParseCounters& counters) {
  const ParseResult r = parse(datagram, out);
  counters.count(r);
  return r;
}

size_t header_room(const Header& h) {
  size_t n = fixed_header_size(h.type) + tag_room(h);
  if (h.type == PacketType::data && (h.flags & flag::kMeta)) n += kMetaSize;
  return n;
}

size_t encode_header(const Header& h, std::span<std::byte> out) {
  const size_t room = header_room(h);
  if (room == 0 || out.size() < room) return 0;
  std::byte* p = out.data();
  put_prefix(h, p);
  const size_t fixed = fixed_header_size(h.type);
  switch (h.type) {
    case PacketType::data:
      put32(p + 8, session_tag(h.session));
      put64(p + 12, h.seq);
      put32(p + 20, h.transfer);
      put32(p + 24, h.chunk);
      put16(p + 28, h.floor_delta);
      put16(p + 30, static_cast<uint16_t>(h.body_len));
      std::memset(p + fixed, 0, tag_room(h));
      if (h.flags & flag::kMeta) put_meta(h.meta, p + fixed + tag_room(h));
      return room;
    case PacketType::probe:
    case PacketType::probe_reply:
      put32(p + 8, session_tag(h.session));
      put32(p + 12, 0);
      put64(p + 16, h.ts);
      std::memset(p + fixed, 0, tag_room(h));
      return room;
    case PacketType::message:
      put32(p + 8, session_tag(h.session));
      put64(p + 12, h.seq);
      put16(p + 20, static_cast<uint16_t>(h.body_len));
      put16(p + 22, 0);
      return room;
    case PacketType::ack:
    case PacketType::handshake_init:
    case PacketType::handshake_reply:
    case PacketType::handshake_confirm:
      break;
  }
  return 0;
}

size_t encode_ack(Header h, const AckBody& ack, std::span<std::byte> out) {
  h.type = PacketType::ack;
  const size_t blocks = ack.block_count > kMaxSackBlocks ? kMaxSackBlocks : ack.block_count;
  const size_t room = kAckHeaderSize + tag_room(h);
  if (out.size() < room + blocks * kSackBlockSize) return 0;
  std::byte* p = out.data();
  put_prefix(h, p);
  put32(p + 8, session_tag(h.session));
  put64(p + 12, ack.cum);
  put64(p + 20, ack.trigger_seq);
  put32(p + 28, ack.ack_delay_ns);
  put8(p + 32, ack.trigger_rail);
  put8(p + 33, static_cast<uint8_t>(blocks));
  put8(p + 34, static_cast<uint8_t>(ack.verdict));
  put8(p + 35, 0);
  std::memset(p + kAckHeaderSize, 0, tag_room(h));
  for (size_t i = 0; i < blocks; ++i) {
    put64(p + room + i * kSackBlockSize, ack.blocks[i].start);
    put64(p + room + i * kSackBlockSize + 8, ack.blocks[i].end);
  }
  return room + blocks * kSackBlockSize;
}

void encode_handshake_body(const HandshakeBody& b, std::span<std::byte, kHandshakeBodySize> out) {
  std::byte* p = out.data();
  put64(p, b.from_node);
  put64(p + 8, b.to_node);
  put64(p + 16, b.wall_ns);
  std::memcpy(p + 24, b.init_nonce.data(), kNonceSize);
  std::memcpy(p + 24 + kNonceSize, b.reply_nonce.data(), kNonceSize);
  std::memcpy(p + 24 + 2 * kNonceSize, b.tag.data(), kTagSize);
}

size_t encode_handshake(Header h, const HandshakeBody& body, std::span<std::byte> out) {
  if (out.size() < kHandshakeHeaderSize + kHandshakeBodySize) return 0;
  h.ext = 0;
  std::byte* p = out.data();
  put_prefix(h, p);
  put64(p + 8, h.session);
  put64(p + 16, h.ts);
  encode_handshake_body(body, out.subspan(kHandshakeHeaderSize).first<kHandshakeBodySize>());
  return kHandshakeHeaderSize + kHandshakeBodySize;
}

uint64_t peek_data_seq(std::span<const std::byte> datagram) {
  if (datagram.size() < kDataHeaderSize || get8(datagram.data() + 3) != static_cast<uint8_t>(PacketType::data))
    return 0;
  return get64(datagram.data() + 12);
}

}  // namespace railyard::fabric
