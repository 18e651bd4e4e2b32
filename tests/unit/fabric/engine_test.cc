// Sender and Receiver engines driven by hand: each test delivers, drops,
// duplicates or reorders the frames itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "fabric/receiver.h"
#include "fabric/sender.h"
#include "tests/unit/fabric/test_util.h"

namespace railyard::fabric {
namespace {

using testing::Batches;
using testing::flatten;
using testing::pattern;
using Datagram = std::vector<std::byte>;

constexpr uint64_t kSession = 0xabcdef;
constexpr uint32_t kChunk = 1000;
// Every transfer here is shorter than SenderConfig::meta_chunks chunks, so
// each of its packets carries the meta and kChunk - kMetaSize of payload.
constexpr uint32_t kPayload = kChunk - kMetaSize;
constexpr uint64_t kUs = 1000;
constexpr uint64_t kMs = 1000 * kUs;

SenderConfig sender_config(uint8_t rails) {
  SenderConfig c{.rails = rails, .chunk_bytes = kChunk};
  c.cc.initial_window_bytes = 1 << 20;  // the window is not under test here
  return c;
}

struct Rig {
  explicit Rig(uint8_t rails, SenderConfig sc)
      : sender(sc, kSession), receiver({.rails = rails}, kSession), tx(rails), acks(rails), region(1 << 20) {}
  explicit Rig(uint8_t rails = 1) : Rig(rails, sender_config(rails)) {}

  /// poll_tx and collect the datagrams per rail.
  std::vector<std::vector<Datagram>> send(uint64_t now) {
    tx.clear();
    sender.poll_tx(now, tx.all());
    std::vector<std::vector<Datagram>> out(tx.all().size());
    for (size_t r = 0; r < out.size(); ++r)
      for (size_t i = 0; i < tx[r].count; ++i) out[r].push_back(flatten(tx[r].frames[i]));
    return out;
  }
  DataResult deliver(const Datagram& d, uint8_t rail, uint64_t now, bool ecn = false) {
    Packet p;
    EXPECT_EQ(parse(d, p), ParseResult::ok);
    if (p.header.type == PacketType::probe) {
      receiver.on_probe(p, rail, now);
      return DataResult::landed;
    }
    return receiver.on_data(p, rail, ecn, region, now);
  }
  /// The receiver's ACKs (and probe replies) go straight back to the sender.
  size_t ack_back(uint64_t now, bool deliver_acks = true) {
    acks.clear();
    receiver.poll_tx(now, sender.up_mask(), acks.all());
    size_t n = 0;
    for (size_t r = 0; r < acks.all().size(); ++r) {
      for (size_t i = 0; i < acks[r].count; ++i) {
        const Datagram d = flatten(acks[r].frames[i]);
        last_ack = d;
        if (!deliver_acks) continue;
        Packet p;
        EXPECT_EQ(parse(d, p), ParseResult::ok);
        if (p.header.type == PacketType::ack) sender.on_ack(p, now);
        if (p.header.type == PacketType::probe_reply) sender.on_probe_reply(p, now);
        ++n;
      }
    }
    return n;
  }
  std::vector<SendCompletion> completions() {
    std::vector<SendCompletion> c(64);
    c.resize(sender.drain_completions(c));
    return c;
  }

