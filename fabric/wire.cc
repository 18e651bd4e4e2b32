#include "fabric/wire.h"

#include <cstring>
#include <limits>

namespace railyard::fabric {
namespace {

// Byte-wise big-endian access: the buffers come from drivers at any alignment.
void put8(std::byte* p, uint8_t v) { p[0] = std::byte{v}; }
void put16(std::byte* p, uint16_t v) {
  p[0] = std::byte(v >> 8);
  p[1] = std::byte(v);
}
void put32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (24 - 8 * i));
}
void put64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = std::byte(v >> (56 - 8 * i));
}
uint8_t get8(const std::byte* p) { return std::to_integer<uint8_t>(p[0]); }
uint16_t get16(const std::byte* p) { return static_cast<uint16_t>((get8(p) << 8) | get8(p + 1)); }
uint32_t get32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | get8(p + i);
  return v;
}
uint64_t get64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | get8(p + i);
  return v;
}

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

ParseResult check_data(const Header& h) {
  if (h.flags & ~flag::kDataMask) return ParseResult::bad_flags;
  if (h.chunk_size == 0 || h.body_len > h.chunk_size) return ParseResult::bad_range;
  if (h.offset % h.chunk_size != 0) return ParseResult::bad_range;
  if (h.body_len > h.total_len || h.offset > h.total_len - h.body_len) return ParseResult::bad_range;
  const bool last = (h.flags & flag::kLast) != 0;
  if (last) {
    if (h.offset + h.body_len != h.total_len) return ParseResult::bad_range;
  } else if (h.body_len != h.chunk_size || h.offset + h.body_len >= h.total_len) {
    return ParseResult::bad_range;
  }
  if (h.total_len > kU64Max - h.region_offset) return ParseResult::bad_range;
  // Chunk indices are 32-bit on both ends.
  if (h.total_len / h.chunk_size > std::numeric_limits<uint32_t>::max()) return ParseResult::bad_range;
  if (h.floor_delta >= kMaxInFlightPackets || h.floor_delta > h.seq) return ParseResult::bad_range;
  const bool crc_carried = last && (h.flags & flag::kChecksumRequested);
  if (!crc_carried && h.checksum != 0) return ParseResult::nonzero_unused;
  return ParseResult::ok;
}

