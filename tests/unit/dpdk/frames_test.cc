// Frame building and parsing for the DPDK rail, checked against fixed byte
// vectors (a frame the kernel would send) and against each other.
#include "drivers/nic/dpdk/frames.h"

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace railyard::nic::dpdk {
namespace {

std::vector<std::byte> hex(std::string_view text) {
  std::vector<std::byte> out;
  for (size_t i = 0; i + 1 < text.size();) {
    if (text[i] == ' ') {
      ++i;
      continue;
    }
    out.push_back(static_cast<std::byte>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
    i += 2;
  }
  return out;
}

std::span<const std::byte> bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

const MacAddress kMacA = *parse_mac("02:00:00:00:00:0a");
const MacAddress kMacB = *parse_mac("02:00:00:00:00:0b");

UdpAddressing addressing() {
  return UdpAddressing{.src_mac = kMacA,
                       .dst_mac = kMacB,
                       .src_ip = *parse_ipv4("10.0.0.1"),
                       .dst_ip = *parse_ipv4("10.0.0.2"),
                       .src_port = 47901,
                       .dst_port = 47902,
                       .tos = kEct0,
                       .ip_id = 0x1234};
}

std::vector<std::byte> build(const std::string& header, const std::string& payload, ChecksumMode mode) {
  std::vector<std::byte> frame(kFrameHeaders + header.size() + payload.size());
  const std::span<std::byte, kFrameHeaders> h(frame.data(), kFrameHeaders);
  write_udp_headers(h, addressing(), header.size() + payload.size(), mode);
  std::memcpy(frame.data() + kFrameHeaders, header.data(), header.size());
  std::memcpy(frame.data() + kFrameHeaders + header.size(), payload.data(), payload.size());
  if (mode == ChecksumMode::software) finish_udp_checksum(h, bytes(header), bytes(payload));
  return frame;
}

TEST(Addresses, MacAndIpv4ParseAndFormat) {
  EXPECT_EQ(format_mac(*parse_mac("02:AB:cd:00:01:ff")), "02:ab:cd:00:01:ff");
  EXPECT_TRUE(parse_mac("02-00-00-00-00-01"));
  EXPECT_FALSE(parse_mac("02:00:00:00:00"));
  EXPECT_FALSE(parse_mac("02:00:00:00:00:0g"));
  EXPECT_FALSE(parse_mac("0200:00:00:00:01"));
  EXPECT_TRUE(MacAddress::broadcast().is_multicast());
  EXPECT_EQ(*parse_ipv4("10.1.2.3"), 0x0a010203u);
  EXPECT_EQ(format_ipv4(0x0a010203u), "10.1.2.3");
  EXPECT_FALSE(parse_ipv4("10.1.2"));
  EXPECT_FALSE(parse_ipv4("10.1.2.256"));
  EXPECT_FALSE(parse_ipv4(std::string(40, '1')));
}

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
  ChecksumAccumulator sum;
  sum.add(hex("0001f203f4f5f6f7"));
  EXPECT_EQ(sum.folded(), 0xddf2);
}

TEST(Checksum, PiecesOfAnyLengthSumLikeOneBuffer) {
  std::vector<std::byte> data(257);
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::byte(i * 37 + 11);
  ChecksumAccumulator whole;
  whole.add(data);
  for (size_t cut1 : {0, 1, 2, 3, 100, 101}) {
    for (size_t cut2 : {cut1, cut1 + 1, cut1 + 7, size_t{200}}) {
      ChecksumAccumulator parts;
      const std::span<const std::byte> d(data);
      parts.add(d.subspan(0, cut1));
      parts.add(d.subspan(cut1, cut2 - cut1));
      parts.add(d.subspan(cut2));
      EXPECT_EQ(parts.folded(), whole.folded()) << cut1 << " " << cut2;
    }
  }
}

TEST(Checksum, MatchesAByteByByteReference) {
  // RFC 1071 done the plain way: big-endian 16-bit words, an odd last byte padded.
  const auto reference = [](std::span<const std::byte> d) {
    uint64_t sum = 0;
    for (size_t i = 0; i < d.size(); i += 2) {
      sum += uint32_t{std::to_integer<uint8_t>(d[i])} << 8;
      if (i + 1 < d.size()) sum += std::to_integer<uint8_t>(d[i + 1]);
    }
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(sum);
  };
  uint32_t seed = 12345;
  for (size_t length : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{8}, size_t{9}, size_t{15},
                        size_t{63}, size_t{64}, size_t{65}, size_t{1380}, size_t{1472}, size_t{9000}, size_t{65535}}) {
    for (int fill = 0; fill < 3; ++fill) {
      std::vector<std::byte> data(length);
      for (auto& b : data) {
        seed = seed * 1103515245u + 12345u;
        b = fill == 0 ? std::byte{0xff} : fill == 1 ? std::byte{0} : std::byte(seed >> 24);
      }
      ChecksumAccumulator sum;
      sum.add(data);
      EXPECT_EQ(sum.folded(), reference(data)) << "length " << length << " fill " << fill;
      // And split at an odd offset, which pairs bytes across the pieces.
      if (length > 3) {
        ChecksumAccumulator parts;
        parts.add(std::span<const std::byte>(data).first(3));
        parts.add(std::span<const std::byte>(data).subspan(3));
        EXPECT_EQ(parts.folded(), reference(data)) << "split, length " << length;
      }
    }
  }
}

TEST(Checksum, Ipv4HeaderKnownValue) {
  // A textbook header (Wikipedia's IPv4 checksum example): checksum b861.
  const auto header = hex("450000730000400040110000c0a80001c0a800c7");
  EXPECT_EQ(ipv4_header_checksum(std::span<const std::byte, kIpv4Header>(header.data(), kIpv4Header)), 0xb861);
}

TEST(UdpFrame, HeadersAreWhatTheKernelWrites) {
  const std::string header(92, 'H'), payload = "payload!";
  const auto frame = build(header, payload, ChecksumMode::software);
  ASSERT_EQ(frame.size(), 42u + 100u);
  // Ethernet: dst, src, IPv4.
  EXPECT_EQ(std::vector<std::byte>(frame.begin(), frame.begin() + 14), hex("02000000000b 02000000000a 0800"));
  // IPv4: 45, ECT(0), total 128, id 1234, DF, TTL 64, UDP, checksum, addresses.
  const auto ip = std::vector<std::byte>(frame.begin() + 14, frame.begin() + 34);
  EXPECT_EQ(std::vector<std::byte>(ip.begin(), ip.begin() + 10), hex("4502 0080 1234 4000 4011"));
  EXPECT_EQ(std::vector<std::byte>(ip.begin() + 12, ip.end()), hex("0a000001 0a000002"));
  ChecksumAccumulator ip_sum;
  ip_sum.add(ip);
  EXPECT_EQ(ip_sum.folded(), 0xffff) << "a valid IPv4 header sums to all ones";
  // UDP: ports 47901 (bb1d), 47902 (bb1e), length 108.
  EXPECT_EQ(std::vector<std::byte>(frame.begin() + 34, frame.begin() + 40), hex("bb1d bb1e 006c"));
}

TEST(UdpFrame, RoundTripInEveryChecksumMode) {
  const std::string header(92, 'h');
  std::string payload(1400, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
  for (const ChecksumMode mode : {ChecksumMode::software, ChecksumMode::ip_only}) {
    const auto frame = build(header, payload, mode);
    UdpDatagram d;
    ArpPacket arp;
    ASSERT_EQ(parse_frame(frame, {}, d, arp), FrameKind::udp) << static_cast<int>(mode);
    EXPECT_EQ(d.src_ip, addressing().src_ip);
    EXPECT_EQ(d.dst_ip, addressing().dst_ip);
    EXPECT_EQ(d.src_port, 47901);
    EXPECT_EQ(d.dst_port, 47902);
    EXPECT_EQ(d.src_mac, kMacA);
    EXPECT_EQ(d.tos & kEcnMask, kEct0);
    EXPECT_FALSE(d.checksum_partial);
    ASSERT_EQ(d.payload.size(), header.size() + payload.size());
    EXPECT_EQ(std::memcmp(d.payload.data(), (header + payload).data(), d.payload.size()), 0);
  }
  // ip_only writes UDP checksum 0 ("none").
  const auto none = build(header, payload, ChecksumMode::ip_only);
  EXPECT_EQ(none[40], std::byte{0});
  EXPECT_EQ(none[41], std::byte{0});
}

TEST(UdpFrame, OffloadModeLeavesThePseudoHeaderSum) {
  const std::string header(92, 'o'), payload(100, 'p');
  auto frame = build(header, payload, ChecksumMode::offload);
  EXPECT_EQ(frame[24], std::byte{0});  // IPv4 checksum left to the NIC
  EXPECT_EQ(frame[25], std::byte{0});
  // What a NIC does: complete both; the result equals the software frame.
  const auto software = build(header, payload, ChecksumMode::software);
  const std::span<std::byte, kFrameHeaders> h(frame.data(), kFrameHeaders);
  finish_udp_checksum(h, bytes(header), bytes(payload));
  const uint16_t ip = ipv4_header_checksum(std::span<const std::byte, kIpv4Header>(frame.data() + 14, kIpv4Header));
  frame[24] = std::byte(ip >> 8);
  frame[25] = std::byte(ip & 0xff);
  EXPECT_EQ(frame, software);
}

TEST(UdpFrame, PartialChecksumFromALocalKernelSenderIsAcceptedOnlyWhenAllowed) {
  const std::string header(92, 'k'), payload(300, 'q');
  auto frame = build(header, payload, ChecksumMode::offload);  // UDP field = pseudo-header sum, as CHECKSUM_PARTIAL
  const uint16_t ip = ipv4_header_checksum(std::span<const std::byte, kIpv4Header>(frame.data() + 14, kIpv4Header));
  frame[24] = std::byte(ip >> 8);
  frame[25] = std::byte(ip & 0xff);
  UdpDatagram d;
  ArpPacket arp;
  ASSERT_EQ(parse_frame(frame, {}, d, arp), FrameKind::udp);
  EXPECT_TRUE(d.checksum_partial);
  EXPECT_EQ(parse_frame(frame, {.accept_partial_udp_checksum = false}, d, arp), FrameKind::bad_udp_checksum);
}

TEST(UdpFrame, DamageIsDetected) {
  const std::string header(92, 'd'), payload(64, 'e');
  const auto good = build(header, payload, ChecksumMode::software);
  UdpDatagram d;
  ArpPacket arp;
  auto flip = [&good](size_t at) {
    auto f = good;
    f[at] ^= std::byte{0x40};
    return f;
  };
  EXPECT_EQ(parse_frame(flip(42 + 92 + 5), {}, d, arp), FrameKind::bad_udp_checksum);
  EXPECT_EQ(parse_frame(flip(14 + 8), {}, d, arp), FrameKind::bad_ip_checksum);  // TTL
  EXPECT_EQ(parse_frame(flip(42 + 92 + 5), {.verify_udp_checksum = false}, d, arp), FrameKind::udp);
  EXPECT_EQ(parse_frame(std::span(good).first(good.size() - 1), {}, d, arp), FrameKind::truncated);
  EXPECT_EQ(parse_frame(std::span(good).first(10), {}, d, arp), FrameKind::truncated);
  auto version = good;
  version[14] = std::byte{0x65};
  EXPECT_EQ(parse_frame(version, {}, d, arp), FrameKind::bad_ip);
}

TEST(UdpFrame, FragmentsOtherProtocolsAndPaddingAreSortedOut) {
  const std::string header(92, 'f');
  UdpDatagram d;
  ArpPacket arp;
  auto with_ip_field = [&header](size_t offset, uint8_t value) {
    auto f = build(header, "", ChecksumMode::ip_only);
    f[14 + offset] = std::byte{value};
    f[24] = f[25] = std::byte{0};
    const uint16_t ip = ipv4_header_checksum(std::span<const std::byte, kIpv4Header>(f.data() + 14, kIpv4Header));
    f[24] = std::byte(ip >> 8);
    f[25] = std::byte(ip & 0xff);
    return f;
  };
  EXPECT_EQ(parse_frame(with_ip_field(6, 0x60), {}, d, arp), FrameKind::fragment);  // DF + MF
  EXPECT_EQ(parse_frame(with_ip_field(9, 6), {}, d, arp), FrameKind::other);        // TCP
  auto ipv6 = build(header, "", ChecksumMode::software);
  ipv6[12] = std::byte{0x86};
  ipv6[13] = std::byte{0xdd};
  EXPECT_EQ(parse_frame(ipv6, {}, d, arp), FrameKind::other);
  // Ethernet pads short frames to 60 bytes: the padding is not payload.
  auto small = build("", "", ChecksumMode::software);
  small.resize(60);
  ASSERT_EQ(parse_frame(small, {}, d, arp), FrameKind::udp);
  EXPECT_TRUE(d.payload.empty());
  // A UDP length beyond the IP datagram.
  auto bad_udp = build(header, "", ChecksumMode::ip_only);
  bad_udp[38] = std::byte{0x7f};
  EXPECT_EQ(parse_frame(bad_udp, {}, d, arp), FrameKind::bad_udp);
}

TEST(Arp, RequestAndReplyRoundTrip) {
  const uint32_t own = *parse_ipv4("10.0.0.1"), peer = *parse_ipv4("10.0.0.2");
  std::array<std::byte, kArpFrame> frame{};
  const ArpPacket request{.op = kArpRequest, .sender_mac = kMacB, .sender_ip = peer, .target_mac = {}, .target_ip = own};
  write_arp(frame, MacAddress::broadcast(), request);
  // Byte layout: broadcast, sender MAC, 0806, Ethernet/IPv4 6/4, op 1.
  EXPECT_EQ(std::vector<std::byte>(frame.begin(), frame.begin() + 22),
            hex("ffffffffffff 02000000000b 0806 0001 0800 06 04 0001"));
  UdpDatagram d;
  ArpPacket parsed;
  ASSERT_EQ(parse_frame(frame, {}, d, parsed), FrameKind::arp);
  EXPECT_EQ(parsed.op, kArpRequest);
  EXPECT_EQ(parsed.sender_mac, kMacB);
  EXPECT_EQ(parsed.sender_ip, peer);
  EXPECT_EQ(parsed.target_ip, own);

  const auto reply = arp_answer(parsed, own, kMacA);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->op, kArpReply);
  EXPECT_EQ(reply->sender_mac, kMacA);
  EXPECT_EQ(reply->sender_ip, own);
  EXPECT_EQ(reply->target_mac, kMacB);
  EXPECT_EQ(reply->target_ip, peer);
}

TEST(Arp, OnlyRequestsForOurAddressAreAnswered) {
  const uint32_t own = *parse_ipv4("10.0.0.1");
  ArpPacket request{.op = kArpRequest, .sender_mac = kMacB, .sender_ip = *parse_ipv4("10.0.0.2"), .target_ip = *parse_ipv4("10.0.0.3")};
  EXPECT_FALSE(arp_answer(request, own, kMacA)) << "another address";
  request.target_ip = own;
  request.op = kArpReply;
  EXPECT_FALSE(arp_answer(request, own, kMacA)) << "a reply is not answered";
  request.op = kArpRequest;
  request.sender_mac = MacAddress::broadcast();
  EXPECT_FALSE(arp_answer(request, own, kMacA)) << "a multicast sender is bogus";
}

TEST(Arp, OtherHardwareTypesAreNotOurs) {
  std::array<std::byte, kArpFrame> frame{};
  write_arp(frame, MacAddress::broadcast(), ArpPacket{.op = kArpRequest, .sender_mac = kMacB});
  frame[15] = std::byte{6};  // hardware type 6 (IEEE 802)
  UdpDatagram d;
  ArpPacket arp;
  EXPECT_EQ(parse_frame(frame, {}, d, arp), FrameKind::other);
  EXPECT_EQ(parse_frame(std::span(frame).first(30), {}, d, arp), FrameKind::truncated);
}

}  // namespace
}  // namespace railyard::nic::dpdk
