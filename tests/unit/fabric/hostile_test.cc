// Datagrams nobody honest sends: forged ACKs and DATA with extreme sequences,
// floors and transfer ids, verdicts that must fail a transfer rather than
// complete it, probe replies that echo nothing, and (with packet_auth = mac)
// forged, altered, stripped and reflected packets. Each test names the defect
// it guards against; every one of them crashed, spun, lost data silently or
// took a rail up before the fix.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "tests/unit/fabric/session_pair.h"

namespace railyard::fabric {
namespace {

using testing::pattern;
using testing::SessionPair;
using Bytes = std::vector<std::byte>;

constexpr uint64_t kUs = 1000;
constexpr uint32_t kChunk = 1000;
// The transfers here are all shorter than SenderConfig::meta_chunks chunks:
// each packet carries the meta and kChunk - kMetaSize of payload.
constexpr uint32_t kPayload = kChunk - kMetaSize;

Bytes forged_ack(const AckBody& body) {
  Bytes out(kMaxAckSize);
  const Header h{.type = PacketType::ack, .session = SessionPair::kSession};
  out.resize(encode_ack(h, body, out));
  return out;
}

/// A forged first packet (chunk 0, with meta) of a transfer of `total` bytes.
Bytes forged_data(uint64_t seq, uint16_t floor_delta, uint64_t transfer, uint64_t total, uint64_t region_offset,
                  uint8_t fill = 0xee) {
  const TransferMeta meta{.total_len = total,
                          .region_offset = region_offset,
                          .region = SessionPair::kRegion,
                          .meta_chunks = 256,
                          .chunk_size = kChunk};
  const ChunkLayout layout = meta.layout();
  const Header h{.type = PacketType::data,
                 .flags = static_cast<uint8_t>(flag::kMeta | (layout.count() == 1 ? flag::kLast : 0)),
                 .session = SessionPair::kSession,
                 .seq = seq,
                 .transfer = static_cast<uint32_t>(transfer),
                 .chunk = 0,
                 .floor_delta = floor_delta,
                 .meta = meta,
                 .body_len = layout.length(0)};
  Bytes out(header_room(h) + h.body_len, std::byte{fill});
  encode_header(h, out);
  return out;
}

uint64_t post(SessionPair& pair, const Bytes& src, uint64_t dest_offset) {
  uint64_t id = 0;
  EXPECT_EQ(pair.a.sender().post({.source = src, .dest_region = SessionPair::kRegion, .dest_offset = dest_offset}, id),
            PostResult::ok);
  return id;
}

/// Runs both ends until a has nothing left, delivering everything in order.
void run(SessionPair& pair, uint64_t& now, int steps = 2000) {
  for (int i = 0; i < steps && !pair.a.sender().idle(); ++i) {
    pair.poll(now);
    pair.flush(now);
    now += 20 * kUs;
  }
  pair.poll(now);  // the last completions
}

TEST(Hostile, AnAckBeyondWhatWasSentIsDroppedWhole) {
  // Was: a segfault in Sender::on_ack (an empty in-flight entry acknowledged),
  // or a loop at 100 % CPU once slot 0 was in use.
  SessionPair pair(1, PacketAuth::none, kChunk, 1 << 20);
  uint64_t now = 1'000'000;
  const Bytes first = pattern(kPayload, 1);
  post(pair, first, 0);
  run(pair, now);  // slot 1 used and freed; what follows runs in slot 2
  const Bytes src = pattern(10 * kPayload, 2);
  const uint64_t id = post(pair, src, 4096);
  pair.poll(now);
  ASSERT_EQ(pair.a.sender().rail_status(0).inflight_packets, 10u);
  const uint64_t sent_end = 12;  // sequences 1..11 went out
  AckBody cum_far{.cum = 1'000'000, .trigger_seq = 5};
  AckBody sack_far{.cum = 2, .trigger_seq = 5, .block_count = 1};
  sack_far.blocks[0] = {.start = 50, .end = 900'000};
  AckBody trigger_far{.cum = 2, .trigger_seq = sent_end};
  AckBody trigger_zero{.cum = 2, .trigger_seq = 0};
  for (const AckBody& forged : {cum_far, sack_far, trigger_far, trigger_zero})
    ASSERT_TRUE(pair.deliver(forged_ack(forged), 0, false, now));
  EXPECT_EQ(pair.a.sender().counters().ack_unsent, 4u);
  // The first went whole; the others' parts within what was sent (cum 2) were taken.
  EXPECT_EQ(pair.a.sender().counters().acks, 1u + 3u);
  EXPECT_EQ(pair.a.sender().rail_status(0).inflight_packets, 10u) << "nothing acknowledged";
  EXPECT_FALSE(pair.a.sender().desynchronized(now + 1'000'000'000)) << "one such ACK is no desynchronisation";
  EXPECT_EQ(pair.sent.size(), 1u) << "only the first transfer";
  run(pair, now);
  const auto done = pair.sent;
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[1].id, id);
  EXPECT_EQ(done[1].status, TransferStatus::ok);
  EXPECT_EQ(done[0].status, TransferStatus::ok);
  EXPECT_TRUE(std::equal(src.begin(), src.end(), pair.region_b.begin() + 4096));
}

TEST(Hostile, AForgedFloorCannotCarryTheReceiveWindowAway) {
  // Was: RecvWindow::receive advanced to the packet's floor before checking
  // it, so one packet moved the cumulative ACK anywhere — past packets still
  // in flight (acknowledged unsent, or a crash at the sender).
  SessionPair pair(1, PacketAuth::none, kChunk, 1 << 20);
  uint64_t now = 1'000'000;
  const Bytes src = pattern(20 * kPayload, 3);
  const uint64_t id = post(pair, src, 0);
  pair.poll(now);
  ASSERT_EQ(pair.net.size(), 20u);
  pair.deliver(pair.net.front(), now);  // sequence 1 arrives
  pair.net.pop_front();
  // Sequence 10^9 claiming everything below it was given up, for this
  // transfer and for the next one: refused before its transfer fields count.
  ASSERT_TRUE(pair.deliver(forged_data(1'000'000'000, 0, id, src.size(), 0), 0, true, now));
  ASSERT_TRUE(pair.deliver(forged_data(1'000'000'001, 0, id + 1, 7 * kChunk, 0), 0, true, now));
  EXPECT_EQ(pair.b.receiver().counters().out_of_window, 2u);
  EXPECT_EQ(pair.b.receiver().counters().bytes_landed, kPayload) << "nothing of the forgery written";
  pair.poll(now);
  Packet ack;
  ASSERT_FALSE(pair.net.empty());
  ASSERT_EQ(parse(pair.net.back().bytes, ack), ParseResult::ok);
  ASSERT_EQ(ack.header.type, PacketType::ack);
  EXPECT_EQ(ack.ack.cum, 2u) << "the window stayed where the real packets put it";
  const Bytes next = pattern(2 * kPayload, 33);
  EXPECT_EQ(post(pair, next, 100'000), id + 1);
  run(pair, now);
  const auto done = pair.sent;
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].status, TransferStatus::ok);
  EXPECT_EQ(done[1].status, TransferStatus::ok) << "the forgery took no slot";
  EXPECT_TRUE(std::equal(src.begin(), src.end(), pair.region_b.begin()));
  EXPECT_TRUE(std::equal(next.begin(), next.end(), pair.region_b.begin() + 100'000));
  EXPECT_EQ(pair.a.sender().counters().ack_unsent, 0u);
}

TEST(Hostile, TransferIdsFarAboveAnySeenTakeNoSlot) {
  // Was: a burst of DATA with transfer ids above the real ones took the
  // receive slots; later real transfers were acknowledged as stale without
  // being written, and the sender reported them ok (388 of 500 in one run).
  SessionPair pair(2, PacketAuth::none, kChunk, 4 << 20);
  uint64_t now = 1'000'000;
  for (uint64_t t = 0; t < kTransferSlots; ++t)
    pair.deliver(forged_data(1 + t, 0, 5000 + t, 2 * kChunk, 0), static_cast<uint8_t>(t % 2), true, now);
  EXPECT_EQ(pair.b.receiver().counters().transfer_out_of_window, kTransferSlots);
  std::map<uint64_t, std::pair<Bytes, uint64_t>> posted;  // id -> bytes, offset
  std::mt19937 rng(5);
  for (uint64_t i = 0; i < 500; ++i) {
    Bytes src = pattern(1 + rng() % (3 * kPayload), static_cast<uint32_t>(i));
    const uint64_t offset = i * 4 * kChunk;
    uint64_t id = 0;
    // Posting faster than they complete: retry as slots free up.
    while (pair.a.sender().post({.source = src, .dest_region = SessionPair::kRegion, .dest_offset = offset}, id) ==
           PostResult::busy) {
      pair.poll(now);
      pair.flush(now);
      now += 20 * kUs;
    }
    posted[id] = {std::move(src), offset};
    pair.poll(now);
    pair.flush(now);
    now += 5 * kUs;
  }
  run(pair, now);
  uint64_t ok = 0;
  std::vector<SendCompletion> done = pair.sent;
  for (const SendCompletion& c : done) {
    ASSERT_EQ(c.status, TransferStatus::ok) << "transfer " << c.id;
    const auto& [src, offset] = posted.at(c.id);
    ASSERT_TRUE(std::equal(src.begin(), src.end(), pair.region_b.begin() + static_cast<ptrdiff_t>(offset)))
        << "transfer " << c.id << " reported ok without its bytes in place";
    ++ok;
  }
  EXPECT_EQ(ok, 500u);
  EXPECT_EQ(pair.received.size(), 500u);
}

TEST(Hostile, AStaleVerdictFailsTheTransferInsteadOfCompletingIt) {
  // A forged transfer newer than a real one that has not arrived yet takes
  // its slot; the real one is then older than its slot's: the receiver does
  // not write it and says so, and the sender fails it with its own code.
  SessionPair pair(1, PacketAuth::none, kChunk, 1 << 20);
  uint64_t now = 1'000'000;
  std::vector<uint64_t> ids;
  for (uint32_t i = 0; i < 10; ++i) ids.push_back(post(pair, pattern(kPayload, i), i * kChunk));
  pair.poll(now);
  ASSERT_EQ(pair.net.size(), 10u);
  const SessionPair::Datagram first = pair.net.front();  // transfer ids[0], slot ids[0] % 1024
  pair.net.pop_front();
  pair.flush(now);  // the other nine open their slots
  const uint64_t forged_id = ids[0] + kTransferSlots;
  ASSERT_TRUE(pair.deliver(forged_data(1000, 999, forged_id, 3 * kChunk, 500'000), 0, true, now));
  pair.deliver(first, now);
  EXPECT_EQ(pair.b.receiver().counters().stale_transfer, 1u);
  run(pair, now);
  std::map<uint64_t, TransferStatus> status;
  for (const SendCompletion& c : pair.sent) status[c.id] = c.status;
  ASSERT_EQ(status.size(), 10u);
  EXPECT_EQ(status[ids[0]], TransferStatus::stale);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_EQ(status[ids[i]], TransferStatus::ok);
  EXPECT_EQ(pair.a.sender().counters().stale, 1u);
  for (const RecvCompletion& c : pair.received) EXPECT_NE(c.transfer, ids[0]);
}

TEST(Hostile, AConflictingFirstPacketFailsTheTransferRatherThanHangingIt) {
  // A forged first packet under the id the sender will use next, with another
  // length: the real packets contradict the slot. They are refused with a
  // verdict, and the sender fails the transfer instead of resending forever.
  SessionPair pair(1, PacketAuth::none, kChunk, 1 << 20);
  uint64_t now = 1'000'000;
  ASSERT_TRUE(pair.deliver(forged_data(1, 0, 1, 5 * kChunk, 0), 0, true, now));
  const uint64_t id = post(pair, pattern(3 * kPayload, 9), 0);
  ASSERT_EQ(id, 1u);
  run(pair, now, 200);
  const auto done = pair.sent;
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].status, TransferStatus::conflict);
  EXPECT_GT(pair.b.receiver().counters().conflicts, 0u);
  EXPECT_TRUE(pair.a.sender().idle());
}

TEST(Hostile, AProbeReplyMustEchoAProbeOfOurs) {
  SessionPair pair(2, PacketAuth::none, kChunk, 1 << 20);
  uint64_t now = 1'000'000;
  pair.a.sender().set_link(1, nic::LinkState::down, now);
  pair.a.sender().set_link(1, nic::LinkState::up, now);
  ASSERT_FALSE(pair.a.sender().rail_up(1)) << "a rail comes back on a probe reply, not on link-up";
  Bytes reply(kProbeHeaderSize);
  encode_header(Header{.type = PacketType::probe_reply, .rail = 1, .session = SessionPair::kSession,
                       .ts = now - 50 * kUs},
                reply);
  ASSERT_TRUE(pair.deliver(reply, 1, false, now));
  EXPECT_FALSE(pair.a.sender().rail_up(1)) << "a forged reply brings nothing up";
  EXPECT_EQ(pair.a.sender().counters().probe_replies_unmatched, 1u);
  pair.poll(now);  // the real probe, answered below
  pair.flush(now);
  pair.poll(now + 10 * kUs);
  pair.flush(now + 10 * kUs);
  EXPECT_TRUE(pair.a.sender().rail_up(1));
  EXPECT_EQ(pair.a.sender().counters().probe_replies, 1u);
}

TEST(Hostile, AnAckNamingAnotherRailForItsTriggerGivesNoRttSample) {
  // The RTT comes from the trigger's own send record; an ACK whose trigger
  // rail disagrees with it is no sample, whatever it claims.
  SessionPair pair(2, PacketAuth::none, kChunk, 1 << 20);
  uint64_t now = 2'000'000'000;
  post(pair, pattern(4 * kPayload, 4), 0);
  pair.poll(now);
  Packet first;
  ASSERT_EQ(parse(pair.net.front().bytes, first), ParseResult::ok);
  const uint8_t other = pair.net.front().rail == 0 ? 1 : 0;
  const uint64_t srtt_before = pair.a.sender().rail_status(other).srtt_ns;
  AckBody body{.cum = 1, .trigger_seq = first.header.seq, .trigger_rail = other};  // acknowledges nothing
  ASSERT_TRUE(pair.deliver(forged_ack(body), 0, false, now + 900'000'000));
  EXPECT_EQ(pair.a.sender().counters().rtt_discarded, 1u);
  EXPECT_EQ(pair.a.sender().rail_status(other).srtt_ns, srtt_before);
}

TEST(Hostile, AChunkLandsEvenWhenAForgeryTookItsSequenceFirst) {
  // A forged DATA (a transfer of its own) under the sequence the sender
  // gives its third packet next: the sequence window then calls the real
  // packet a duplicate. Was: acknowledged without being written, so the
  // sender reported the transfer ok and the receiver never completed it.
  SessionPair pair(1, PacketAuth::none, kChunk, 1 << 20);
  uint64_t now = 1'000'000;
  const Bytes src = pattern(3 * kPayload, 12);
  const uint64_t id = post(pair, src, 0);
  pair.poll(now);
  ASSERT_EQ(pair.net.size(), 3u);  // sequences 1, 2, 3
  ASSERT_TRUE(pair.deliver(forged_data(3, 0, id + 1, 500, 600'000), 0, true, now));
  run(pair, now);
  ASSERT_EQ(pair.sent.size(), 1u);
  EXPECT_EQ(pair.sent[0].status, TransferStatus::ok);
  EXPECT_TRUE(std::equal(src.begin(), src.end(), pair.region_b.begin()));
  bool completed = false;
  for (const RecvCompletion& c : pair.received) completed |= c.transfer == id;
  EXPECT_TRUE(completed) << "ok at the sender, so the receiver must have it whole";
}

TEST(Hostile, AReceiveWindowMovedByAForgeryDesynchronisesTheSessionInsteadOfStallingIt) {
  // In-window forgery (the session id and a plausible sequence): the floor
  // takes b's cumulative point past everything a sent. Every ACK b sends is
  // then refused at a — nothing may acknowledge what was never sent — and a
  // reports the session desynchronised, so the daemon starts a new one,
  // rather than resending forever.
  SessionPair pair(1, PacketAuth::none, kChunk, 1 << 20);
  uint64_t now = 1'000'000;
  const uint64_t id = post(pair, pattern(8 * kPayload, 8), 0);
  pair.poll(now);
  ASSERT_TRUE(pair.deliver(forged_data(5000, 0, id, 8 * kChunk, 0), 0, true, now));
  bool desynchronised = false;
  for (int i = 0; i < 200 && !desynchronised; ++i) {
    pair.flush(now);
    pair.poll(now);
    now += 1'000'000;
    desynchronised = pair.a.sender().desynchronized(now);
  }
  EXPECT_TRUE(desynchronised);
  EXPECT_GE(pair.a.sender().counters().ack_unsent, 16u);
  for (const SendCompletion& c : pair.sent) EXPECT_NE(c.status, TransferStatus::ok) << "nothing counted delivered";
}

TEST(Hostile, ForgedAcksWhileNothingIsInFlightNeverDesynchroniseTheSession) {
  // Found by fuzz_session: with nothing in flight no ACK is owed, so ACKs
  // naming unsent sequences are no sign of a moved receive window; counted
  // then, they declared an idle session desynchronised (and one whose next
  // transfer had just gone out).
  SessionPair pair(1, PacketAuth::none, kChunk, 1 << 20);
  uint64_t now = 1'000'000;
  for (int i = 0; i < 20; ++i, now += 10'000'000)
    ASSERT_TRUE(pair.deliver(forged_ack(AckBody{.cum = 1'000'000, .trigger_seq = 5}), 0, false, now));
  EXPECT_EQ(pair.a.sender().counters().ack_unsent, 20u);
  EXPECT_FALSE(pair.a.sender().desynchronized(now));
  const Bytes src = pattern(4 * kPayload, 3);
  post(pair, src, 0);
  pair.poll(now);
  EXPECT_FALSE(pair.a.sender().desynchronized(now)) << "a transfer just went out";
  run(pair, now);
  ASSERT_EQ(pair.sent.size(), 1u);
  EXPECT_EQ(pair.sent[0].status, TransferStatus::ok);
  EXPECT_TRUE(std::equal(src.begin(), src.end(), pair.region_b.begin()));
}

TEST(Hostile, AChunkThePeerWillNotTakeDesynchronisesTheSessionInsteadOfLoopingForever) {
  // A forged ACK of the transfer's only meta chunk, which never arrived: the
  // sender believes the receiver has the meta and sends the rest, which the
  // receiver cannot place and never answers. After 16 losses of one chunk
  // in a row the session is declared desynchronised (the daemon starts a new
  // one) rather than retransmitting forever.
  SessionPair pair(1, PacketAuth::none, kChunk, 1 << 20, 1);
  uint64_t now = 1'000'000;
  post(pair, pattern(kPayload + 3 * kChunk, 31), 0);
  pair.poll(now);
  ASSERT_EQ(pair.net.size(), 1u) << "the meta chunk alone";
  pair.net.clear();  // lost
  ASSERT_TRUE(pair.deliver(forged_ack(AckBody{.cum = 2, .trigger_seq = 1}), 0, false, now));
  bool desynchronised = false;
  for (int i = 0; i < 5000 && !desynchronised; ++i) {
    pair.poll(now);
    pair.flush(now);
    now += 1'000'000;
    desynchronised = pair.a.sender().desynchronized(now);
  }
  EXPECT_TRUE(desynchronised);
  EXPECT_GT(pair.b.receiver().counters().unopened, 0u);
  EXPECT_TRUE(pair.received.empty());
  for (const SendCompletion& c : pair.sent) EXPECT_NE(c.status, TransferStatus::ok);
}

// ---- packet_auth = mac ----------------------------------------------------

Bytes strip_mac(const Bytes& tagged) {
  Packet p;
  EXPECT_EQ(parse(tagged, p), ParseResult::ok);
  Header h = p.header;
  h.ext = 0;
  Bytes out(header_room(h) + p.body.size());
  const size_t n = encode_header(h, out);
  std::copy(p.body.begin(), p.body.end(), out.begin() + static_cast<ptrdiff_t>(n));
  return out;
}

TEST(HostileMac, ForgedAlteredStrippedAndReflectedPacketsAreRefused) {
  SessionPair pair(1, PacketAuth::mac, kChunk - kMacSize, 1 << 20);
  uint64_t now = 1'000'000;
  const Bytes src = pattern(5 * (kChunk - kMacSize - kMetaSize), 6);
  post(pair, src, 0);
  pair.poll(now);
  ASSERT_EQ(pair.net.size(), 5u);
  Bytes data = pair.net.front().bytes;
  Packet p;
  ASSERT_EQ(parse(data, p), ParseResult::ok);
  EXPECT_EQ(p.mac.size(), kMacSize);

  Bytes altered = data;
  altered.back() ^= std::byte{1};  // one payload bit
  pair.deliver(altered, 0, true, now);
  Bytes moved = data;
  moved[kDataHeaderSize + kMacSize + 8 + 7] ^= std::byte{1};  // the region offset, in the meta
  pair.deliver(moved, 0, true, now);
  EXPECT_EQ(pair.b.counters().mac_bad, 2u);
  pair.deliver(strip_mac(data), 0, true, now);
  EXPECT_EQ(pair.b.counters().mac_missing, 1u);
  // Forged without the key: the forger's best guess at a tag.
  Bytes forged(kMaxAckSize + kMacSize);
  forged.resize(encode_ack(Header{.type = PacketType::ack, .ext = ext::kMac, .session = SessionPair::kSession},
                           AckBody{.cum = 6, .trigger_seq = 5}, forged));
  pair.deliver(forged, 0, false, now);
  EXPECT_EQ(pair.a.counters().mac_bad, 1u);
  EXPECT_EQ(pair.b.receiver().counters().data_packets, 0u) << "no engine saw any of it";
  EXPECT_EQ(pair.a.sender().counters().acks, 0u);

  // b's real ACK, bounced back at b as if a had sent it: the direction's key differs.
  pair.flush(now);
  pair.poll(now);
  ASSERT_FALSE(pair.net.empty());
  const SessionPair::Datagram ack = pair.net.front();
  ASSERT_FALSE(ack.to_b);
  pair.deliver(ack.bytes, ack.rail, true, now);
  EXPECT_EQ(pair.b.counters().mac_bad, 3u);
  run(pair, now);
  const auto done = pair.sent;
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].status, TransferStatus::ok);
  EXPECT_TRUE(std::equal(src.begin(), src.end(), pair.region_b.begin()));
}

TEST(HostileMac, APacketWithATagReachesNoSessionWithoutMac) {
  SessionPair pair(1, PacketAuth::none, kChunk, 1 << 20);
  Bytes tagged(kProbeHeaderSize + kMacSize);
  encode_header(Header{.type = PacketType::probe, .ext = ext::kMac, .session = SessionPair::kSession}, tagged);
  pair.deliver(tagged, 0, true, 1000);
  EXPECT_EQ(pair.b.counters().mac_unexpected, 1u);
  EXPECT_FALSE(pair.b.heard_peer());
}

// A peer that stopped answering while the session was idle (restarted
// under another key, or the far end of its rails gone) stayed "established"
// with every rail up for as long as nothing was sent (issue 20).
TEST(Keepalive, AnIdleSessionKeepsItsRailsUpWhileThePeerAnswersAndLosesThemWithinSecondsWhenItStops) {
  SessionPair pair(2, PacketAuth::none, kChunk, 1 << 20);
  uint64_t now = 1'000'000;
  const uint64_t step = 10'000'000;  // 10 ms
  for (int i = 0; i < 500; ++i, now += step) {  // 5 s idle, everything delivered
    pair.poll(now);
    pair.flush(now);
  }
  for (uint8_t r = 0; r < 2; ++r) {
    EXPECT_TRUE(pair.a.sender().rail_status(r).up) << int{r};
    EXPECT_GE(pair.a.sender().rail_status(r).keepalives, 3u) << "about one a second";
    EXPECT_LE(pair.a.sender().rail_status(r).keepalives, 6u);
  }
  // The peer goes silent: nothing reaches b any more.
  const uint64_t silent_from = now;
  uint64_t down_at = 0;
  for (int i = 0; i < 600 && !down_at; ++i, now += step) {
    pair.poll(now);
    pair.net.clear();
    if (pair.a.sender().up_mask() == 0) down_at = now;
  }
  ASSERT_NE(down_at, 0u) << "the rails never went down";
  EXPECT_LE(down_at - silent_from, 4'100'000'000u) << "within 4 s of the last answer";
  for (uint8_t r = 0; r < 2; ++r) EXPECT_EQ(pair.a.sender().rail_status(r).reason, DownReason::ack_silence);
  // The peer answers again: the rails come back with the first probe replies.
  for (int i = 0; i < 10; ++i, now += 1'000'000) {
    pair.poll(now);
    pair.flush(now);
  }
  EXPECT_EQ(pair.a.sender().up_mask(), 0b11u);
}

}  // namespace
}  // namespace railyard::fabric
