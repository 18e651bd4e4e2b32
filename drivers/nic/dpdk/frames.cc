#include "drivers/nic/dpdk/frames.h"

#include <arpa/inet.h>

#include <bit>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace railyard::nic::dpdk {

namespace {

uint8_t get8(std::span<const std::byte> b, size_t at) { return std::to_integer<uint8_t>(b[at]); }
uint16_t get16(std::span<const std::byte> b, size_t at) {
  return static_cast<uint16_t>((get8(b, at) << 8) | get8(b, at + 1));
}
uint32_t get32(std::span<const std::byte> b, size_t at) {
  return (uint32_t{get16(b, at)} << 16) | get16(b, at + 2);
}
void put8(std::span<std::byte> b, size_t at, uint8_t v) { b[at] = std::byte{v}; }
void put16(std::span<std::byte> b, size_t at, uint16_t v) {
  b[at] = std::byte(v >> 8);
  b[at + 1] = std::byte(v & 0xff);
}
void put32(std::span<std::byte> b, size_t at, uint32_t v) {
  put16(b, at, static_cast<uint16_t>(v >> 16));
  put16(b, at + 2, static_cast<uint16_t>(v & 0xffff));
}
void put_mac(std::span<std::byte> b, size_t at, const MacAddress& m) { std::memcpy(b.data() + at, m.bytes.data(), 6); }
MacAddress get_mac(std::span<const std::byte> b, size_t at) {
  MacAddress m;
  std::memcpy(m.bytes.data(), b.data() + at, 6);
  return m;
}

uint16_t fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

/// Sum of the pseudo header of an IPv4 UDP datagram of `udp_length` bytes.
void add_pseudo_header(ChecksumAccumulator& sum, uint32_t src, uint32_t dst, uint16_t udp_length) {
  sum.add_u16(static_cast<uint16_t>(src >> 16));
  sum.add_u16(static_cast<uint16_t>(src & 0xffff));
  sum.add_u16(static_cast<uint16_t>(dst >> 16));
  sum.add_u16(static_cast<uint16_t>(dst & 0xffff));
  sum.add_u16(kIpProtoUdp);
  sum.add_u16(udp_length);
}

}  // namespace

std::optional<MacAddress> parse_mac(std::string_view text) {
  MacAddress mac;
  if (text.size() != 17) return std::nullopt;
  for (size_t i = 0; i < 6; ++i) {
    const size_t at = i * 3;
    if (i > 0 && text[at - 1] != ':' && text[at - 1] != '-') return std::nullopt;
    uint8_t value = 0;
    const auto [end, error] = std::from_chars(text.data() + at, text.data() + at + 2, value, 16);
    if (error != std::errc() || end != text.data() + at + 2) return std::nullopt;
    mac.bytes[i] = value;
  }
  return mac;
}

std::string format_mac(const MacAddress& m) {
  const auto& b = m.bytes;
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5]);
}

std::optional<uint32_t> parse_ipv4(std::string_view text) {
  if (text.size() >= INET_ADDRSTRLEN) return std::nullopt;
  char buffer[INET_ADDRSTRLEN] = {};
  std::memcpy(buffer, text.data(), text.size());
  in_addr address{};
  if (::inet_pton(AF_INET, buffer, &address) != 1) return std::nullopt;
  return ntohl(address.s_addr);
}

std::string format_ipv4(uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

void ChecksumAccumulator::add(std::span<const std::byte> bytes) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t n = bytes.size();
  if (n == 0) return;
  uint64_t local = 0;
  // A piece that starts at an odd offset pairs its first byte with the
  // previous piece's last one: that byte is the low half of a word.
  if (odd_) {
    local += *p++;
    --n;
    odd_ = false;
  }
  // RFC 1071's sum is byte-order independent: add native 32-bit words (8
  // bytes a step) into 64 bits, fold to 16, and swap the result into network
  // order. This was 4-7 % of a DPDK daemon's CPU at the byte-pair pace.
  uint64_t native = 0;
  while (n >= 8) {
    uint64_t w = 0;
    std::memcpy(&w, p, 8);
    native += (w & 0xffffffffu) + (w >> 32);
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    uint32_t w = 0;
    std::memcpy(&w, p, 4);
    native += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w = 0;
    std::memcpy(&w, p, 2);
    native += w;
    p += 2;
    n -= 2;
  }
  uint16_t folded_native = fold(native);
  if constexpr (std::endian::native == std::endian::little) {
    folded_native = static_cast<uint16_t>((folded_native >> 8) | (folded_native << 8));
  }
  local += folded_native;
  if (n == 1) {
    local += uint32_t{p[0]} << 8;
    odd_ = true;
  }
  sum_ += local;
}

