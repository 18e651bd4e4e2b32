// Two fabric sessions back to back (tests/unit/fabric/session_pair.h: the
// real PeerSession, Sender and Receiver, no sockets), driven by the input as
// a program: post transfers, let either end emit, deliver, drop, duplicate,
// reorder, replay or tamper with what they emit, inject forged datagrams
// (raw bytes, or headers built field by field), flap rails, let time pass.
// Then the forging stops and every honest datagram is delivered until the
// sender is done.
//
// Asserted, always: no crash, no datagram costs more than kMaxDatagramNs of
// this thread's CPU time to handle (a spin shows; time the machine gave to
// other work does not count), and the run ends (each transfer completes or fails
// with a code, or the sender declares the session desynchronised).
// Asserted when no forgery was taken by an engine — always with
// packet_auth = mac (the first input byte picks the mode; a forger has no
// key), and with none when every forgery was refused by a check: no
// desynchronisation, every transfer finishes, and a transfer reported ok was
// completed by the receiver with exactly its bytes in place.
#include <time.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "tests/unit/fabric/session_pair.h"

using namespace railyard::fabric;
using railyard::fabric::testing::SessionPair;

namespace {

constexpr uint32_t kChunk = 256;
constexpr size_t kMaxTransfers = 48;
constexpr size_t kMaxTransferBytes = 8 * kChunk;
constexpr size_t kRegionBytes = kMaxTransfers * kMaxTransferBytes;
constexpr size_t kMaxOps = 512;
constexpr int kDrainSteps = 3000;
constexpr int64_t kMaxDatagramNs = 50'000'000;  // 50 ms of CPU: ~1000× the worst case under ASan

int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return at_ >= size_; }
  uint8_t u8() { return at_ < size_ ? data_[at_++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>(u8() << 8 | u8()); }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | u8();
    return v;
  }
  std::span<const std::byte> bytes(size_t n) {
    n = std::min(n, size_ - std::min(at_, size_));
    const std::span<const std::byte> out(reinterpret_cast<const std::byte*>(data_ + at_), n);
    at_ += n;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

struct Posted {
  std::vector<std::byte> source;
  uint64_t offset = 0;
};

std::vector<std::byte> fill(size_t n, uint64_t seed) {
  std::vector<std::byte> v(n);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = std::byte(x);
  }
  return v;
}

/// A datagram built field by field: what a forger on the rail could send.
std::vector<std::byte> forge(Input& in, bool mac) {
  Header h{.type = static_cast<PacketType>(1 + in.u8() % 6),
           .cls = static_cast<TrafficClass>(in.u8() % 2),
           .flags = in.u8(),
           .rail = static_cast<uint8_t>(in.u8() % 4),
           .ext = static_cast<uint8_t>(mac ? ext::kMac : 0),
           .session = (in.u8() & 1) ? SessionPair::kSession : in.u64(),
           .seq = in.u8() < 128 ? in.u16() : in.u64(),
           .ts = in.u64()};
  std::vector<std::byte> out(kMaxAckSize + kMacSize + kMetaSize + 2 * kMaxTransferBytes);
  size_t n = 0;
  if (h.type == PacketType::ack) {
    h.flags &= flag::kAckMask;
    AckBody a{.cum = in.u8() < 128 ? in.u16() : in.u64(), .trigger_seq = in.u16(), .ack_delay_ns = in.u8(),
              .trigger_rail = static_cast<uint8_t>(in.u8() % 4)};
    a.verdict = static_cast<Verdict>(in.u8() % kVerdictCount);
    a.block_count = static_cast<uint8_t>(in.u8() % 4);
    uint64_t at = a.cum + 1;
    for (size_t i = 0; i < a.block_count; ++i) {
      const uint64_t start = at + in.u8();
      const uint64_t end = start + 1 + (in.u8() < 200 ? in.u8() : in.u64() % (1ull << 40));
      a.blocks[i] = {.start = start, .end = end};
      at = end + 1;
    }
    n = encode_ack(h, a, out);
  } else if (h.type == PacketType::data) {
    h.flags &= flag::kDataMask;
    h.transfer = in.u8() < 200 ? in.u16() : static_cast<uint32_t>(in.u64());
    h.chunk = in.u8() % 16;
    h.floor_delta = static_cast<uint16_t>(in.u16() % kMaxInFlightPackets);
    if (h.flags & flag::kMeta) {
      h.meta = {.total_len = in.u16() % (2 * kMaxTransferBytes),
                .region_offset = in.u16() % kRegionBytes,
                .region = SessionPair::kRegion,
                .checksum = (h.flags & flag::kChecksumRequested) ? static_cast<uint32_t>(in.u64()) : 0,
                .meta_chunks = static_cast<uint16_t>(1 + in.u8() % 8),
                .chunk_size = static_cast<uint16_t>(kMetaSize + 1 + in.u16() % (2 * kChunk))};
      const ChunkLayout layout = h.meta.layout();
      if (h.chunk >= layout.count() || !layout.carries_meta(h.chunk)) h.chunk = 0;
      h.body_len = layout.length(h.chunk);
      h.flags = static_cast<uint8_t>((h.flags & ~flag::kLast) | (h.chunk + 1 == layout.count() ? flag::kLast : 0));
    } else {
      h.body_len = in.u16() % (2 * kChunk);
    }
    n = encode_header(h, out);
    if (n != 0) n += h.body_len;
  } else {
    h.flags = 0;
    n = encode_header(h, out);
  }
  out.resize(n);
  if (mac && n >= fixed_header_size(h.type) + kMacSize) {
    const auto guess = in.bytes(kMacSize);  // a forger's best guess at the tag
    std::memcpy(out.data() + fixed_header_size(h.type), guess.data(), guess.size());
  }
  return out;
}