  Sender sender;
  Receiver receiver;
  Batches tx;
  Batches acks;
  std::vector<std::byte> region;
  Datagram last_ack;
};

uint64_t post(Rig& rig, const std::vector<std::byte>& src, uint64_t dest, TrafficClass cls = TrafficClass::kv,
              bool checksum = false) {
  uint64_t id = 0;
  EXPECT_EQ(rig.sender.post({.source = src, .dest_region = 1, .dest_offset = dest, .cls = cls, .checksum = checksum},
                            id),
            PostResult::ok);
  return id;
}

Header header_of(const Datagram& d) {
  Packet p;
  EXPECT_EQ(parse(d, p), ParseResult::ok);
  return p.header;
}

TEST(Engine, OneTransferLandsAndCompletes) {
  Rig rig;
  const auto src = pattern(10'500, 1);
  const uint64_t id = post(rig, src, 100);
  auto out = rig.send(0);
  ASSERT_EQ(out[0].size(), 11u);
  for (size_t i = 0; i < out[0].size(); ++i) {
    const DataResult want = i + 1 == out[0].size() ? DataResult::completed : DataResult::landed;
    EXPECT_EQ(rig.deliver(out[0][i], 0, 10 * kUs), want) << i;
  }
  EXPECT_TRUE(std::equal(src.begin(), src.end(), rig.region.begin() + 100));
  EXPECT_EQ(rig.region[99], std::byte{0});
  EXPECT_EQ(rig.region[100 + src.size()], std::byte{0});
  std::vector<RecvCompletion> rc(4);
  ASSERT_EQ(rig.receiver.drain_completions(rc), 1u);
  EXPECT_EQ(rc[0].transfer, id);
  EXPECT_EQ(rc[0].length, src.size());
  EXPECT_EQ(rc[0].region_offset, 100u);
  EXPECT_EQ(rig.ack_back(20 * kUs), 1u);
  const auto done = rig.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, id);
  EXPECT_EQ(done[0].status, TransferStatus::ok);
  EXPECT_EQ(rig.sender.rail_status(0).inflight_packets, 0u);
  EXPECT_GT(rig.sender.rail_status(0).srtt_ns, 0u);
  EXPECT_TRUE(rig.sender.idle());
}

TEST(Engine, SackWithHoleDuplicateAndReordering) {
  Rig rig;
  const auto src = pattern(10 * kPayload, 2);
  post(rig, src, 0);
  auto out = rig.send(0)[0];
  ASSERT_EQ(out.size(), 10u);  // sequences 1..10
  // Drop seq 3, deliver the rest backwards, seq 5 twice.
  for (size_t i = out.size(); i-- > 0;) {
    if (i == 2) continue;
    rig.deliver(out[i], 0, 5 * kUs);
  }
  EXPECT_EQ(rig.deliver(out[4], 0, 6 * kUs), DataResult::duplicate);
  EXPECT_EQ(rig.receiver.counters().duplicates, 1u);
  EXPECT_EQ(rig.receiver.counters().bytes_landed, 9u * kPayload);
  rig.ack_back(10 * kUs);
  Packet ack;
  ASSERT_EQ(parse(rig.last_ack, ack), ParseResult::ok);
  EXPECT_EQ(ack.ack.cum, 3u);
  ASSERT_EQ(ack.ack.block_count, 1);
  EXPECT_EQ(ack.ack.blocks[0], (SackBlock{4, 11}));
  // Sequence 3 has seven later packets of its rail acknowledged: lost.
  EXPECT_EQ(rig.sender.counters().lost_sack, 1u);
  EXPECT_EQ(rig.sender.rail_status(0).inflight_packets, 0u);
  auto again = rig.send(20 * kUs)[0];
  ASSERT_EQ(again.size(), 1u);
  const Header h = header_of(again[0]);
  EXPECT_EQ(h.seq, 11u);              // a new sequence for the retransmission...
  EXPECT_EQ(h.chunk, 2u);             // ...of the same bytes
  EXPECT_EQ(h.floor_delta, 0u);       // nothing older is outstanding
  EXPECT_EQ(rig.sender.counters().retransmits, 1u);
  // The original was only late: it completes the transfer, and the
  // retransmission is acknowledged (its bytes are in place) but not written again.
  EXPECT_EQ(rig.deliver(out[2], 0, 30 * kUs), DataResult::completed);
  EXPECT_EQ(rig.deliver(again[0], 0, 31 * kUs), DataResult::duplicate);
  EXPECT_EQ(rig.deliver(again[0], 0, 32 * kUs), DataResult::duplicate);
  rig.ack_back(40 * kUs);
  EXPECT_EQ(rig.completions().size(), 1u);
  EXPECT_TRUE(std::equal(src.begin(), src.end(), rig.region.begin()));
}

TEST(Engine, DuplicateAcksAndAckReorderingAreHarmless) {
  Rig rig;
  const auto src = pattern(6 * kPayload, 3);
  post(rig, src, 0);
  auto out = rig.send(0)[0];
  std::vector<Datagram> acks;
  for (size_t i = 0; i < out.size(); ++i) {
    rig.deliver(out[i], 0, kUs * (i + 1));
    rig.acks.clear();
    rig.receiver.poll_tx(kUs * (i + 1), 1, rig.acks.all());
    acks.push_back(flatten(rig.acks[0].frames[0]));
  }
  // Deliver the ACKs newest first, each twice.
  for (size_t i = acks.size(); i-- > 0;) {
    Packet p;
    ASSERT_EQ(parse(acks[i], p), ParseResult::ok);
    rig.sender.on_ack(p, 20 * kUs);
    rig.sender.on_ack(p, 20 * kUs);
  }
  EXPECT_EQ(rig.sender.counters().lost_sack, 0u);
  const auto done = rig.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].status, TransferStatus::ok);
  EXPECT_EQ(rig.sender.counters().acks, 12u);
}

