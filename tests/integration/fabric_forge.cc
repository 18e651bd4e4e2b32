// fabric_forge: a hostile host on the rails, for tests/integration/fabric_hostile.sh.
// It captures fabric datagrams on its own interfaces (AF_PACKET; the test
// makes the rack's bridges flood so it sees the hosts' traffic) and sends
// datagrams with any source address (raw IPv4 socket, IP_HDRINCL), built with
// the fabric's own encoders, so the daemons see them as coming from a peer.
//
//   fabric_forge capture --iface IF... --seconds S --out FILE
//       fabric datagrams seen on the interfaces, appended to FILE
//   fabric_forge show --in FILE --from A --to B
//       "session S max_seq Q max_transfer T count N" of the last session
//       seen from A to B (IPv4 addresses)
//   fabric_forge replay --in FILE [--type data|ack|init|any] [--from A] [--to B] [--times N]
//       sends the captured datagrams again, from and to their own addresses
//   fabric_forge ack --from A --to B --session S --cum N [--sack START:END] [--count N]
//   fabric_forge data --from A --to B --session S --seq N [--floor-delta D] [--transfer T]
//                     [--transfer-step K] [--total L] [--count N] [--mac]
//   fabric_forge message --from A --to B --session S [--count N]   MESSAGEs with a wrong tag
//
// Addresses are IPv4; every datagram goes from port 7470 (the fabric's) to 7470.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fabric/wire.h"

using namespace railyard;

namespace {

constexpr uint16_t kPort = 7470;

struct Options {
  std::string command;
  std::vector<std::string> ifaces;
  std::map<std::string, std::string> values;
  bool mac = false;
  std::string get(const std::string& key, const std::string& fallback = "") const {
    auto it = values.find(key);
    return it == values.end() ? fallback : it->second;
  }
  uint64_t number(const std::string& key, uint64_t fallback) const {
    auto it = values.find(key);
    return it == values.end() ? fallback : std::stoull(it->second, nullptr, 0);
  }
  std::string required(const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end()) throw std::runtime_error("--" + key + " is required for " + command);
    return it->second;
  }
};

uint32_t ipv4(const std::string& text) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) throw std::runtime_error("not an IPv4 address: " + text);
  return a.s_addr;
}

// ---- capture file: one record per datagram: u32 src, u32 dst, u16 len, bytes.

struct Record {
  uint32_t src = 0, dst = 0;
  std::vector<std::byte> bytes;
};

std::vector<Record> read_capture(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<Record> out;
  for (;;) {
    Record r;
    uint16_t len = 0;
    if (!in.read(reinterpret_cast<char*>(&r.src), 4) || !in.read(reinterpret_cast<char*>(&r.dst), 4) ||
        !in.read(reinterpret_cast<char*>(&len), 2))
      break;
    r.bytes.resize(len);
    if (!in.read(reinterpret_cast<char*>(r.bytes.data()), len)) break;
    out.push_back(std::move(r));
  }
  return out;
}

int capture(const Options& o) {
  if (o.ifaces.empty()) throw std::runtime_error("capture needs --iface");
  std::ofstream out(o.required("out"), std::ios::binary | std::ios::app);
  std::vector<pollfd> fds;
  for (const std::string& name : o.ifaces) {
    const int fd = ::socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
    if (fd < 0) throw std::runtime_error("AF_PACKET socket: " + std::string(std::strerror(errno)));
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_IP);
    sll.sll_ifindex = static_cast<int>(if_nametoindex(name.c_str()));
    if (sll.sll_ifindex == 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
      throw std::runtime_error("cannot capture on " + name);
    fds.push_back({.fd = fd, .events = POLLIN, .revents = 0});
  }
  std::cout << "capturing" << std::endl;  // the sockets are bound: what is sent from now on is seen
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.number("seconds", 2) * 1000);
  std::vector<std::byte> buf(65536);
  size_t kept = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
    for (const pollfd& p : fds) {
      if (!(p.revents & POLLIN)) continue;
      const ssize_t n = ::recv(p.fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < static_cast<ssize_t>(sizeof(iphdr) + sizeof(udphdr))) continue;
      const auto* ip = reinterpret_cast<const iphdr*>(buf.data());
      if (ip->protocol != IPPROTO_UDP || ip->ihl != 5) continue;
      const auto* udp = reinterpret_cast<const udphdr*>(buf.data() + sizeof(iphdr));
      if (ntohs(udp->dest) != kPort) continue;
      const size_t off = sizeof(iphdr) + sizeof(udphdr);
      const size_t len = std::min<size_t>(static_cast<size_t>(n) - off, ntohs(udp->len) - sizeof(udphdr));
      fabric::Packet pkt;
      if (fabric::parse(std::span(buf).subspan(off, len), pkt) != fabric::ParseResult::ok) continue;
      const uint16_t l = static_cast<uint16_t>(len);
      out.write(reinterpret_cast<const char*>(&ip->saddr), 4);
      out.write(reinterpret_cast<const char*>(&ip->daddr), 4);
      out.write(reinterpret_cast<const char*>(&l), 2);
      out.write(reinterpret_cast<const char*>(buf.data() + off), l);
      ++kept;
    }
  }
  for (const pollfd& p : fds) ::close(p.fd);
  std::cout << fmt::format("captured {} fabric datagrams\n", kept);
  return 0;
}

