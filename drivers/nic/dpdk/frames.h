#pragma once
// Ethernet/IPv4/UDP and ARP frames as the DPDK rail writes and reads them.
// Pure functions over byte spans: no EAL, no allocation, no exceptions, so the
// unit tests exercise exactly the code the rail runs.
//
// A fabric datagram on the wire:
//   Ethernet (14) | IPv4 (20, no options, DF, ECT(0)) | UDP (8) | fabric header (92) | payload
// which is what the kernel puts on the wire for the UDP rail, so a DPDK host
// and a UDP-driver host talk to each other on the same rail.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "drivers/nic/rail.h"

namespace railyard::nic::dpdk {

inline constexpr size_t kEthernetHeader = 14;
inline constexpr size_t kIpv4Header = 20;
inline constexpr size_t kUdpHeader = 8;
inline constexpr size_t kFrameHeaders = kEthernetHeader + kIpv4Header + kUdpHeader;  // 42
inline constexpr size_t kArpFrame = 60;  // 42 bytes of ARP padded to Ethernet's minimum (without FCS)
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint8_t kIpProtoUdp = 17;

struct MacAddress {
  std::array<uint8_t, 6> bytes{};
  bool operator==(const MacAddress&) const = default;
  bool is_zero() const { return bytes == std::array<uint8_t, 6>{}; }
  bool is_multicast() const { return (bytes[0] & 1) != 0; }
  static constexpr MacAddress broadcast() { return {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}; }
};

/// "02:00:00:aa:bb:cc" (also with '-'); nullopt when malformed.
std::optional<MacAddress> parse_mac(std::string_view text);
std::string format_mac(const MacAddress& mac);

/// IPv4 addresses are host-order integers here (10.0.0.1 is 0x0a000001).
std::optional<uint32_t> parse_ipv4(std::string_view text);
std::string format_ipv4(uint32_t address);

/// One's-complement sum (RFC 1071) over pieces of any length, in order.
class ChecksumAccumulator {
 public:
  void add(std::span<const std::byte> bytes);
  void add_u16(uint16_t value);  // a 16-bit word at an even offset
  /// The folded sum, not complemented.
  uint16_t folded() const;
  /// The checksum field value: ~folded(), with 0 written as 0xffff (UDP's rule).
  uint16_t udp_field() const;

 private:
  uint64_t sum_ = 0;
  bool odd_ = false;  // the bytes added so far end at an odd offset
};

uint16_t ipv4_header_checksum(std::span<const std::byte, kIpv4Header> header);

/// Who a datagram goes from and to.
struct UdpAddressing {
  MacAddress src_mac, dst_mac;
  uint32_t src_ip = 0, dst_ip = 0;
  uint16_t src_port = 0, dst_port = 0;
  uint8_t tos = kEct0;  // DSCP << 2 | ECN
  uint16_t ip_id = 0;
};

enum class ChecksumMode : uint8_t {
  software,  // both checksums complete; the UDP one over the payload pieces passed to finish_udp_checksum
  offload,   // IPv4 checksum 0 and the UDP field holds the pseudo-header sum (what NIC offloads expect)
  ip_only,   // IPv4 checksum complete, UDP checksum 0 ("none", legal on IPv4)
};

/// Writes the 42 bytes of Ethernet/IPv4/UDP headers for a UDP payload of
/// `udp_payload` bytes. In software mode the UDP checksum is left 0: add the
/// payload with finish_udp_checksum.
void write_udp_headers(std::span<std::byte, kFrameHeaders> out, const UdpAddressing& a, size_t udp_payload,
                       ChecksumMode mode);

/// Completes the UDP checksum of headers written in software mode, the UDP
/// payload given as its pieces in order (fabric header, then payload).
void finish_udp_checksum(std::span<std::byte, kFrameHeaders> headers, std::span<const std::byte> piece1,
                         std::span<const std::byte> piece2 = {});

struct ArpPacket {
  uint16_t op = 0;  // 1 request, 2 reply
  MacAddress sender_mac;
  uint32_t sender_ip = 0;
  MacAddress target_mac;
  uint32_t target_ip = 0;
};
inline constexpr uint16_t kArpRequest = 1;
inline constexpr uint16_t kArpReply = 2;

/// Writes an Ethernet ARP frame (kArpFrame bytes, zero padded).
void write_arp(std::span<std::byte, kArpFrame> out, const MacAddress& eth_dst, const ArpPacket& arp);

/// The ARP reply to send for `request` when it asks for `own_ip`; nullopt otherwise.
std::optional<ArpPacket> arp_answer(const ArpPacket& request, uint32_t own_ip, const MacAddress& own_mac);

struct UdpDatagram {
  MacAddress src_mac;
  uint32_t src_ip = 0, dst_ip = 0;
  uint16_t src_port = 0, dst_port = 0;
  uint8_t tos = 0;
  std::span<const std::byte> payload;  // the UDP payload: fabric header and body
  bool checksum_partial = false;       // the UDP field held only the pseudo-header sum (see ParseOptions)
};

enum class FrameKind : uint8_t {
  udp,            // datagram filled
  arp,            // arp filled
  other,          // another EtherType or IP protocol: not ours, not an error
  truncated,      // shorter than its headers say
  bad_ip,         // version/IHL/length fields wrong
  bad_ip_checksum,
  fragment,       // MF or a fragment offset: fabric datagrams never fragment
  bad_udp,        // UDP length inconsistent with IP length
  bad_udp_checksum,
};

struct ParseOptions {
  bool verify_ip_checksum = true;   // false when the NIC already checked it
  bool verify_udp_checksum = true;  // false when the NIC already checked it
  /// A frame the kernel handed over before its checksum was computed
  /// (CHECKSUM_PARTIAL: a local sender on veth, whose "offload" never ran)
  /// carries the pseudo-header sum in the UDP field. af_packet and af_xdp
  /// pass such frames on without saying so; accepted as unchecked when set.
  bool accept_partial_udp_checksum = true;
};

/// Classifies one received Ethernet frame; fills `datagram` or `arp`.
/// Ethernet padding after the IP datagram is ignored.
FrameKind parse_frame(std::span<const std::byte> frame, const ParseOptions& options, UdpDatagram& datagram,
                      ArpPacket& arp);

}  // namespace railyard::nic::dpdk
