// Arbitrary bytes as one fabric datagram. parse() must never read outside the
// input, and whatever it accepts must re-encode to exactly the same bytes
// (so the parser accepts only canonical encodings and loses no field; a
// packet tag is carried over as it is, parse() does not judge it) and parse
// again to the same packet.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "fabric/wire.h"

using namespace railyard::fabric;

namespace {

std::vector<std::byte> reencode(const Packet& p, size_t size) {
  std::vector<std::byte> out(size + kMaxAckSize + kMacSize + kHandshakeBodySize);
  size_t n = 0;
  switch (p.header.type) {
    case PacketType::ack:
      n = encode_ack(p.header, p.ack, out);
      break;
    case PacketType::handshake_init:
    case PacketType::handshake_reply:
    case PacketType::handshake_confirm:
      n = encode_handshake(p.header, p.handshake, out);
      break;
    case PacketType::data:
    case PacketType::probe:
    case PacketType::probe_reply:
    case PacketType::message:
      n = encode_header(p.header, out);
      if (n != 0 && !p.body.empty()) {
        std::memcpy(out.data() + n, p.body.data(), p.body.size());
        n += p.body.size();
      }
      break;
  }
  if (n != 0 && !p.mac.empty()) std::memcpy(out.data() + p.raw_header.size(), p.mac.data(), p.mac.size());
  out.resize(n);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  Packet p;
  ParseCounters counters;
  const ParseResult r = parse(in, p, counters);
  if (counters[r] != 1 || counters.rejected() != (r == ParseResult::ok ? 0u : 1u)) std::abort();
  if (r != ParseResult::ok) return 0;
  if (p.raw_header.data() != in.data() || p.raw_header.size() != fixed_header_size(p.header.type)) std::abort();
  if (p.body.data() + p.body.size() != in.data() + in.size()) std::abort();  // the body runs to the end
  if (p.header.type == PacketType::data &&
      (p.body.size() != p.header.body_len || p.body.data() != in.data() + header_room(p.header)))
    std::abort();
  const std::vector<std::byte> again = reencode(p, size);
  if (again.size() != size || std::memcmp(again.data(), data, size) != 0) std::abort();
  Packet q;
  if (parse(again, q) != ParseResult::ok || !(q.header == p.header)) std::abort();
  if (p.header.type == PacketType::ack && !(q.ack == p.ack)) std::abort();
  if ((p.header.type == PacketType::handshake_init || p.header.type == PacketType::handshake_reply ||
       p.header.type == PacketType::handshake_confirm) &&
      !(q.handshake == p.handshake))
    std::abort();
  if (p.header.type == PacketType::data && peek_data_seq(in) != p.header.seq) std::abort();
  if (p.header.type == PacketType::data && (p.header.flags & flag::kMeta)) {
    // A packet with meta is one chunk of a valid layout, exactly its length.
    const ChunkLayout layout = p.header.meta.layout();
    if (!layout.valid() || p.header.chunk >= layout.count() || p.body.size() != layout.length(p.header.chunk))
      std::abort();
  }
  return 0;
}