TEST(Engine, RetransmitsOnTimeout) {
  Rig rig;
  const auto src = pattern(500, 4);
  post(rig, src, 0);
  auto out = rig.send(0)[0];
  ASSERT_EQ(out.size(), 1u);  // lost on the way
  const uint64_t rto = rig.sender.rail_status(0).rto_ns;
  EXPECT_EQ(rto, RttConfig{}.initial_rto_ns);
  EXPECT_EQ(rig.sender.next_deadline(), rto);
  EXPECT_TRUE(rig.send(rto - 1)[0].empty());
  auto again = rig.send(rto)[0];
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(rig.sender.counters().lost_timeout, 1u);
  EXPECT_EQ(header_of(again[0]).seq, 2u);
  EXPECT_EQ(header_of(again[0]).chunk, 0u);
  EXPECT_EQ(rig.sender.rail_status(0).rto_ns, 2 * rto);  // backed off until a sample
  EXPECT_EQ(rig.deliver(again[0], 0, rto + 10 * kUs), DataResult::completed);
  rig.ack_back(rto + 20 * kUs);
  EXPECT_EQ(rig.completions().size(), 1u);
  EXPECT_LT(rig.sender.rail_status(0).rto_ns, rto);
}

TEST(Engine, ATimeoutWhosePacketsArriveAfterAllGivesTheWindowBack) {
  // A stalled receiver or ACK path, not a loss: the packets the timer gave
  // up on arrive after it fired. Sequences are never reused, so the ACK they
  // trigger says so, and the rail gets its window back. When the resent
  // packet is answered first instead, the timeout stands.
  for (const bool originals_arrive : {true, false}) {
    SCOPED_TRACE(originals_arrive ? "originals arrive" : "only the resent packet arrives");
    Rig rig;
    const auto src = pattern(8 * kPayload, 6);
    post(rig, src, 0);
    const auto first = rig.send(0)[0];
    ASSERT_EQ(first.size(), 8u);
    const uint64_t window = rig.sender.rail_status(0).window_bytes;
    const uint64_t rto = rig.sender.rail_status(0).rto_ns;
    const auto resent = rig.send(rto)[0];
    ASSERT_EQ(resent.size(), 1u);  // the window is down to one packet
    EXPECT_LT(rig.sender.rail_status(0).window_bytes, window);
    EXPECT_EQ(rig.sender.rail_status(0).timeouts, 1u);
    if (originals_arrive) {
      for (const Datagram& d : first) rig.deliver(d, 0, rto + 10 * kUs);
    } else {
      rig.deliver(resent[0], 0, rto + 10 * kUs);
    }
    rig.ack_back(rto + 20 * kUs);
    EXPECT_EQ(rig.sender.rail_status(0).spurious_timeouts, originals_arrive ? 1u : 0u);
    if (originals_arrive) {
      EXPECT_GE(rig.sender.rail_status(0).window_bytes, window);
    } else {
      EXPECT_LT(rig.sender.rail_status(0).window_bytes, window);
    }
  }
}

