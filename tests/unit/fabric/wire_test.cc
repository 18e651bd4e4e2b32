#include "fabric/wire.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace railyard::fabric {
namespace {

using Bytes = std::vector<std::byte>;

Header data_header(uint64_t offset, uint32_t len, uint64_t total, uint32_t chunk, bool last) {
  return Header{.type = PacketType::data,
                .cls = TrafficClass::kv,
                .flags = static_cast<uint8_t>(last ? flag::kLast : 0),
                .rail = 2,
                .session = 0x1122334455667788,
                .seq = 1000,
                .send_ts = 123456789,
                .transfer = 77,
                .offset = offset,
                .total_len = total,
                .region_offset = 4096,
                .region = 9,
                .chunk_size = chunk,
                .floor_delta = 12,
                .body_len = len};
}

Bytes encode_data(const Header& h, uint8_t fill = 0xab) {
  Bytes out(kHeaderSize + h.body_len, std::byte{fill});
  EXPECT_EQ(encode_header(h, out), kHeaderSize);
  return out;
}

AckBody sample_ack() {
  AckBody a{.cum = 100, .trigger_seq = 140, .ack_delay_ns = 5000, .trigger_rail = 1, .block_count = 3};
  a.blocks[0] = {.start = 138, .end = 141};
  a.blocks[1] = {.start = 102, .end = 105};
  a.blocks[2] = {.start = 110, .end = 111};
  return a;
}

Bytes encode_ack_bytes(const AckBody& a, uint8_t flags = 0) {
  Bytes out(kHeaderSize + kMaxAckBody);
  Header h{.type = PacketType::ack, .flags = flags, .rail = 1, .session = 5, .send_ts = 9, .echo_ts = 8};
  out.resize(encode_ack(h, a, out));
  return out;
}

Bytes encode_hs(PacketType type) {
  HandshakeBody b{.from_node = 1, .to_node = 2, .wall_ns = 1'700'000'000'000'000'000};
  for (size_t i = 0; i < kNonceSize; ++i) b.init_nonce[i] = static_cast<uint8_t>(i);
  if (type != PacketType::handshake_init)
    for (size_t i = 0; i < kNonceSize; ++i) b.reply_nonce[i] = static_cast<uint8_t>(100 + i);
  for (size_t i = 0; i < kTagSize; ++i) b.tag[i] = static_cast<uint8_t>(200 + i);
  Bytes out(kHeaderSize + kHandshakeBodySize);
  Header h{.type = type, .session = type != PacketType::handshake_init ? 42u : 0u};
  EXPECT_EQ(encode_handshake(h, b, out), out.size());
  return out;
}

Bytes encode_probe(PacketType type) {
  Bytes out(kHeaderSize);
  Header h{.type = type, .rail = 3, .session = 5, .seq = 17, .send_ts = 1000, .echo_ts = type == PacketType::probe_reply ? 999u : 0u};
  encode_header(h, out);
  return out;
}

ParseResult parse_bytes(const Bytes& b) {
  Packet p;
  return parse(b, p);
}

void set_u32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = std::byte(v >> (24 - 8 * i));
}
void set_u64(Bytes& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = std::byte(v >> (56 - 8 * i));
}