/// What a forged datagram may change: only refusal counters. Anything else
/// means an engine took it (possible without packet_auth, for a forger who
/// knows the session and the current sequences).
uint64_t taken(const SessionPair& pair) {
  uint64_t n = 0;
  for (const PeerSession* s : {&pair.a, &pair.b}) {
    const ReceiverCounters& r = s->receiver().counters();
    const SenderCounters& t = s->sender().counters();
    n += r.bytes_landed + r.duplicates + r.completed + t.acks + t.probe_replies;
  }
  return n;
}

}  // namespace

// Every input builds four fabric engines (~1.5 MB of tables); ASan's
// default 256 MB quarantine of freed memory makes that a third of each
// execution. A short one still catches a use after free within an input,
// and no state outlives one.
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=8"; }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  const uint8_t mode = in.u8();
  const bool mac = (mode & 1) != 0;
  const uint8_t rails = static_cast<uint8_t>(1 + (mode >> 1) % 3);
  const uint32_t meta_chunks = 1 + (mode >> 3) % 4;  // transfers of up to 8 chunks: most have chunks without meta
  SessionPair pair(rails, mac ? PacketAuth::mac : PacketAuth::none, kChunk, kRegionBytes, meta_chunks);
  std::vector<Posted> posted;  // index: the transfer's cookie
  std::vector<SessionPair::Datagram> captured;  // honest datagrams seen, for replays
  uint64_t now = 1'000'000'000;
  bool tainted = false;

  auto timed = [&](auto&& deliver) {
    const int64_t t0 = thread_cpu_ns();
    deliver();
    if (thread_cpu_ns() - t0 > kMaxDatagramNs) std::abort();
  };
  auto inject = [&](std::span<const std::byte> bytes, uint8_t rail, bool to_b) {
    const uint64_t before = taken(pair);
    timed([&] { pair.deliver(bytes, rail, to_b, now); });
    if (taken(pair) != before) tainted = true;
  };

  for (size_t op = 0; op < kMaxOps && !in.empty(); ++op) {
    switch (in.u8() % 12) {
      case 0: {  // post
        if (posted.size() == kMaxTransfers) break;
        const size_t len = in.u16() % (kMaxTransferBytes + 1);
        Posted p{.source = fill(len, posted.size() + 1), .offset = posted.size() * kMaxTransferBytes};
        uint64_t id = 0;
        const OutboundTransfer t{.source = p.source,
                                 .dest_region = SessionPair::kRegion,
                                 .dest_offset = p.offset,
                                 .cls = static_cast<TrafficClass>(in.u8() % 2),
                                 .checksum = (in.u8() & 1) != 0,
                                 .cookie = posted.size()};
        posted.push_back(std::move(p));  // moving keeps the source's buffer where `t` points
        if (pair.a.sender().post(t, id) != PostResult::ok) std::abort();  // 48 < kTransferSlots
        break;
      }
      case 1:
        pair.poll(now);
        break;
      case 2:
      case 3:  // deliver the oldest
        if (pair.net.empty()) break;
        captured.push_back(pair.net.front());
        timed([&] { pair.deliver(pair.net.front(), now); });
        pair.net.pop_front();
        break;
      case 4:  // lost
        if (!pair.net.empty()) pair.net.pop_front();
        break;
      case 5:  // duplicated (a replay of an honest datagram)
        if (!pair.net.empty() && pair.net.size() < 4096) pair.net.push_back(pair.net.front());
        break;
      case 6:  // reordered
        if (!pair.net.empty()) {
          pair.net.push_back(pair.net.front());
          pair.net.pop_front();
        }
        break;
      case 7:  // replayed later, maybe much later
        if (!captured.empty()) {
          const SessionPair::Datagram& d = captured[in.u16() % captured.size()];
          timed([&] { pair.deliver(d, now); });
        }
        break;
      case 8: {  // raw forged bytes
        const auto bytes = in.bytes(in.u16() % 600);
        inject(bytes, in.u8() % 4, (in.u8() & 1) != 0);
        break;
      }
      case 9: {  // forged header
        const bool to_b = (in.u8() & 1) != 0;
        const std::vector<std::byte> d = forge(in, mac);
        inject(d, in.u8() % 4, to_b);
        break;
      }
      case 10: {  // tampered honest datagram
        if (captured.empty()) break;
        SessionPair::Datagram d = captured[in.u16() % captured.size()];
        if (d.bytes.empty()) break;
        d.bytes[in.u16() % d.bytes.size()] ^= std::byte{static_cast<uint8_t>(1 + in.u8() % 255)};
        inject(d.bytes, d.rail, d.to_b);
        break;
      }
      case 11: {  // time passes; a rail flaps
        now += uint64_t{in.u16()} * 1000;
        const uint8_t r = in.u8();
        if (r < rails * 2)
          pair.a.sender().set_link(r / 2, r % 2 ? railyard::nic::LinkState::up : railyard::nic::LinkState::down, now);
        break;
      }
    }
  }

  // Honest traffic only from here: every link up, nothing lost.
  for (uint8_t r = 0; r < rails; ++r) pair.a.sender().set_link(r, railyard::nic::LinkState::up, now);
  bool desynchronised = false;
  for (int step = 0; step < kDrainSteps && !pair.a.sender().idle(); ++step) {
    // Until both ends are quiet at this instant: the ACKs for what was just
    // delivered go back before time moves on.
    for (int round = 0; round < 4 && pair.poll(now) != 0; ++round) {
      while (!pair.net.empty()) {
        timed([&] { pair.deliver(pair.net.front(), now); });
        pair.net.pop_front();
      }
    }
    // On to the sender's next timer (at least 1 ms): a retransmission
    // timeout that backed off to its 200 ms ceiling costs one step.
    now = std::max(now + 1'000'000, std::min(pair.a.sender().next_deadline(), now + 1'000'000'000));
    if (pair.a.sender().desynchronized(now)) {
      desynchronised = true;
      break;
    }
  }
  pair.poll(now);

  if (tainted) {
    // An engine took a forgery: data may be wrong, but the run still ends.
    if (!desynchronised && !pair.a.sender().idle()) std::abort();
    return 0;
  }
  if (desynchronised || !pair.a.sender().idle()) std::abort();
  if (pair.sent.size() != posted.size()) std::abort();
  std::vector<bool> received(posted.size() + 1, false);
  for (const RecvCompletion& c : pair.received) {
    if (c.transfer == 0 || c.transfer > posted.size()) std::abort();  // ids are 1..n, in posting order
    if (c.checksum_requested && !c.checksum_ok) std::abort();
    received[c.transfer] = true;
  }
  for (const SendCompletion& c : pair.sent) {
    if (c.status != TransferStatus::ok) continue;  // failed with a code: allowed
    const Posted& p = posted[c.cookie];
    if (!received[c.id]) std::abort();  // ok, but the receiver never completed it
    if (!p.source.empty() &&
        std::memcmp(pair.region_b.data() + p.offset, p.source.data(), p.source.size()) != 0)
      std::abort();  // ok, but not these bytes
  }
  return 0;
}