TEST(Engine, RailDownReturnsItsPacketsForOtherRails) {
  Rig rig(2);
  const auto src = pattern(40 * kPayload, 5);
  post(rig, src, 0);
  auto out = rig.send(0);
  ASSERT_EQ(out[0].size() + out[1].size(), 40u);
  const size_t on_rail1 = out[1].size();
  ASSERT_GT(on_rail1, 10u);  // equal rails: about half each
  EXPECT_EQ(rig.sender.rail_status(1).inflight_packets, on_rail1);
  rig.sender.set_link(1, nic::LinkState::down, 5 * kUs);
  EXPECT_FALSE(rig.sender.rail_up(1));
  EXPECT_EQ(rig.sender.rail_status(1).reason, DownReason::link);
  EXPECT_EQ(rig.sender.rail_status(1).inflight_packets, 0u);
  EXPECT_EQ(rig.sender.rail_status(1).inflight_bytes, 0u);
  EXPECT_EQ(rig.sender.counters().requeued_rail_down, on_rail1);
  // Rail 0's packets arrive; rail 1's were lost with it.
  for (const Datagram& d : out[0]) rig.deliver(d, 0, 10 * kUs);
  rig.ack_back(20 * kUs);
  auto resent = rig.send(30 * kUs);
  EXPECT_TRUE(resent[1].empty());
  ASSERT_EQ(resent[0].size(), on_rail1);
  for (const Datagram& d : resent[0]) {
    EXPECT_EQ(header_of(d).rail, 0);
    rig.deliver(d, 0, 40 * kUs);
  }
  rig.ack_back(50 * kUs);
  ASSERT_EQ(rig.completions().size(), 1u);
  EXPECT_TRUE(std::equal(src.begin(), src.end(), rig.region.begin()));
  EXPECT_EQ(rig.sender.counters().retransmits, on_rail1);
}

TEST(Engine, AckSilenceTakesARailDownAndProbesBringItBack) {
  Rig rig(2);
  const auto src = pattern(40 * kPayload, 6);
  post(rig, src, 0);
  uint64_t now = 0;
  bool rail1_dead = true;
  // Rail 1 silently drops everything; rail 0 works. The transfer finishes
  // over rail 0 after rail 1's packets time out; rail 1 goes down once its
  // silence lasts three RTOs.
  for (int step = 0; step < 400 && (!rig.sender.idle() || rig.sender.rail_up(1)); ++step) {
    auto out = rig.send(now);
    for (const Datagram& d : out[0]) rig.deliver(d, 0, now + 20 * kUs);
    if (!rail1_dead)
      for (const Datagram& d : out[1]) rig.deliver(d, 1, now + 20 * kUs);
    rig.ack_back(now + 40 * kUs);
    rig.completions();
    now += 500 * kUs;
  }
  EXPECT_TRUE(rig.sender.idle());
  EXPECT_TRUE(std::equal(src.begin(), src.end(), rig.region.begin()));
  EXPECT_FALSE(rig.sender.rail_up(1));
  EXPECT_EQ(rig.sender.rail_status(1).reason, DownReason::ack_silence);
  EXPECT_GE(rig.sender.counters().probes_sent, 1u);
  // The path heals: the next probe is answered and the rail is back.
  rail1_dead = false;
  for (int step = 0; step < 20 && !rig.sender.rail_up(1); ++step) {
    now += 1 * kMs;
    auto out = rig.send(now);
    for (const Datagram& d : out[1]) rig.deliver(d, 1, now + 20 * kUs);
    rig.ack_back(now + 40 * kUs);
  }
  EXPECT_TRUE(rig.sender.rail_up(1));
  EXPECT_EQ(rig.sender.counters().rail_up, 1u);
}