void ChecksumAccumulator::add_u16(uint16_t value) { sum_ += value; }

uint16_t ChecksumAccumulator::folded() const { return fold(sum_); }

uint16_t ChecksumAccumulator::udp_field() const {
  const uint16_t c = static_cast<uint16_t>(~folded());
  return c == 0 ? 0xffff : c;
}

uint16_t ipv4_header_checksum(std::span<const std::byte, kIpv4Header> header) {
  ChecksumAccumulator sum;
  sum.add(header.first(10));
  sum.add(header.subspan(12));  // the checksum field itself counts as zero
  return static_cast<uint16_t>(~sum.folded());
}

void write_udp_headers(std::span<std::byte, kFrameHeaders> out, const UdpAddressing& a, size_t udp_payload,
                       ChecksumMode mode) {
  const std::span<std::byte> b(out);
  put_mac(b, 0, a.dst_mac);
  put_mac(b, 6, a.src_mac);
  put16(b, 12, kEtherTypeIpv4);

  const auto udp_length = static_cast<uint16_t>(kUdpHeader + udp_payload);
  const auto ip_length = static_cast<uint16_t>(kIpv4Header + udp_length);
  constexpr size_t ip = kEthernetHeader;
  put8(b, ip + 0, 0x45);  // version 4, IHL 5
  put8(b, ip + 1, a.tos);
  put16(b, ip + 2, ip_length);
  put16(b, ip + 4, a.ip_id);
  put16(b, ip + 6, 0x4000);  // DF, offset 0: fabric datagrams are sized to the MTU
  put8(b, ip + 8, 64);
  put8(b, ip + 9, kIpProtoUdp);
  put16(b, ip + 10, 0);
  put32(b, ip + 12, a.src_ip);
  put32(b, ip + 16, a.dst_ip);
  if (mode != ChecksumMode::offload) put16(b, ip + 10, ipv4_header_checksum(out.subspan<ip, kIpv4Header>()));

  constexpr size_t udp = ip + kIpv4Header;
  put16(b, udp + 0, a.src_port);
  put16(b, udp + 2, a.dst_port);
  put16(b, udp + 4, udp_length);
  put16(b, udp + 6, 0);
  if (mode == ChecksumMode::offload) {
    ChecksumAccumulator sum;
    add_pseudo_header(sum, a.src_ip, a.dst_ip, udp_length);
    put16(b, udp + 6, sum.folded());  // not complemented: the NIC finishes it
  }
}

void finish_udp_checksum(std::span<std::byte, kFrameHeaders> headers, std::span<const std::byte> piece1,
                         std::span<const std::byte> piece2) {
  const std::span<std::byte> b(headers);
  constexpr size_t ip = kEthernetHeader;
  constexpr size_t udp = ip + kIpv4Header;
  const uint16_t udp_length = get16(b, udp + 4);
  ChecksumAccumulator sum;
  add_pseudo_header(sum, get32(b, ip + 12), get32(b, ip + 16), udp_length);
  put16(b, udp + 6, 0);
  sum.add(b.subspan(udp, kUdpHeader));
  sum.add(piece1);
  sum.add(piece2);
  put16(b, udp + 6, sum.udp_field());
}

void write_arp(std::span<std::byte, kArpFrame> out, const MacAddress& eth_dst, const ArpPacket& arp) {
  const std::span<std::byte> b(out);
  std::memset(b.data(), 0, b.size());
  put_mac(b, 0, eth_dst);
  put_mac(b, 6, arp.sender_mac);
  put16(b, 12, kEtherTypeArp);
  constexpr size_t a = kEthernetHeader;
  put16(b, a + 0, 1);  // hardware: Ethernet
  put16(b, a + 2, kEtherTypeIpv4);
  put8(b, a + 4, 6);
  put8(b, a + 5, 4);
  put16(b, a + 6, arp.op);
  put_mac(b, a + 8, arp.sender_mac);
  put32(b, a + 14, arp.sender_ip);
  put_mac(b, a + 18, arp.target_mac);
  put32(b, a + 24, arp.target_ip);
}

