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

constexpr uint32_t kChunk = 1000;  // a full chunk; meta chunks carry kChunk - kMetaSize
constexpr uint16_t kMetaChunks = 4;

TransferMeta meta(uint64_t total) {
  return {.total_len = total, .region_offset = 4096, .region = 9, .meta_chunks = kMetaChunks, .chunk_size = kChunk};
}

/// DATA for chunk `chunk` of a transfer of `total` bytes (meta on the meta chunks).
Header data_header(uint32_t chunk, uint64_t total) {
  const ChunkLayout layout = meta(total).layout();
  Header h{.type = PacketType::data,
           .cls = TrafficClass::kv,
           .flags = static_cast<uint8_t>(chunk + 1 == layout.count() ? flag::kLast : 0),
           .rail = 2,
           .session = 0x55667788,
           .seq = 1000,
           .transfer = 77,
           .chunk = chunk,
           .floor_delta = 12,
           .body_len = layout.length(chunk)};
  if (layout.carries_meta(chunk)) {
    h.flags |= flag::kMeta;
    h.meta = meta(total);
  }
  return h;
}

Bytes encode_data(const Header& h, uint8_t fill = 0xab) {
  Bytes out(header_room(h) + h.body_len, std::byte{fill});
  EXPECT_EQ(encode_header(h, out), header_room(h));
  return out;
}

AckBody sample_ack() {
  AckBody a{.cum = 100, .trigger_seq = 140, .ack_delay_ns = 5000, .trigger_rail = 1, .block_count = 3};
  a.blocks[0] = {.start = 138, .end = 141};
  a.blocks[1] = {.start = 102, .end = 105};
  a.blocks[2] = {.start = 110, .end = 111};
  return a;
}

Bytes encode_ack_bytes(const AckBody& a, uint8_t flags = 0, uint8_t ext_bits = 0) {
  Bytes out(kMaxAckSize + kMacSize);
  Header h{.type = PacketType::ack, .flags = flags, .rail = 1, .ext = ext_bits, .session = 5};
  out.resize(encode_ack(h, a, out));
  return out;
}

Bytes encode_hs(PacketType type) {
  HandshakeBody b{.from_node = 1, .to_node = 2, .wall_ns = 1'700'000'000'000'000'000};
  for (size_t i = 0; i < kNonceSize; ++i) b.init_nonce[i] = static_cast<uint8_t>(i);
  if (type != PacketType::handshake_init)
    for (size_t i = 0; i < kNonceSize; ++i) b.reply_nonce[i] = static_cast<uint8_t>(100 + i);
  for (size_t i = 0; i < kTagSize; ++i) b.tag[i] = static_cast<uint8_t>(200 + i);
  Bytes out(kHandshakeHeaderSize + kHandshakeBodySize);
  Header h{.type = type, .session = type != PacketType::handshake_init ? 0x1122334455667788u : 0u, .ts = 99};
  EXPECT_EQ(encode_handshake(h, b, out), out.size());
  return out;
}

Bytes encode_probe(PacketType type) {
  Bytes out(kProbeHeaderSize);
  Header h{.type = type, .rail = 3, .session = 5, .ts = 1000};
  EXPECT_EQ(encode_header(h, out), kProbeHeaderSize);
  return out;
}

ParseResult parse_bytes(const Bytes& b) {
  Packet p;
  return parse(b, p);
}

void set_u16(Bytes& b, size_t at, uint16_t v) {
  b[at] = std::byte(v >> 8);
  b[at + 1] = std::byte(v);
}
void set_u32(Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = std::byte(v >> (24 - 8 * i));
}
void set_u64(Bytes& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = std::byte(v >> (56 - 8 * i));
}