ParseResult parse_ack(const Header& h, std::span<const std::byte> body, AckBody& ack) {
  if (h.flags & ~flag::kAckMask) return ParseResult::bad_flags;
  if (body.size() < kAckBodyFixed) return ParseResult::bad_body;
  const std::byte* p = body.data();
  ack.cum = get64(p);
  ack.trigger_seq = get64(p + 8);
  ack.ack_delay_ns = get32(p + 16);
  ack.trigger_rail = get8(p + 20);
  ack.block_count = get8(p + 21);
  const uint8_t verdict = get8(p + 22);
  if (verdict >= kVerdictCount || get8(p + 23) != 0) return ParseResult::bad_flags;
  ack.verdict = static_cast<Verdict>(verdict);
  if (ack.trigger_rail >= kMaxRails) return ParseResult::bad_rail;
  if (ack.block_count > kMaxSackBlocks) return ParseResult::bad_sack;
  if (body.size() != kAckBodyFixed + ack.block_count * kSackBlockSize) return ParseResult::bad_body;
  for (size_t i = 0; i < ack.block_count; ++i) {
    const std::byte* b = p + kAckBodyFixed + i * kSackBlockSize;
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
  if (d.size() < kHeaderSize) return ParseResult::too_short;
  const std::byte* p = d.data();
  if (get16(p) != kMagic) return ParseResult::bad_magic;
  if (get8(p + 2) != kVersion) return ParseResult::bad_version;
  const uint8_t type = get8(p + 3);
  if (type < static_cast<uint8_t>(PacketType::data) || type > static_cast<uint8_t>(PacketType::handshake_confirm))
    return ParseResult::bad_type;
  const uint8_t cls = get8(p + 4);
  if (cls >= kClassCount) return ParseResult::bad_class;
  Header& h = out.header;
  h.type = static_cast<PacketType>(type);
  h.cls = static_cast<TrafficClass>(cls);
  h.flags = get8(p + 5);
  h.rail = get8(p + 6);
  h.ext = get8(p + 7);
  if (h.ext & ~ext::kMask) return ParseResult::bad_flags;
  if (h.rail >= kMaxRails) return ParseResult::bad_rail;
  h.session = get64(p + 8);
  h.seq = get64(p + 16);
  h.send_ts = get64(p + 24);
  h.echo_ts = get64(p + 32);
  h.transfer = get64(p + 40);
  h.offset = get64(p + 48);
  h.total_len = get64(p + 56);
  h.region_offset = get64(p + 64);
  h.region = get32(p + 72);
  h.chunk_size = get32(p + 76);
  h.floor_delta = get32(p + 80);
  h.checksum = get32(p + 84);
  h.body_len = get32(p + 88);
  const size_t room = header_room(h);
  if (d.size() < room || h.body_len != d.size() - room) return ParseResult::length_mismatch;
  out.raw_header = d.first(kHeaderSize);
  out.mac = d.subspan(kHeaderSize, room - kHeaderSize);
  out.body = d.subspan(room);

  if (h.type == PacketType::data) return check_data(h);

  if (h.transfer | h.offset | h.total_len | h.region_offset | h.region | h.chunk_size | h.floor_delta | h.checksum)
    return ParseResult::nonzero_unused;
  switch (h.type) {
    case PacketType::ack:
      return parse_ack(h, out.body, out.ack);
    case PacketType::handshake_init:
    case PacketType::handshake_reply:
    case PacketType::handshake_confirm:
      // Handshakes carry their own HMAC (session_auth.h), never a packet tag.
      if (h.flags != 0 || h.ext != 0) return ParseResult::bad_flags;
      if (out.body.size() != kHandshakeBodySize) return ParseResult::bad_body;
      decode_handshake_body(out.body.data(), out.handshake);
      return ParseResult::ok;
    case PacketType::probe:
    case PacketType::probe_reply:
      if (h.flags != 0) return ParseResult::bad_flags;
      if (!out.body.empty()) return ParseResult::bad_body;
      return ParseResult::ok;
    case PacketType::message: {
      // The tag leads the body; an ACK is the tag alone, a fragment has payload.
      // Messages carry their own HMAC (peer_channel.h), never a packet tag.
      if ((h.flags & ~flag::kMessageMask) != 0 || h.ext != 0) return ParseResult::bad_flags;
      const bool ack = (h.flags & flag::kMessageAck) != 0;
      if (ack && (h.flags & flag::kMore) != 0) return ParseResult::bad_flags;
      if (ack ? out.body.size() != kTagSize : out.body.size() <= kTagSize) return ParseResult::bad_body;
      return ParseResult::ok;
    }
    case PacketType::data:
      break;
  }
  return ParseResult::bad_type;
}

ParseResult parse(std::span<const std::byte> datagram, Packet& out, ParseCounters& counters) {
  const ParseResult r = parse(datagram, out);
  counters.count(r);
  return r;
}

size_t encode_header(const Header& h, std::span<std::byte> out) {
  const size_t room = header_room(h);
  if (out.size() < room) return 0;
  std::byte* p = out.data();
  put16(p, kMagic);
  put8(p + 2, kVersion);
  put8(p + 3, static_cast<uint8_t>(h.type));
  put8(p + 4, static_cast<uint8_t>(h.cls));
  put8(p + 5, h.flags);
  put8(p + 6, h.rail);
  put8(p + 7, h.ext);
  put64(p + 8, h.session);
  put64(p + 16, h.seq);
  put64(p + 24, h.send_ts);
  put64(p + 32, h.echo_ts);
  put64(p + 40, h.transfer);
  put64(p + 48, h.offset);
  put64(p + 56, h.total_len);
  put64(p + 64, h.region_offset);
  put32(p + 72, h.region);
  put32(p + 76, h.chunk_size);
  put32(p + 80, h.floor_delta);
  put32(p + 84, h.checksum);
  put32(p + 88, h.body_len);
  std::memset(p + kHeaderSize, 0, room - kHeaderSize);
  return room;
}

size_t encode_ack(Header h, const AckBody& ack, std::span<std::byte> out) {
  const size_t blocks = ack.block_count > kMaxSackBlocks ? kMaxSackBlocks : ack.block_count;
  const size_t body = kAckBodyFixed + blocks * kSackBlockSize;
  const size_t room = header_room(h);
  if (out.size() < room + body) return 0;
  h.type = PacketType::ack;
  h.body_len = static_cast<uint32_t>(body);
  encode_header(h, out);
  std::byte* p = out.data() + room;
  put64(p, ack.cum);
  put64(p + 8, ack.trigger_seq);
  put32(p + 16, ack.ack_delay_ns);
  put8(p + 20, ack.trigger_rail);
  put8(p + 21, static_cast<uint8_t>(blocks));
  put8(p + 22, static_cast<uint8_t>(ack.verdict));
  put8(p + 23, 0);
  for (size_t i = 0; i < blocks; ++i) {
    put64(p + kAckBodyFixed + i * kSackBlockSize, ack.blocks[i].start);
    put64(p + kAckBodyFixed + i * kSackBlockSize + 8, ack.blocks[i].end);
  }
  return room + body;
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
  if (out.size() < kHeaderSize + kHandshakeBodySize) return 0;
  h.body_len = static_cast<uint32_t>(kHandshakeBodySize);
  encode_header(h, out);
  encode_handshake_body(body, out.subspan(kHeaderSize).first<kHandshakeBodySize>());
  return kHeaderSize + kHandshakeBodySize;
}

uint64_t peek_seq(std::span<const std::byte> header) {
  return header.size() >= kHeaderSize ? get64(header.data() + 16) : 0;
}

}  // namespace railyard::fabric