TEST(Engine, ActivationGoesBeforeKv) {
  SenderConfig c = sender_config(1);
  c.cc.initial_window_bytes = 8 * (kChunk + kDataHeaderSize);  // room for 8 packets
  Rig rig(1, c);
  const auto kv = pattern(50 * kPayload, 7);
  const auto act = pattern(3 * kPayload, 8);
  post(rig, kv, 0, TrafficClass::kv);
  post(rig, act, 100'000, TrafficClass::activation);
  auto out = rig.send(0)[0];
  ASSERT_EQ(out.size(), 8u);
  for (size_t i = 0; i < out.size(); ++i)
    EXPECT_EQ(header_of(out[i]).cls, i < 3 ? TrafficClass::activation : TrafficClass::kv) << i;
  // An activation transfer posted while kv is under way overtakes the rest of the kv.
  const auto act2 = pattern(2 * kPayload, 9);
  post(rig, act2, 200'000, TrafficClass::activation);
  for (const Datagram& d : out) rig.deliver(d, 0, 10 * kUs);
  rig.ack_back(20 * kUs);
  out = rig.send(30 * kUs)[0];
  ASSERT_GE(out.size(), 3u);
  EXPECT_EQ(header_of(out[0]).cls, TrafficClass::activation);
  EXPECT_EQ(header_of(out[1]).cls, TrafficClass::activation);
  EXPECT_EQ(header_of(out[2]).cls, TrafficClass::kv);
}

TEST(Engine, OutOfRangeIsRejectedWithoutWriting) {
  Rig rig;
  rig.region.resize(64 * 1024);
  const auto src = pattern(5 * kPayload, 10);
  const uint64_t id = post(rig, src, 62 * 1024);  // runs past the end of the region
  auto out = rig.send(0)[0];
  for (const Datagram& d : out) EXPECT_EQ(rig.deliver(d, 0, 10 * kUs), DataResult::rejected);
  EXPECT_TRUE(std::all_of(rig.region.begin(), rig.region.end(), [](std::byte b) { return b == std::byte{0}; }));
  rig.ack_back(20 * kUs);
  const auto done = rig.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].id, id);
  EXPECT_EQ(done[0].status, TransferStatus::rejected);
  EXPECT_TRUE(rig.sender.idle());
  // Unknown region (empty span): refused too.
  Rig other;
  post(other, src, 0);
  Packet p;
  auto d = other.send(0)[0];
  ASSERT_EQ(parse(d[0], p), ParseResult::ok);
  EXPECT_EQ(other.receiver.on_data(p, 0, false, {}, 1), DataResult::rejected);
}

TEST(Engine, OtherSessionsAreDropped) {
  Rig rig;
  Receiver stranger({.rails = 1}, kSession + 1);
  const auto src = pattern(2 * kPayload, 11);
  post(rig, src, 0);
  auto out = rig.send(0)[0];
  Packet p;
  ASSERT_EQ(parse(out[0], p), ParseResult::ok);
  EXPECT_EQ(stranger.on_data(p, 0, false, rig.region, 1), DataResult::stale_session);
  EXPECT_EQ(stranger.counters().stale_session, 1u);
  EXPECT_EQ(rig.region[0], std::byte{0});
  Batches b(1);
  EXPECT_EQ(stranger.poll_tx(2, 1, b.all()), 0u);  // nothing acknowledged
  // An ACK of another session does not free anything.
  Sender other_sender(sender_config(1), kSession + 1);
  rig.deliver(out[0], 0, 5);
  rig.deliver(out[1], 0, 5);
  rig.acks.clear();
  rig.receiver.poll_tx(6, 1, rig.acks.all());
  Datagram ack = flatten(rig.acks[0].frames[0]);
  ASSERT_EQ(parse(ack, p), ParseResult::ok);
  other_sender.on_ack(p, 7);
  EXPECT_EQ(other_sender.counters().stale_session, 1u);
  rig.sender.on_ack(p, 7);
  EXPECT_EQ(rig.completions().size(), 1u);
}

