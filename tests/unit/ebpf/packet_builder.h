#pragma once
// Builds Ethernet/IPv4/UDP frames carrying fabric datagrams for
// BPF_PROG_TEST_RUN (Katran's BpfTester style): the fabric header comes from
// fabric::encode_header, so the programs are tested against the real wire format.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fabric/wire.h"

namespace railyard::ebpf::test {

using Frame = std::vector<uint8_t>;

inline constexpr size_t kEthHeader = 14;
inline constexpr size_t kIpHeader = 20;
inline constexpr size_t kUdpHeader = 8;
inline constexpr size_t kFabricOffset = kEthHeader + kIpHeader + kUdpHeader;

struct Ip {
  uint8_t tos = 0x02;  // ECT(0), as the UDP rail sends
  uint16_t id = 1;
  uint16_t frag_off = 0x4000;  // DF
  uint8_t ttl = 64;
  uint8_t protocol = 17;  // UDP
  uint32_t src = 0xc6120001;  // 198.18.0.1
  uint32_t dst = 0xc6120002;  // 198.18.0.2
  uint16_t ether_type = 0x0800;
};

struct Udp {
  uint16_t sport = 7470;
  uint16_t dport = 7470;
};

/// One fabric datagram (UDP payload) of h.type: DATA, PROBE, MESSAGE with
/// `h.body_len` bytes of body; an ACK without blocks; a handshake with its body.
std::vector<uint8_t> fabric_datagram(const fabric::Header& h, uint8_t fill = 0x5a);

/// A frame around `payload` (one or several concatenated datagrams).
Frame frame(const std::vector<uint8_t>& payload, const Ip& ip = {}, const Udp& udp = {});

/// A frame with one fabric datagram.
inline Frame fabric_frame(const fabric::Header& h, const Ip& ip = {}, const Udp& udp = {}) {
  return frame(fabric_datagram(h), ip, udp);
}

/// The RFC 791 header checksum of `header` (checksum field included: 0 when valid).
uint16_t ipv4_checksum(const uint8_t* header, size_t length);
/// Recomputes the IPv4 checksum of a frame in place.
void fix_ipv4_checksum(Frame& f);

inline fabric::Header data_header(fabric::TrafficClass cls, uint32_t body) {
  // A chunk without meta: the header the bulk of a transfer's packets carry.
  return fabric::Header{.type = fabric::PacketType::data,
                        .cls = cls,
                        .rail = 0,
                        .session = 0x55667788,
                        .seq = 42,
                        .transfer = 7,
                        .chunk = 300,
                        .body_len = body};
}

inline fabric::Header control_header(fabric::PacketType type, fabric::TrafficClass cls, uint32_t body) {
  return fabric::Header{.type = type, .cls = cls, .session = 9, .seq = type == fabric::PacketType::message ? 3u : 0u,
                        .body_len = body};
}

}  // namespace railyard::ebpf::test