TEST(ChunkLayout, MetaChunksAreShorterAndOffsetsContinue) {
  const ChunkLayout l{.total = 10'000, .chunk_size = kChunk, .meta_chunks = kMetaChunks};
  ASSERT_TRUE(l.valid());
  const uint32_t small = kChunk - kMetaSize;
  EXPECT_EQ(l.length(0), small);
  EXPECT_EQ(l.offset(3), 3u * small);
  EXPECT_TRUE(l.carries_meta(3));
  EXPECT_FALSE(l.carries_meta(4));
  EXPECT_EQ(l.offset(4), 4u * small);
  EXPECT_EQ(l.offset(5), 4u * small + kChunk);
  // 4 × 972 = 3888 bytes in meta chunks, then 6112 in chunks of 1000: 7 chunks, the last of 112.
  EXPECT_EQ(l.count(), 11u);
  EXPECT_EQ(l.length(10), 112u);
  uint64_t sum = 0;
  for (uint32_t c = 0; c < l.count(); ++c) {
    EXPECT_EQ(l.offset(c), sum) << c;
    sum += l.length(c);
  }
  EXPECT_EQ(sum, l.total);
  // Small transfers are all meta chunks; an empty one is one empty chunk.
  EXPECT_EQ((ChunkLayout{.total = 1500, .chunk_size = kChunk, .meta_chunks = kMetaChunks}.count()), 2u);
  EXPECT_EQ((ChunkLayout{.total = 0, .chunk_size = kChunk, .meta_chunks = kMetaChunks}.count()), 1u);
  // Too small a chunk for the meta, no meta chunk, or more chunks than 32 bits count: invalid.
  EXPECT_FALSE((ChunkLayout{.total = 10, .chunk_size = kMetaSize, .meta_chunks = 1}.valid()));
  EXPECT_FALSE((ChunkLayout{.total = 10, .chunk_size = kChunk, .meta_chunks = 0}.valid()));
  EXPECT_FALSE((ChunkLayout{.total = 1ull << 50, .chunk_size = 100, .meta_chunks = 1}.valid()));
}

TEST(Wire, DataRoundTripWithAndWithoutMeta) {
  for (uint32_t chunk : {0u, 3u, 4u, 7u}) {
    const Header h = data_header(chunk, 10'000);
    const Bytes b = encode_data(h);
    Packet p;
    ASSERT_EQ(parse(b, p), ParseResult::ok) << chunk;
    EXPECT_EQ(p.header, h);
    EXPECT_EQ(p.body.size(), h.body_len);
    EXPECT_EQ(p.body.data(), b.data() + header_room(h));
    EXPECT_EQ(peek_data_seq(b), 1000u);
  }
  // A packet without meta pays 32 bytes of header, one with meta 60.
  EXPECT_EQ(header_room(data_header(4, 10'000)), kDataHeaderSize);
  EXPECT_EQ(header_room(data_header(0, 10'000)), kDataHeaderSize + kMetaSize);
  // Network byte order: magic "RY" first, the sequence big-endian at byte 12.
  const Bytes b = encode_data(data_header(4, 10'000));
  EXPECT_EQ(b[0], std::byte{0x52});
  EXPECT_EQ(b[1], std::byte{0x59});
  EXPECT_EQ(b[2], std::byte{kVersion});
  EXPECT_EQ(b[19], std::byte{0xe8});  // 1000 = 0x03e8
  EXPECT_EQ(b[18], std::byte{0x03});
}

TEST(Wire, AReusedPacketKeepsNothingOfTheLastDatagram) {
  // The data plane parses every datagram into one Packet.
  Header with_everything = data_header(0, 10'000);
  with_everything.flags |= flag::kChecksumRequested;
  with_everything.meta.checksum = 0xdeadbeef;
  const std::vector<Bytes> datagrams = {encode_data(with_everything), encode_probe(PacketType::probe),
                                        encode_data(data_header(4, 10'000)), encode_hs(PacketType::handshake_init),
                                        encode_ack_bytes(sample_ack())};
  Packet reused;
  for (size_t i = 0; i < datagrams.size(); ++i) {
    Packet fresh;
    ASSERT_EQ(parse(datagrams[i], fresh), ParseResult::ok) << i;
    ASSERT_EQ(parse(datagrams[i], reused), ParseResult::ok) << i;
    EXPECT_EQ(reused.header, fresh.header) << i;
    ASSERT_EQ(parse(datagrams[0], reused), ParseResult::ok);  // everything set again
    ASSERT_EQ(parse(datagrams[i], reused), ParseResult::ok) << i;
    EXPECT_EQ(reused.header, fresh.header) << i;
  }
}

TEST(Wire, ChecksumTravelsInTheMetaOnlyWhenRequested) {
  Header h = data_header(0, 500);
  h.flags |= flag::kChecksumRequested;
  h.meta.checksum = 0xdeadbeef;
  EXPECT_EQ(parse_bytes(encode_data(h)), ParseResult::ok);
  h.flags &= static_cast<uint8_t>(~flag::kChecksumRequested);
  EXPECT_EQ(parse_bytes(encode_data(h)), ParseResult::nonzero_unused);
}

TEST(Wire, EmptyTransferIsOneEmptyLastPacket) {
  const Header h = data_header(0, 0);
  EXPECT_EQ(h.flags & flag::kLast, flag::kLast);
  EXPECT_EQ(parse_bytes(encode_data(h)), ParseResult::ok);
}

TEST(Wire, AckRoundTrip) {
  const AckBody a = sample_ack();
  const Bytes b = encode_ack_bytes(a, flag::kEcnEcho);
  EXPECT_EQ(b.size(), kAckHeaderSize + 3 * kSackBlockSize);
  Packet p;
  ASSERT_EQ(parse(b, p), ParseResult::ok);
  EXPECT_EQ(p.ack, a);
  EXPECT_EQ(p.header.flags, flag::kEcnEcho);
  EXPECT_EQ(p.header.session, 5u);
}

TEST(Wire, HandshakeAndProbeRoundTrip) {
  for (PacketType t : {PacketType::handshake_init, PacketType::handshake_reply, PacketType::handshake_confirm}) {
    Packet p;
    ASSERT_EQ(parse(encode_hs(t), p), ParseResult::ok);
    EXPECT_EQ(p.handshake.from_node, 1u);
    EXPECT_EQ(p.handshake.init_nonce[5], 5);
    EXPECT_EQ(p.handshake.tag[31], 231);
    EXPECT_EQ(p.header.ts, 99u);
    EXPECT_EQ(p.header.session, t == PacketType::handshake_init ? 0u : 0x1122334455667788u) << "the full session id";
  }
  for (PacketType t : {PacketType::probe, PacketType::probe_reply}) {
    Packet p;
    ASSERT_EQ(parse(encode_probe(t), p), ParseResult::ok);
    EXPECT_EQ(p.header.ts, 1000u);
    EXPECT_EQ(p.header.rail, 3);
  }
}

TEST(Wire, SessionsCarryTheirLowBitsOutsideHandshakes) {
  Header h{.type = PacketType::probe, .session = 0xaaaabbbb'ccccdddd};
  Bytes b(kProbeHeaderSize);
  ASSERT_EQ(encode_header(h, b), kProbeHeaderSize);
  Packet p;
  ASSERT_EQ(parse(b, p), ParseResult::ok);
  EXPECT_EQ(p.header.session, session_tag(0xaaaabbbb'ccccdddd));
}

TEST(Wire, RejectsEachMalformation) {
  const Bytes good = encode_data(data_header(0, 10'000));
  ASSERT_EQ(parse_bytes(good), ParseResult::ok);
  auto mutated = [&](auto&& f) {
    Bytes b = good;
    f(b);
    return parse_bytes(b);
  };
  EXPECT_EQ(parse_bytes(Bytes(kMinDatagram - 1)), ParseResult::too_short);
  EXPECT_EQ(parse_bytes(Bytes{}), ParseResult::too_short);
  EXPECT_EQ(mutated([](Bytes& b) { b[0] = std::byte{0}; }), ParseResult::bad_magic);
  EXPECT_EQ(mutated([](Bytes& b) { b[2] = std::byte{2}; }), ParseResult::bad_version);  // the previous release
  EXPECT_EQ(mutated([](Bytes& b) { b[2] = std::byte{4}; }), ParseResult::bad_version);
  EXPECT_EQ(mutated([](Bytes& b) { b[3] = std::byte{0}; }), ParseResult::bad_type);
  EXPECT_EQ(mutated([](Bytes& b) { b[3] = std::byte{9}; }), ParseResult::bad_type);
  EXPECT_EQ(mutated([](Bytes& b) { b[4] = std::byte{2}; }), ParseResult::bad_class);
  EXPECT_EQ(mutated([](Bytes& b) { b[5] |= std::byte{0x08}; }), ParseResult::bad_flags);
  EXPECT_EQ(mutated([](Bytes& b) { b[7] = std::byte{2}; }), ParseResult::bad_flags);
  EXPECT_EQ(mutated([](Bytes& b) { b[6] = std::byte{kMaxRails}; }), ParseResult::bad_rail);
  EXPECT_EQ(mutated([](Bytes& b) { b.pop_back(); }), ParseResult::length_mismatch);
  EXPECT_EQ(mutated([](Bytes& b) { b.push_back(std::byte{0}); }), ParseResult::length_mismatch);
  EXPECT_EQ(mutated([](Bytes& b) { set_u16(b, 30, 0xffff); }), ParseResult::length_mismatch);
  EXPECT_EQ(mutated([](Bytes& b) { b[7] = std::byte{ext::kMac}; }), ParseResult::length_mismatch);  // no room for the tag
  // DATA checks against its own meta.
  const size_t m = kDataHeaderSize;  // the meta follows the fixed header (no tag)
  EXPECT_EQ(mutated([&](Bytes& b) { set_u16(b, m + 26, kMetaSize); }), ParseResult::bad_range);   // no room for payload
  EXPECT_EQ(mutated([&](Bytes& b) { set_u16(b, m + 24, 0); }), ParseResult::bad_range);          // no meta chunk
  EXPECT_EQ(mutated([&](Bytes& b) { set_u32(b, 24, kMetaChunks); }), ParseResult::bad_range);    // meta on a full chunk
  EXPECT_EQ(mutated([&](Bytes& b) { set_u64(b, m, 500); }), ParseResult::bad_range);             // length != the chunk's
  EXPECT_EQ(mutated([&](Bytes& b) { set_u64(b, m + 8, ~0ull - 5); }), ParseResult::bad_range);   // region overflow
  EXPECT_EQ(mutated([](Bytes& b) { b[5] |= std::byte{flag::kLast}; }), ParseResult::bad_range);  // LAST not at the end
  EXPECT_EQ(mutated([](Bytes& b) { set_u16(b, 28, kMaxInFlightPackets); }), ParseResult::bad_range);
  EXPECT_EQ(mutated([](Bytes& b) { set_u16(b, 28, 1001); }), ParseResult::bad_range);  // floor below seq 0
  {
    Header huge = data_header(0, 10'000);
    huge.meta.total_len = 1ull << 60;  // more chunks than 32 bits count
    EXPECT_EQ(parse_bytes(encode_data(huge)), ParseResult::bad_range);
  }
  // Fields of other types.
  Bytes probe = encode_probe(PacketType::probe);
  ASSERT_EQ(parse_bytes(probe), ParseResult::ok);
  set_u32(probe, 12, 1);
  EXPECT_EQ(parse_bytes(probe), ParseResult::nonzero_unused);
  Bytes probe_body = encode_probe(PacketType::probe);
  probe_body.push_back(std::byte{0});
  EXPECT_EQ(parse_bytes(probe_body), ParseResult::length_mismatch);
  Bytes probe_flags = encode_probe(PacketType::probe_reply);
  probe_flags[5] = std::byte{flag::kLast};
  EXPECT_EQ(parse_bytes(probe_flags), ParseResult::bad_flags);
  Bytes hs = encode_hs(PacketType::handshake_init);
  hs.pop_back();
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
  b[33] = std::byte{kMaxSackBlocks + 1};
  EXPECT_EQ(parse_bytes(b), ParseResult::bad_sack);
  // Count says 2, the datagram holds 3.
  b[33] = std::byte{2};
  EXPECT_EQ(parse_bytes(b), ParseResult::length_mismatch);
  // The reserved byte, and only the defined verdicts.
  Bytes r = encode_ack_bytes(sample_ack());
  r[35] = std::byte{1};
  EXPECT_EQ(parse_bytes(r), ParseResult::bad_flags);
  Bytes v = encode_ack_bytes(sample_ack());
  v[34] = std::byte{kVerdictCount};
  EXPECT_EQ(parse_bytes(v), ParseResult::bad_flags);
  Bytes tiny = encode_probe(PacketType::probe);
  tiny[3] = std::byte{static_cast<uint8_t>(PacketType::ack)};
  EXPECT_EQ(parse_bytes(tiny), ParseResult::too_short);
  EXPECT_EQ(parse_bytes(encode_ack_bytes(sample_ack(), flag::kLast)), ParseResult::bad_flags);
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

TEST(Wire, MacExtensionPutsTheTagAfterTheFixedHeader) {
  Header h = data_header(0, 10'000);
  h.ext = ext::kMac;
  EXPECT_EQ(header_room(h), kDataHeaderSize + kMacSize + kMetaSize);
  Bytes b(header_room(h) + h.body_len, std::byte{0xcd});
  ASSERT_EQ(encode_header(h, b), header_room(h));
  for (size_t i = kDataHeaderSize; i < kDataHeaderSize + kMacSize; ++i) EXPECT_EQ(b[i], std::byte{0}) << "tag room zeroed";
  Packet p;
  ASSERT_EQ(parse(b, p), ParseResult::ok);
  EXPECT_EQ(p.header, h);
  EXPECT_EQ(p.raw_header.data(), b.data());
  EXPECT_EQ(p.raw_header.size(), kDataHeaderSize);
  EXPECT_EQ(p.mac.data(), b.data() + kDataHeaderSize);
  EXPECT_EQ(p.mac.size(), kMacSize);
  EXPECT_EQ(p.body.data(), b.data() + header_room(h));
  // An ACK with the tag: its blocks follow the tag.
  const AckBody a = sample_ack();
  const Bytes ack = encode_ack_bytes(a, 0, ext::kMac);
  ASSERT_EQ(parse(ack, p), ParseResult::ok);
  EXPECT_EQ(p.ack, a);
  EXPECT_EQ(p.mac.size(), kMacSize);
  EXPECT_EQ(ack.size(), kAckHeaderSize + kMacSize + 3 * kSackBlockSize);
  // A tag on a handshake or a message is refused: they carry their own HMAC.
  Bytes hs = encode_hs(PacketType::handshake_init);
  hs[7] = std::byte{ext::kMac};
  hs.insert(hs.begin() + kHandshakeHeaderSize, kMacSize, std::byte{0});
  EXPECT_EQ(parse_bytes(hs), ParseResult::bad_flags);
}

TEST(Wire, HandshakeConfirmParses) {
  Packet p;
  const Bytes b = encode_hs(PacketType::handshake_confirm);
  ASSERT_EQ(parse(b, p), ParseResult::ok);
  EXPECT_EQ(p.header.type, PacketType::handshake_confirm);
}

TEST(Wire, EncodeRefusesSmallBuffers) {
  Bytes small(kDataHeaderSize - 1);
  EXPECT_EQ(encode_header(data_header(4, 10'000), small), 0u);
  Bytes mid(kDataHeaderSize + 10);
  EXPECT_EQ(encode_header(data_header(0, 10'000), mid), 0u) << "no room for the meta";
  EXPECT_EQ(encode_ack(Header{}, sample_ack(), mid), 0u);
}

// Writes the seed corpus for tests/fuzz/fabric/wire_fuzz.cc (run by hand:
// RAILYARD_WIRE_CORPUS=tests/fuzz/corpus/wire build/tests/unit/fabric/fabric_test
//   --gtest_also_run_disabled_tests --gtest_filter='*WriteFuzzCorpus*').
TEST(Wire, DISABLED_WriteFuzzCorpus) {
  const char* dir = std::getenv("RAILYARD_WIRE_CORPUS");
  ASSERT_NE(dir, nullptr);
  auto write = [&](const std::string& name, const Bytes& b) {
    std::ofstream f(std::string(dir) + "/" + name, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  };
  write("data_first", encode_data(data_header(0, 10'000)));
  write("data_full", encode_data(data_header(5, 10'000)));
  write("data_last", encode_data(data_header(10, 10'000)));
  Header crc = data_header(0, 16);
  crc.flags |= flag::kChecksumRequested;
  crc.meta.checksum = 0x12345678;
  crc.cls = TrafficClass::activation;
  write("data_single_checksum", encode_data(crc));
  write("data_empty", encode_data(data_header(0, 0)));
  write("ack_sack", encode_ack_bytes(sample_ack(), flag::kEcnEcho));
  write("ack_cum_only", encode_ack_bytes(AckBody{.cum = 7, .trigger_seq = 6}));
  AckBody full{.cum = 1, .trigger_seq = 3, .block_count = kMaxSackBlocks};
  for (size_t i = 0; i < kMaxSackBlocks; ++i) full.blocks[i] = {.start = 3 + 3 * i, .end = 4 + 3 * i};
  full.verdict = Verdict::conflict;
  write("ack_full_verdict", encode_ack_bytes(full));
  Header tagged = data_header(0, 10'000);
  tagged.ext = ext::kMac;
  write("data_with_mac", encode_data(tagged));
  write("ack_with_mac", encode_ack_bytes(sample_ack(), 0, ext::kMac));
  write("handshake_init", encode_hs(PacketType::handshake_init));
  write("handshake_reply", encode_hs(PacketType::handshake_reply));
  write("handshake_confirm", encode_hs(PacketType::handshake_confirm));
  write("probe", encode_probe(PacketType::probe));
  write("probe_reply", encode_probe(PacketType::probe_reply));
  write("garbage_short", Bytes(10, std::byte{0x52}));
}

}  // namespace
}  // namespace railyard::fabric