TEST(Engine, ChecksumVerifiedAtCompletion) {
  for (bool corrupt : {false, true}) {
    Rig rig;
    const auto src = pattern(3 * kPayload + 17, 12);
    post(rig, src, 0, TrafficClass::kv, true);
    auto out = rig.send(0)[0];
    ASSERT_EQ(out.size(), 4u);
    EXPECT_NE(header_of(out[3]).meta.checksum, 0u);
    if (corrupt) out[1][out[1].size() - 5] ^= std::byte{1};  // a payload bit flipped on the wire
    for (const Datagram& d : out) rig.deliver(d, 0, 1);
    std::vector<RecvCompletion> rc(1);
    ASSERT_EQ(rig.receiver.drain_completions(rc), 1u);
    EXPECT_TRUE(rc[0].checksum_requested);
    EXPECT_EQ(rc[0].checksum_ok, !corrupt);
    EXPECT_EQ(rig.receiver.counters().checksum_failures, corrupt ? 1u : 0u);
  }
}

TEST(Engine, ChunksWithoutMetaWaitForTheFirstAnswerThenPay32Bytes) {
  SenderConfig c = sender_config(1);
  c.meta_chunks = 4;
  Rig rig(1, c);
  const auto src = pattern(4 * kPayload + 16 * kChunk, 21);
  post(rig, src, 0);
  auto first = rig.send(0)[0];
  ASSERT_EQ(first.size(), 4u) << "only the meta chunks before the receiver has answered";
  for (const Datagram& d : first) {
    EXPECT_EQ(d.size(), kDataHeaderSize + kMetaSize + kPayload);
    EXPECT_EQ(header_of(d).flags & flag::kMeta, flag::kMeta);
  }
  EXPECT_TRUE(rig.send(1 * kUs)[0].empty());
  for (const Datagram& d : first) EXPECT_EQ(rig.deliver(d, 0, 5 * kUs), DataResult::landed);
  rig.ack_back(10 * kUs);
  auto rest = rig.send(20 * kUs)[0];
  ASSERT_EQ(rest.size(), 16u);
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i].size(), kDataHeaderSize + kChunk) << "a full chunk with the lean header";
    EXPECT_EQ(header_of(rest[i]).flags & flag::kMeta, 0);
    const DataResult want = i + 1 == rest.size() ? DataResult::completed : DataResult::landed;
    EXPECT_EQ(rig.deliver(rest[i], 0, 30 * kUs), want) << i;
  }
  rig.ack_back(40 * kUs);
  const auto done = rig.completions();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].status, TransferStatus::ok);
  EXPECT_TRUE(std::equal(src.begin(), src.end(), rig.region.begin()));
}

TEST(Engine, AChunkWithoutMetaIsDroppedUnansweredWhereItsTransferIsNotOpen) {
  SenderConfig c = sender_config(1);
  c.meta_chunks = 2;
  Rig rig(1, c);
  const auto src = pattern(2 * kPayload + 3 * kChunk, 22);
  post(rig, src, 0);
  const auto meta = rig.send(0)[0];
  for (const Datagram& d : meta) rig.deliver(d, 0, 1 * kUs);
  rig.ack_back(2 * kUs);
  const auto rest = rig.send(3 * kUs)[0];
  ASSERT_EQ(rest.size(), 3u);
  // A receiver that never saw the meta chunks (they took another path and
  // were lost): nothing says where the bytes go.
  Receiver fresh({.rails = 1}, kSession);
  Packet p;
  ASSERT_EQ(parse(rest[0], p), ParseResult::ok);
  EXPECT_EQ(fresh.region_of(p.header), Receiver::kNoRegion);
  EXPECT_EQ(fresh.on_data(p, 0, false, rig.region, 4 * kUs), DataResult::unopened);
  EXPECT_EQ(fresh.counters().unopened, 1u);
  testing::Batches out(1);
  EXPECT_EQ(fresh.poll_tx(5 * kUs, 1, out.all()), 0u) << "not answered: the sender resends it";
}

