#pragma once
// Two PeerSessions back to back in memory, as two daemons' data planes drive
// them: a (node 1) and b (node 2), each with one destination region (id 1).
// Datagrams either side emits wait in `net` until a test (or the stateful
// fuzz target) delivers, drops, duplicates, reorders or alters them, and
// anything else can be injected as if it came from the other end. Used by
// tests/unit/fabric/hostile_test.cc and tests/fuzz/fabric/session_fuzz.cc.

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "fabric/peer_session.h"
#include "tests/unit/fabric/test_util.h"

namespace railyard::fabric::testing {

class SessionPair {
 public:
  static constexpr uint64_t kSession = 0x5e55'1011'2233'4455;
  static constexpr uint32_t kRegion = 1;
  static constexpr uint64_t kNodeA = 1, kNodeB = 2;

  struct Datagram {
    std::vector<std::byte> bytes;
    uint8_t rail = 0;
    bool to_b = true;  ///< a → b; false: b → a
  };

  SessionPair(uint8_t rails, PacketAuth auth, uint32_t chunk_bytes, size_t region_bytes,
              uint32_t meta_chunks = SenderConfig{}.meta_chunks)
      : a(config(rails, auth, chunk_bytes, meta_chunks), kSession, psk(), kNodeA, kNodeB),
        b(config(rails, auth, chunk_bytes, meta_chunks), kSession, psk(), kNodeB, kNodeA),
        region_a(region_bytes),
        region_b(region_bytes),
        tx_(rails) {}

  static std::vector<std::byte> psk() { return std::vector<std::byte>(32, std::byte{0x42}); }

  /// Both sessions' output (ACKs, probes, data) into `net`, in emission
  /// order; their completions into `sent` (a's) and `received` (b's).
  size_t poll(uint64_t now) {
    while (size_t k = a.sender().drain_completions(send_done_))
      sent.insert(sent.end(), send_done_.begin(), send_done_.begin() + static_cast<ptrdiff_t>(k));
    while (size_t k = b.receiver().drain_completions(recv_done_))
      received.insert(received.end(), recv_done_.begin(), recv_done_.begin() + static_cast<ptrdiff_t>(k));
    size_t n = 0;
    for (PeerSession* s : {&a, &b}) {
      tx_.clear();
      s->poll_tx(now, tx_.all());
      for (size_t r = 0; r < tx_.all().size(); ++r)
        for (size_t i = 0; i < tx_[r].count; ++i, ++n)
          net.push_back({.bytes = flatten(tx_[r].frames[i]), .rail = static_cast<uint8_t>(r), .to_b = s == &a});
    }
    return n;
  }

  /// Hands one datagram to its destination as that daemon's data plane would:
  /// parsed, then to the session (region 1 resolved for DATA). False when
  /// parse() refused it or it is no session type.
  bool deliver(std::span<const std::byte> bytes, uint8_t rail, bool to_b, uint64_t now) {
    Packet p;
    if (parse(bytes, p) != ParseResult::ok) return false;
    switch (p.header.type) {
      case PacketType::data:
      case PacketType::ack:
      case PacketType::probe:
      case PacketType::probe_reply:
        break;
      default:
        return false;
    }
    PeerSession& to = to_b ? b : a;
    std::vector<std::byte>& region = to_b ? region_b : region_a;
    std::span<std::byte> dest;
    if (p.header.type == PacketType::data && to.receiver().region_of(p.header) == kRegion) dest = region;
    to.on_packet(p, rail, false, dest, now);
    return true;
  }
  bool deliver(const Datagram& d, uint64_t now) { return deliver(d.bytes, d.rail, d.to_b, now); }

  /// Delivers everything in `net`, in order.
  void flush(uint64_t now) {
    while (!net.empty()) {
      const Datagram d = std::move(net.front());
      net.pop_front();
      deliver(d, now);
    }
  }

  PeerSession a, b;
  std::vector<std::byte> region_a, region_b;
  std::deque<Datagram> net;
  std::vector<SendCompletion> sent;      // a's finished transfers, as poll() drained them
  std::vector<RecvCompletion> received;  // b's

 private:
  static SessionConfig config(uint8_t rails, PacketAuth auth, uint32_t chunk_bytes, uint32_t meta_chunks) {
    SessionConfig c{.auth = auth};
    c.sender.rails = c.receiver.rails = rails;
    c.sender.chunk_bytes = chunk_bytes;
    c.sender.meta_chunks = meta_chunks;
    c.sender.cc.initial_window_bytes = 1 << 20;
    return c;
  }
  Batches tx_;
  std::array<SendCompletion, 64> send_done_;
  std::array<RecvCompletion, 64> recv_done_;
};

}  // namespace railyard::fabric::testing