int show(const Options& o) {
  const uint32_t from = ipv4(o.required("from")), to = ipv4(o.required("to"));
  uint64_t session = 0, max_seq = 0, max_transfer = 0, count = 0;
  for (const Record& r : read_capture(o.required("in"))) {
    fabric::Packet p;
    if (r.src != from || r.dst != to || fabric::parse(r.bytes, p) != fabric::ParseResult::ok) continue;
    if (p.header.session == 0) continue;
    if (p.header.session != session) session = p.header.session, max_seq = max_transfer = count = 0;
    ++count;
    max_seq = std::max(max_seq, p.header.seq);
    max_transfer = std::max<uint64_t>(max_transfer, p.header.transfer);
  }
  if (session == 0) throw std::runtime_error("no session datagram from " + o.get("from") + " to " + o.get("to"));
  std::cout << fmt::format("session {:#x} max_seq {} max_transfer {} count {}\n", session, max_seq, max_transfer,
                           count);
  return 0;
}

// ---- sending with any source address.

class Spoofer {
 public:
  Spoofer() : fd_(::socket(AF_INET, SOCK_RAW, IPPROTO_RAW)) {
    if (fd_ < 0) throw std::runtime_error("raw socket: " + std::string(std::strerror(errno)) + " (needs root)");
  }
  ~Spoofer() { ::close(fd_); }
  void send(uint32_t src, uint32_t dst, std::span<const std::byte> payload) {
    std::vector<std::byte> pkt(sizeof(iphdr) + sizeof(udphdr) + payload.size());
    auto* ip = reinterpret_cast<iphdr*>(pkt.data());
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->tot_len = htons(static_cast<uint16_t>(pkt.size()));
    ip->saddr = src;
    ip->daddr = dst;
    auto* udp = reinterpret_cast<udphdr*>(pkt.data() + sizeof(iphdr));
    udp->source = htons(kPort);
    udp->dest = htons(kPort);
    udp->len = htons(static_cast<uint16_t>(sizeof(udphdr) + payload.size()));
    udp->check = 0;  // IPv4: no checksum
    std::memcpy(pkt.data() + sizeof(iphdr) + sizeof(udphdr), payload.data(), payload.size());
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = dst;
    if (::sendto(fd_, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) ++errors_;
    ++sent_;
  }
  uint64_t sent() const { return sent_; }
  uint64_t errors() const { return errors_; }

 private:
  int fd_;
  uint64_t sent_ = 0, errors_ = 0;
};

void report(const char* what, const Spoofer& s) {
  std::cout << fmt::format("{}: sent {} ({} refused by the local stack)\n", what, s.sent(), s.errors());
}

int replay(const Options& o) {
  const std::string type = o.get("type", "any");
  const std::string from = o.get("from"), to = o.get("to");
  const uint64_t times = o.number("times", 1);
  Spoofer s;
  for (uint64_t t = 0; t < times; ++t) {
    for (const Record& r : read_capture(o.required("in"))) {
      fabric::Packet p;
      if (fabric::parse(r.bytes, p) != fabric::ParseResult::ok) continue;
      if (!from.empty() && r.src != ipv4(from)) continue;
      if (!to.empty() && r.dst != ipv4(to)) continue;
      const auto kind = p.header.type;
      if ((type == "data" && kind != fabric::PacketType::data) || (type == "ack" && kind != fabric::PacketType::ack) ||
          (type == "init" && kind != fabric::PacketType::handshake_init))
        continue;
      s.send(r.src, r.dst, r.bytes);
    }
  }
  report("replayed", s);
  return 0;
}

int ack(const Options& o) {
  fabric::AckBody body{.cum = o.number("cum", 1), .trigger_seq = o.number("trigger", 1)};
  const std::string sack = o.get("sack");
  if (!sack.empty()) {
    const auto colon = sack.find(':');
    body.blocks[0] = {.start = std::stoull(sack.substr(0, colon)), .end = std::stoull(sack.substr(colon + 1))};
    body.block_count = 1;
  }
  std::vector<std::byte> d(fabric::kMaxAckSize + fabric::kMacSize);
  const fabric::Header h{.type = fabric::PacketType::ack,
                         .ext = static_cast<uint8_t>(o.mac ? fabric::ext::kMac : 0),
                         .session = std::stoull(o.required("session"), nullptr, 0)};
  d.resize(fabric::encode_ack(h, body, d));
  Spoofer s;
  for (uint64_t i = 0, n = o.number("count", 1); i < n; ++i) s.send(ipv4(o.required("from")), ipv4(o.required("to")), d);
  report("ack", s);
  return 0;
}

// The first chunk (with the transfer's meta) of a transfer of --total bytes.
int data(const Options& o) {
  const fabric::TransferMeta meta{.total_len = o.number("total", 1024),
                                  .region_offset = o.number("region-offset", 0),
                                  .region = static_cast<uint32_t>(o.number("region", 1)),
                                  .meta_chunks = 256,
                                  .chunk_size = 1024};
  const fabric::ChunkLayout layout = meta.layout();
  std::mt19937_64 rng(7);
  Spoofer s;
  const uint64_t seq0 = o.number("seq", 1), transfer0 = o.number("transfer", 1), step = o.number("transfer-step", 0);
  for (uint64_t i = 0, n = o.number("count", 1); i < n; ++i) {
    const fabric::Header h{.type = fabric::PacketType::data,
                           .cls = fabric::TrafficClass::kv,
                           .flags = static_cast<uint8_t>(fabric::flag::kMeta | (layout.count() == 1 ? fabric::flag::kLast : 0)),
                           .ext = static_cast<uint8_t>(o.mac ? fabric::ext::kMac : 0),
                           .session = std::stoull(o.required("session"), nullptr, 0),
                           .seq = seq0 + i,
                           .transfer = static_cast<uint32_t>(transfer0 + i * step),
                           .chunk = 0,
                           .floor_delta = static_cast<uint16_t>(o.number("floor-delta", 0)),
                           .meta = meta,
                           .body_len = layout.length(0)};
    std::vector<std::byte> d(fabric::header_room(h) + h.body_len);
    const size_t room = fabric::encode_header(h, d);
    // Garbage for payload, and a guessed tag.
    for (size_t k = room; k < d.size(); ++k) d[k] = std::byte(rng());
    if (o.mac)
      for (size_t k = fabric::kDataHeaderSize; k < fabric::kDataHeaderSize + fabric::kMacSize; ++k) d[k] = std::byte(rng());
    s.send(ipv4(o.required("from")), ipv4(o.required("to")), d);
  }
  report("data", s);
  return 0;
}

int message(const Options& o) {
  std::mt19937_64 rng(11);
  Spoofer s;
  for (uint64_t i = 0, n = o.number("count", 1); i < n; ++i) {
    const fabric::Header h{.type = fabric::PacketType::message,
                           .session = std::stoull(o.required("session"), nullptr, 0),
                           .seq = 1 + i % 4,
                           .body_len = static_cast<uint32_t>(fabric::kTagSize + 16)};
    std::vector<std::byte> d(fabric::kMessageHeaderSize + h.body_len);
    const size_t room = fabric::encode_header(h, d);
    for (size_t k = room; k < d.size(); ++k) d[k] = std::byte(rng());
    s.send(ipv4(o.required("from")), ipv4(o.required("to")), d);
  }
  report("message", s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw std::runtime_error("usage: fabric_forge capture|show|replay|ack|data|message [--option value]...");
    Options o{.command = argv[1]};
    for (int i = 2; i < argc; ++i) {
      std::string key = argv[i];
      if (key.rfind("--", 0) != 0) throw std::runtime_error("unexpected argument " + key);
      key = key.substr(2);
      if (key == "mac") {
        o.mac = true;
        continue;
      }
      if (i + 1 >= argc) throw std::runtime_error("--" + key + " needs a value");
      if (key == "iface") {
        o.ifaces.push_back(argv[++i]);
      } else {
        o.values[key] = argv[++i];
      }
    }
    if (o.command == "capture") return capture(o);
    if (o.command == "show") return show(o);
    if (o.command == "replay") return replay(o);
    if (o.command == "ack") return ack(o);
    if (o.command == "data") return data(o);
    if (o.command == "message") return message(o);
    throw std::runtime_error("unknown command " + o.command);
  } catch (const std::exception& e) {
    std::cerr << "fabric_forge: " << e.what() << "\n";
    return 2;
  }
}
