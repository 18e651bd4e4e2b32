#include "tests/unit/ebpf/packet_builder.h"

#include <cstring>
#include <span>
#include <stdexcept>

namespace railyard::ebpf::test {
namespace {

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}

}  // namespace

std::vector<uint8_t> fabric_datagram(const fabric::Header& h, uint8_t fill) {
  std::vector<uint8_t> out(fabric::kMaxAckSize + fabric::kHandshakeBodySize + h.body_len, fill);
  const auto bytes = std::as_writable_bytes(std::span(out));
  size_t n = 0;
  switch (h.type) {
    case fabric::PacketType::ack:
      n = fabric::encode_ack(h, fabric::AckBody{.cum = 1, .trigger_seq = 1}, bytes);
      break;
    case fabric::PacketType::handshake_init:
    case fabric::PacketType::handshake_reply:
    case fabric::PacketType::handshake_confirm:
      n = fabric::encode_handshake(h, fabric::HandshakeBody{}, bytes);
      break;
    default:
      n = fabric::encode_header(h, bytes);
      if (n != 0) n += h.body_len;
  }
  if (n == 0) throw std::logic_error("cannot encode the fabric header");
  out.resize(n);
  return out;
}

uint16_t ipv4_checksum(const uint8_t* header, size_t length) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < length; i += 2) sum += static_cast<uint32_t>(header[i] << 8 | header[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void fix_ipv4_checksum(Frame& f) {
  uint8_t* ip = f.data() + kEthHeader;
  const size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
  put16(ip + 10, 0);
  put16(ip + 10, ipv4_checksum(ip, ihl));
}

Frame frame(const std::vector<uint8_t>& payload, const Ip& ip, const Udp& udp) {
  Frame f(kFabricOffset + payload.size(), 0);
  uint8_t* p = f.data();
  const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
  const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
  std::memcpy(p, dst_mac, 6);
  std::memcpy(p + 6, src_mac, 6);
  put16(p + 12, ip.ether_type);

  uint8_t* h = p + kEthHeader;
  h[0] = 0x45;
  h[1] = ip.tos;
  put16(h + 2, static_cast<uint16_t>(kIpHeader + kUdpHeader + payload.size()));
  put16(h + 4, ip.id);
  put16(h + 6, ip.frag_off);
  h[8] = ip.ttl;
  h[9] = ip.protocol;
  put32(h + 12, ip.src);
  put32(h + 16, ip.dst);
  put16(h + 10, ipv4_checksum(h, kIpHeader));

  uint8_t* u = h + kIpHeader;
  put16(u, udp.sport);
  put16(u + 2, udp.dport);
  put16(u + 4, static_cast<uint16_t>(kUdpHeader + payload.size()));
  put16(u + 6, 0);  // no UDP checksum: the programs never read it
  std::memcpy(u + kUdpHeader, payload.data(), payload.size());
  return f;
}

}  // namespace railyard::ebpf::test