std::optional<ArpPacket> arp_answer(const ArpPacket& request, uint32_t own_ip, const MacAddress& own_mac) {
  if (request.op != kArpRequest || request.target_ip != own_ip || own_ip == 0) return std::nullopt;
  if (request.sender_mac.is_multicast() || request.sender_mac.is_zero()) return std::nullopt;
  return ArpPacket{.op = kArpReply,
                   .sender_mac = own_mac,
                   .sender_ip = own_ip,
                   .target_mac = request.sender_mac,
                   .target_ip = request.sender_ip};
}

FrameKind parse_frame(std::span<const std::byte> frame, const ParseOptions& options, UdpDatagram& datagram,
                      ArpPacket& arp) {
  if (frame.size() < kEthernetHeader) return FrameKind::truncated;
  const uint16_t type = get16(frame, 12);
  if (type == kEtherTypeArp) {
    constexpr size_t a = kEthernetHeader;
    if (frame.size() < a + 28) return FrameKind::truncated;
    if (get16(frame, a) != 1 || get16(frame, a + 2) != kEtherTypeIpv4 || get8(frame, a + 4) != 6 ||
        get8(frame, a + 5) != 4) {
      return FrameKind::other;  // ARP for another hardware or protocol type
    }
    arp.op = get16(frame, a + 6);
    arp.sender_mac = get_mac(frame, a + 8);
    arp.sender_ip = get32(frame, a + 14);
    arp.target_mac = get_mac(frame, a + 18);
    arp.target_ip = get32(frame, a + 24);
    return FrameKind::arp;
  }
  if (type != kEtherTypeIpv4) return FrameKind::other;

  const auto ip = frame.subspan(kEthernetHeader);
  if (ip.size() < kIpv4Header) return FrameKind::truncated;
  const uint8_t version_ihl = get8(ip, 0);
  const size_t ihl = size_t{version_ihl & 0x0fu} * 4;
  if ((version_ihl >> 4) != 4 || ihl < kIpv4Header) return FrameKind::bad_ip;
  const uint16_t total = get16(ip, 2);
  if (total < ihl) return FrameKind::bad_ip;
  if (ip.size() < total || ip.size() < ihl) return FrameKind::truncated;
  if (options.verify_ip_checksum) {
    ChecksumAccumulator sum;
    sum.add(ip.first(ihl));
    if (sum.folded() != 0xffff) return FrameKind::bad_ip_checksum;
  }
  if (get8(ip, 9) != kIpProtoUdp) return FrameKind::other;
  if ((get16(ip, 6) & 0x3fff) != 0) return FrameKind::fragment;  // MF or an offset

  const auto udp = ip.subspan(ihl, total - ihl);
  if (udp.size() < kUdpHeader) return FrameKind::bad_udp;
  const uint16_t udp_length = get16(udp, 4);
  if (udp_length < kUdpHeader || udp_length > udp.size()) return FrameKind::bad_udp;
  const uint32_t src = get32(ip, 12), dst = get32(ip, 16);
  const auto datagram_bytes = udp.first(udp_length);
  bool partial = false;
  if (options.verify_udp_checksum && get16(udp, 6) != 0) {  // 0: the sender computed none
    ChecksumAccumulator sum;
    add_pseudo_header(sum, src, dst, udp_length);
    const uint16_t pseudo = sum.folded();
    sum.add(datagram_bytes);
    if (sum.folded() != 0xffff) {
      partial = options.accept_partial_udp_checksum && get16(udp, 6) == pseudo;
      if (!partial) return FrameKind::bad_udp_checksum;
    }
  }
  datagram.checksum_partial = partial;
  datagram.src_mac = get_mac(frame, 6);
  datagram.src_ip = src;
  datagram.dst_ip = dst;
  datagram.src_port = get16(udp, 0);
  datagram.dst_port = get16(udp, 2);
  datagram.tos = get8(ip, 1);
  datagram.payload = datagram_bytes.subspan(kUdpHeader);
  return FrameKind::udp;
}

}  // namespace railyard::nic::dpdk