TEST(Engine, AChunkWithoutMetaThatContradictsItsTransferIsAConflict) {
  SenderConfig c = sender_config(1);
  c.meta_chunks = 1;
  Rig rig(1, c);
  post(rig, pattern(kPayload + 4 * kChunk, 23), 0);
  const auto meta = rig.send(0)[0];
  for (const Datagram& d : meta) rig.deliver(d, 0, 1 * kUs);
  rig.ack_back(2 * kUs);
  auto rest = rig.send(3 * kUs)[0];
  ASSERT_EQ(rest.size(), 4u);
  Datagram beyond = rest[0];
  beyond[27] = std::byte{9};  // chunk 9 of a 5-chunk transfer
  EXPECT_EQ(rig.deliver(beyond, 0, 4 * kUs), DataResult::conflict);
  EXPECT_EQ(rig.deliver(rest[0], 0, 4 * kUs), DataResult::landed);
}

TEST(Engine, EmptyTransferCompletes) {
  Rig rig;
  const std::vector<std::byte> none;
  post(rig, none, 0);
  auto out = rig.send(0)[0];
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].size(), kDataHeaderSize + kMetaSize);
  EXPECT_EQ(rig.deliver(out[0], 0, 1), DataResult::completed);
  rig.ack_back(2);
  EXPECT_EQ(rig.completions().size(), 1u);
}

TEST(Engine, RefusedFramesAreResentWithoutPenalty) {
  Rig rig;
  const auto src = pattern(4 * kPayload, 13);
  post(rig, src, 0);
  rig.tx.clear();
  rig.sender.poll_tx(0, rig.tx.all());
  ASSERT_EQ(rig.tx[0].count, 4u);
  const uint64_t window = rig.sender.rail_status(0).window_bytes;
  // The NIC took the first frame only.
  rig.sender.on_tx_refused(0, rig.tx[0].frames.subspan(1, 3), 1);
  EXPECT_EQ(rig.sender.counters().tx_refused, 3u);
  EXPECT_EQ(rig.sender.rail_status(0).inflight_packets, 1u);
  EXPECT_EQ(rig.sender.rail_status(0).window_bytes, window);
  const Datagram first = flatten(rig.tx[0].frames[0]);
  auto again = rig.send(2)[0];
  ASSERT_EQ(again.size(), 3u);
  rig.deliver(first, 0, 3);
  for (const Datagram& d : again) rig.deliver(d, 0, 3);
  rig.ack_back(4);
  EXPECT_EQ(rig.completions().size(), 1u);
  EXPECT_TRUE(std::equal(src.begin(), src.end(), rig.region.begin()));
}

TEST(Engine, EcnMarkIsEchoedAndShrinksTheRailWindow) {
  Rig rig;
  const auto src = pattern(4 * kPayload, 14);
  post(rig, src, 0);
  auto out = rig.send(1 * kMs)[0];
  const uint64_t window = rig.sender.rail_status(0).window_bytes;
  for (size_t i = 0; i < out.size(); ++i) rig.deliver(out[i], 0, 1 * kMs + 10 * kUs, /*ecn=*/i == 1);
  rig.ack_back(1 * kMs + 20 * kUs);
  Packet ack;
  ASSERT_EQ(parse(rig.last_ack, ack), ParseResult::ok);
  EXPECT_TRUE(ack.header.flags & flag::kEcnEcho);
  EXPECT_LT(rig.sender.rail_status(0).window_bytes, window);
  EXPECT_EQ(rig.completions().size(), 1u);
}

TEST(Engine, SlotsAreBoundedAndReused) {
  Rig rig;
  const std::vector<std::byte> none;
  uint64_t id = 0;
  for (uint32_t i = 0; i < kTransferSlots; ++i) ASSERT_EQ(rig.sender.post({.source = none}, id), PostResult::ok);
  EXPECT_EQ(rig.sender.post({.source = none}, id), PostResult::busy);
}

}  // namespace
}  // namespace railyard::fabric
