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

std::vector<std::byte> reencode(const Packet& p) {
  std::vector<std::byte> out(kHeaderSize + kMacSize + p.body.size() + kMaxAckBody + kHandshakeBodySize);
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
  if (n != 0 && !p.mac.empty()) std::memcpy(out.data() + kHeaderSize, p.mac.data(), p.mac.size());
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
  if (p.body.size() != p.header.body_len || p.body.data() != in.data() + header_room(p.header)) std::abort();
  if (p.raw_header.data() != in.data() || p.raw_header.size() != kHeaderSize) std::abort();
  const std::vector<std::byte> again = reencode(p);
  if (again.size() != size || std::memcmp(again.data(), data, size) != 0) std::abort();
  Packet q;
  if (parse(again, q) != ParseResult::ok || !(q.header == p.header)) std::abort();
  if (p.header.type == PacketType::ack && !(q.ack == p.ack)) std::abort();
  if ((p.header.type == PacketType::handshake_init || p.header.type == PacketType::handshake_reply ||
       p.header.type == PacketType::handshake_confirm) &&
      !(q.handshake == p.handshake))
    std::abort();
  if (peek_seq(in) != p.header.seq) std::abort();
  return 0;
}