TEST(Wire, DataRoundTrip) {
  const Header h = data_header(2 * 1000, 1000, 10'000, 1000, false);
  const Bytes b = encode_data(h);
  Packet p;
  ASSERT_EQ(parse(b, p), ParseResult::ok);
  EXPECT_EQ(p.header, h);
  ASSERT_EQ(p.body.size(), 1000u);
  EXPECT_EQ(p.body.data(), b.data() + kHeaderSize);
  EXPECT_EQ(peek_seq(b), 1000u);
  // Network byte order: magic "RY" first, the sequence big-endian at byte 16.
  EXPECT_EQ(b[0], std::byte{0x52});
  EXPECT_EQ(b[1], std::byte{0x59});
  EXPECT_EQ(b[23], std::byte{0xe8});  // 1000 = 0x03e8
  EXPECT_EQ(b[22], std::byte{0x03});
}

TEST(Wire, LastChunkShortAndChecksumOnlyThere) {
  Header h = data_header(9000, 500, 9500, 1000, true);
  h.flags |= flag::kChecksumRequested;
  h.checksum = 0xdeadbeef;
  EXPECT_EQ(parse_bytes(encode_data(h)), ParseResult::ok);
  Header mid = data_header(0, 1000, 9500, 1000, false);
  mid.flags |= flag::kChecksumRequested;
  EXPECT_EQ(parse_bytes(encode_data(mid)), ParseResult::ok);
  mid.checksum = 1;  // a checksum belongs to the LAST packet only
  EXPECT_EQ(parse_bytes(encode_data(mid)), ParseResult::nonzero_unused);
}

TEST(Wire, EmptyTransferIsOneEmptyLastPacket) {
  EXPECT_EQ(parse_bytes(encode_data(data_header(0, 0, 0, 1000, true))), ParseResult::ok);
}

TEST(Wire, AckRoundTrip) {
  const AckBody a = sample_ack();
  const Bytes b = encode_ack_bytes(a, flag::kEcnEcho);
  EXPECT_EQ(b.size(), kHeaderSize + kAckBodyFixed + 3 * kSackBlockSize);
  Packet p;
  ASSERT_EQ(parse(b, p), ParseResult::ok);
  EXPECT_EQ(p.ack, a);
  EXPECT_EQ(p.header.flags, flag::kEcnEcho);
  EXPECT_EQ(p.header.echo_ts, 8u);
}

TEST(Wire, HandshakeAndProbeRoundTrip) {
  for (PacketType t : {PacketType::handshake_init, PacketType::handshake_reply}) {
    Packet p;
    ASSERT_EQ(parse(encode_hs(t), p), ParseResult::ok);
    EXPECT_EQ(p.handshake.from_node, 1u);
    EXPECT_EQ(p.handshake.init_nonce[5], 5);
    EXPECT_EQ(p.handshake.tag[31], 231);
  }
  for (PacketType t : {PacketType::probe, PacketType::probe_reply}) {
    Packet p;
    ASSERT_EQ(parse(encode_probe(t), p), ParseResult::ok);
    EXPECT_EQ(p.header.seq, 17u);
    EXPECT_EQ(p.header.rail, 3);
  }
}

TEST(Wire, RejectsEachMalformation) {
  const Bytes good = encode_data(data_header(0, 1000, 10'000, 1000, false));
  ASSERT_EQ(parse_bytes(good), ParseResult::ok);
  auto mutated = [&](auto&& f) {
    Bytes b = good;
    f(b);
    return parse_bytes(b);
  };
  EXPECT_EQ(parse_bytes(Bytes(kHeaderSize - 1)), ParseResult::too_short);
  EXPECT_EQ(parse_bytes(Bytes{}), ParseResult::too_short);
  EXPECT_EQ(mutated([](Bytes& b) { b[0] = std::byte{0}; }), ParseResult::bad_magic);
  EXPECT_EQ(mutated([](Bytes& b) { b[2] = std::byte{1}; }), ParseResult::bad_version);  // the previous release
  EXPECT_EQ(mutated([](Bytes& b) { b[2] = std::byte{3}; }), ParseResult::bad_version);
  EXPECT_EQ(mutated([](Bytes& b) { b[3] = std::byte{0}; }), ParseResult::bad_type);
  EXPECT_EQ(mutated([](Bytes& b) { b[3] = std::byte{9}; }), ParseResult::bad_type);
  EXPECT_EQ(mutated([](Bytes& b) { b[4] = std::byte{2}; }), ParseResult::bad_class);
  EXPECT_EQ(mutated([](Bytes& b) { b[5] = std::byte{flag::kEcnEcho}; }), ParseResult::bad_flags);
  EXPECT_EQ(mutated([](Bytes& b) { b[7] = std::byte{2}; }), ParseResult::bad_flags);
  EXPECT_EQ(mutated([](Bytes& b) { b[7] = std::byte{ext::kMac}; }), ParseResult::length_mismatch);  // no room for the tag
  EXPECT_EQ(mutated([](Bytes& b) { b[6] = std::byte{kMaxRails}; }), ParseResult::bad_rail);
  EXPECT_EQ(mutated([](Bytes& b) { b.pop_back(); }), ParseResult::length_mismatch);
  EXPECT_EQ(mutated([](Bytes& b) { b.push_back(std::byte{0}); }), ParseResult::length_mismatch);
  EXPECT_EQ(mutated([](Bytes& b) { set_u32(b, 88, 0xffffffff); }), ParseResult::length_mismatch);
  // DATA range checks.
  EXPECT_EQ(mutated([](Bytes& b) { set_u32(b, 76, 0); }), ParseResult::bad_range);            // chunk 0
  EXPECT_EQ(mutated([](Bytes& b) { set_u64(b, 48, 500); }), ParseResult::bad_range);          // unaligned offset
  EXPECT_EQ(mutated([](Bytes& b) { set_u64(b, 48, 10'000); }), ParseResult::bad_range);       // beyond total
  EXPECT_EQ(mutated([](Bytes& b) { set_u64(b, 48, 9000); }), ParseResult::bad_range);         // reaches end without LAST
  EXPECT_EQ(mutated([](Bytes& b) { set_u64(b, 48, ~0ull - 999); }), ParseResult::bad_range);  // offset overflow
  EXPECT_EQ(mutated([](Bytes& b) { set_u64(b, 64, ~0ull - 5); }), ParseResult::bad_range);    // region overflow
  EXPECT_EQ(mutated([](Bytes& b) { b[5] = std::byte{flag::kLast}; }), ParseResult::bad_range);  // LAST not at end
  EXPECT_EQ(mutated([](Bytes& b) { set_u32(b, 80, kMaxInFlightPackets); }), ParseResult::bad_range);
  EXPECT_EQ(mutated([](Bytes& b) { set_u32(b, 80, 1001); }), ParseResult::bad_range);  // floor below seq 0
  EXPECT_EQ(mutated([](Bytes& b) {
              set_u32(b, 76, 1);
              set_u64(b, 56, 1ull << 40);
            }),
            ParseResult::bad_range);  // body longer than a chunk / too many chunks
  {
    Bytes small = encode_data(data_header(0, 1, 1ull << 40, 1, false));
    EXPECT_EQ(parse_bytes(small), ParseResult::bad_range);  // 2^40 chunks do not fit 32 bits
  }
  // Fields of other types.
  Bytes probe = encode_probe(PacketType::probe);
  ASSERT_EQ(parse_bytes(probe), ParseResult::ok);
  set_u64(probe, 40, 1);
  EXPECT_EQ(parse_bytes(probe), ParseResult::nonzero_unused);
  Bytes probe_body = encode_probe(PacketType::probe);
  probe_body.push_back(std::byte{0});
  set_u32(probe_body, 88, 1);
  EXPECT_EQ(parse_bytes(probe_body), ParseResult::bad_body);
  Bytes probe_flags = encode_probe(PacketType::probe_reply);
  probe_flags[5] = std::byte{flag::kLast};
  EXPECT_EQ(parse_bytes(probe_flags), ParseResult::bad_flags);
  Bytes hs = encode_hs(PacketType::handshake_init);
  hs.pop_back();
  set_u32(hs, 88, kHandshakeBodySize - 1);
  EXPECT_EQ(parse_bytes(hs), ParseResult::bad_body);
}

TEST(Wire, RejectsBadAcks) {
  auto with = [](auto&& f) {
    AckBody a = sample_ack();
    f(a);
    return parse_bytes(encode_ack_bytes(a));
  };
  EXPECT_EQ(with([](AckBody&) {}), ParseResult::ok);
  EXPECT_EQ(with([](AckBody& a) { a.blocks[1].end = a.blocks[1].start; }), ParseResult::bad_sack);   // empty
  EXPECT_EQ(with([](AckBody& a) { a.blocks[1].start = 100; }), ParseResult::bad_sack);              // at cum
  EXPECT_EQ(with([](AckBody& a) { a.blocks[2] = {.start = 104, .end = 106}; }), ParseResult::bad_sack);  // overlap
  EXPECT_EQ(with([](AckBody& a) { a.blocks[2] = {.start = 105, .end = 106}; }), ParseResult::bad_sack);  // touching
  EXPECT_EQ(with([](AckBody& a) { a.trigger_rail = kMaxRails; }), ParseResult::bad_rail);
  // A block count beyond the limit (written by hand: encode_ack clamps it).
  Bytes b = encode_ack_bytes(sample_ack());
  b[kHeaderSize + 21] = std::byte{kMaxSackBlocks + 1};
  EXPECT_EQ(parse_bytes(b), ParseResult::bad_sack);
  // Count says 2, body holds 3.
  b[kHeaderSize + 21] = std::byte{2};
  EXPECT_EQ(parse_bytes(b), ParseResult::bad_body);
  // Reserved bytes of the ACK body.
  Bytes r = encode_ack_bytes(sample_ack());
  r[kHeaderSize + 23] = std::byte{1};
  EXPECT_EQ(parse_bytes(r), ParseResult::bad_flags);
  Bytes tiny = encode_probe(PacketType::probe);
  tiny[3] = std::byte{static_cast<uint8_t>(PacketType::ack)};
  EXPECT_EQ(parse_bytes(tiny), ParseResult::bad_body);
  EXPECT_EQ(parse_bytes(encode_ack_bytes(sample_ack(), flag::kLast)), ParseResult::bad_flags);
  // The verdict byte: only the defined verdicts.
  Bytes v = encode_ack_bytes(sample_ack());
  v[kHeaderSize + 22] = std::byte{kVerdictCount};
  EXPECT_EQ(parse_bytes(v), ParseResult::bad_flags);
}

TEST(Wire, AckVerdictRoundTrips) {
  for (Verdict verdict : {Verdict::none, Verdict::refused, Verdict::stale, Verdict::conflict}) {
    AckBody a = sample_ack();
    a.verdict = verdict;
    Packet p;
    const Bytes b = encode_ack_bytes(a);
    ASSERT_EQ(parse(b, p), ParseResult::ok);
    EXPECT_EQ(p.ack.verdict, verdict);
    EXPECT_EQ(p.ack, a);
  }
}

TEST(Wire, MacExtensionPutsTheTagBetweenHeaderAndBody) {
  Header h = data_header(0, 1000, 10'000, 1000, false);
  h.ext = ext::kMac;
  EXPECT_EQ(header_room(h), kHeaderSize + kMacSize);
  Bytes b(kHeaderSize + kMacSize + 1000, std::byte{0xcd});
  ASSERT_EQ(encode_header(h, b), kHeaderSize + kMacSize);
  for (size_t i = kHeaderSize; i < kHeaderSize + kMacSize; ++i) EXPECT_EQ(b[i], std::byte{0}) << "tag room zeroed";
  Packet p;
  ASSERT_EQ(parse(b, p), ParseResult::ok);
  EXPECT_EQ(p.header, h);
  EXPECT_EQ(p.raw_header.data(), b.data());
  EXPECT_EQ(p.raw_header.size(), kHeaderSize);
  EXPECT_EQ(p.mac.data(), b.data() + kHeaderSize);
  EXPECT_EQ(p.mac.size(), kMacSize);
  EXPECT_EQ(p.body.data(), b.data() + kHeaderSize + kMacSize);
  EXPECT_EQ(p.body.size(), 1000u);
  // body_len counts the bytes after the tag: a datagram without room for it is refused.
  EXPECT_EQ(parse_bytes(Bytes(b.begin(), b.end() - 1)), ParseResult::length_mismatch);
  // An ACK with the tag: the body follows the tag.
  AckBody a = sample_ack();
  Bytes ack(kHeaderSize + kMacSize + kMaxAckBody);
  Header ah{.type = PacketType::ack, .ext = ext::kMac, .session = 5};
  ack.resize(encode_ack(ah, a, ack));
  ASSERT_EQ(parse(ack, p), ParseResult::ok);
  EXPECT_EQ(p.ack, a);
  EXPECT_EQ(p.mac.size(), kMacSize);
  // Undefined extension bits, and a tag on a handshake or a message, are refused.
  Bytes unknown = encode_probe(PacketType::probe);
  unknown[7] = std::byte{0x02};
  EXPECT_EQ(parse_bytes(unknown), ParseResult::bad_flags);
  Bytes hs = encode_hs(PacketType::handshake_init);
  hs[7] = std::byte{ext::kMac};
  hs.insert(hs.begin() + kHeaderSize, kMacSize, std::byte{0});
  EXPECT_EQ(parse_bytes(hs), ParseResult::bad_flags);
}

TEST(Wire, HandshakeConfirmParses) {
  Packet p;
  const Bytes b = encode_hs(PacketType::handshake_confirm);
  ASSERT_EQ(parse(b, p), ParseResult::ok);
  EXPECT_EQ(p.header.type, PacketType::handshake_confirm);
  EXPECT_EQ(p.header.session, 42u);
}

TEST(Wire, CountersCountEachReason) {
  ParseCounters c;
  Packet p;
  parse(Bytes(3), p, c);
  parse(Bytes(3), p, c);
  parse(encode_probe(PacketType::probe), p, c);
  EXPECT_EQ(c[ParseResult::too_short], 2u);
  EXPECT_EQ(c[ParseResult::ok], 1u);
  EXPECT_EQ(c.rejected(), 2u);
  EXPECT_EQ(parse_result_name(ParseResult::bad_sack), "bad_sack");
}

TEST(Wire, EncodeRefusesSmallBuffers) {
  Bytes small(kHeaderSize - 1);
  EXPECT_EQ(encode_header(Header{}, small), 0u);
  Bytes mid(kHeaderSize + 10);
  EXPECT_EQ(encode_ack(Header{}, sample_ack(), mid), 0u);
  EXPECT_EQ(encode_handshake(Header{}, HandshakeBody{}, mid), 0u);
}

// Writes the fuzz seeds: run with --gtest_also_run_disabled_tests and
// RAILYARD_WIRE_CORPUS=tests/fuzz/corpus/wire to regenerate them.
TEST(Wire, DISABLED_WriteFuzzCorpus) {
  const char* dir = std::getenv("RAILYARD_WIRE_CORPUS");
  ASSERT_NE(dir, nullptr);
  auto write = [&](const std::string& name, const Bytes& b) {
    std::ofstream f(std::string(dir) + "/" + name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  };
  write("data_first", encode_data(data_header(0, 64, 200, 64, false)));
  write("data_last", encode_data(data_header(192, 8, 200, 64, true)));
  Header crc = data_header(0, 16, 16, 1400, true);
  crc.flags |= flag::kChecksumRequested;
  crc.checksum = 0x12345678;
  crc.cls = TrafficClass::activation;
  write("data_single_checksum", encode_data(crc));
  write("data_empty", encode_data(data_header(0, 0, 0, 1400, true)));
  write("ack_sack", encode_ack_bytes(sample_ack(), flag::kEcnEcho));
  write("ack_cum_only", encode_ack_bytes(AckBody{.cum = 7, .trigger_seq = 6}));
  AckBody full{.cum = 1, .trigger_seq = 3, .block_count = kMaxSackBlocks};
  for (size_t i = 0; i < kMaxSackBlocks; ++i) full.blocks[i] = {.start = 3 + 3 * i, .end = 4 + 3 * i};
  full.verdict = Verdict::conflict;
  write("ack_full_verdict", encode_ack_bytes(full));
  Header tagged = data_header(0, 64, 200, 64, false);
  tagged.ext = ext::kMac;
  Bytes tagged_bytes(kHeaderSize + kMacSize + 64, std::byte{0x5a});
  encode_header(tagged, tagged_bytes);
  write("data_with_mac", tagged_bytes);
  write("handshake_confirm", encode_hs(PacketType::handshake_confirm));
  write("handshake_init", encode_hs(PacketType::handshake_init));
  write("handshake_reply", encode_hs(PacketType::handshake_reply));
  write("probe", encode_probe(PacketType::probe));
  write("probe_reply", encode_probe(PacketType::probe_reply));
  write("garbage_short", Bytes(10, std::byte{0x52}));
}

}  // namespace
}  // namespace railyard::fabric
