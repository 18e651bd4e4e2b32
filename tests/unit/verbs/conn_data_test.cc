#include "drivers/nic/verbs/conn_data.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fabric/checksum.h"

namespace railyard::verbs {
namespace {

ConnectionData sample(ConnKind kind = ConnKind::connect) {
  ConnectionData d;
  d.kind = kind;
  d.rail = 2;
  d.sender_node = 0x1111;
  d.receiver_node = 0x2222;
  d.epoch = 7;
  d.peer_epoch = kind == ConnKind::connect ? 0 : 9;
  if (kind == ConnKind::connect) {
    d.qpn = 0x123456;
    d.psn = 0xabcdef;
    d.gid = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 2, 1};
    d.mtu = PathMtu::mtu4096;
    d.link_layer = LinkLayer::ethernet;
  }
  d.regions = {{.id = 1, .rkey = 0x1001, .addr = 0x7f0000000000, .length = 1 << 20},
               {.id = 200, .rkey = 0x2002, .addr = 0x7f0000100000, .length = 4096}};
  return d;
}

std::vector<std::byte> bytes_of(const ConnectionData& d) {
  std::vector<std::byte> out;
  encode(d, out);
  return out;
}

// Rewrites the checksum after a deliberate change, so validation beyond the
// checksum is what refuses it.
void reseal(std::vector<std::byte>& m) {
  const size_t body = m.size() - 4;
  const uint32_t c = fabric::crc32c(std::span(m).first(body));
  for (int i = 0; i < 4; ++i) m[body + static_cast<size_t>(i)] = static_cast<std::byte>(c >> (24 - 8 * i));
}

void put32(std::vector<std::byte>& m, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) m[at + static_cast<size_t>(i)] = static_cast<std::byte>(v >> (24 - 8 * i));
}

TEST(ConnData, RoundTripsConnectAndRegions) {
  for (ConnKind k : {ConnKind::connect, ConnKind::regions}) {
    const ConnectionData d = sample(k);
    const auto m = bytes_of(d);
    EXPECT_EQ(m.size(), kConnHeaderSize + 2 * kConnRegionSize + kConnTrailerSize);
    ConnectionData out;
    ASSERT_EQ(decode(m, out), ConnError::ok);
    EXPECT_EQ(out.kind, k);
    EXPECT_EQ(out.rail, 2);
    EXPECT_EQ(out.sender_node, 0x1111u);
    EXPECT_EQ(out.receiver_node, 0x2222u);
    EXPECT_EQ(out.epoch, 7u);
    EXPECT_EQ(out.peer_epoch, d.peer_epoch);
    EXPECT_EQ(out.qpn, d.qpn);
    EXPECT_EQ(out.psn, d.psn);
    EXPECT_EQ(out.gid, d.gid);
    ASSERT_EQ(out.regions.size(), 2u);
    EXPECT_EQ(out.regions[1].id, 200u);
    EXPECT_EQ(out.regions[1].rkey, 0x2002u);
    EXPECT_EQ(out.regions[0].addr, 0x7f0000000000u);
    EXPECT_EQ(out.regions[0].length, 1u << 20);
    EXPECT_EQ(bytes_of(out), m);  // canonical
  }
}

TEST(ConnData, EmptyRegionListIsValid) {
  ConnectionData d = sample();
  d.regions.clear();
  ConnectionData out;
  EXPECT_EQ(decode(bytes_of(d), out), ConnError::ok);
  EXPECT_TRUE(out.regions.empty());
}

TEST(ConnData, EveryTruncationAndExtensionIsRefused) {
  const auto m = bytes_of(sample());
  ConnectionData out;
  for (size_t n = 0; n < m.size(); ++n) EXPECT_NE(decode(std::span(m).first(n), out), ConnError::ok) << n;
  auto longer = m;
  longer.push_back(std::byte{0});
  EXPECT_EQ(decode(longer, out), ConnError::bad_length);
  std::vector<std::byte> huge(kMaxConnMessage + 1);
  EXPECT_EQ(decode(huge, out), ConnError::too_long);
}

TEST(ConnData, EverySingleBitFlipIsRefused) {
  const auto m = bytes_of(sample());
  ConnectionData out;
  for (size_t i = 0; i < m.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto t = m;
      t[i] ^= static_cast<std::byte>(1 << bit);
      EXPECT_NE(decode(t, out), ConnError::ok) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(ConnData, FieldValidation) {
  ConnectionData out;
  auto check = [&](auto mutate, ConnError want, ConnKind kind = ConnKind::connect) {
    auto m = bytes_of(sample(kind));
    mutate(m);
    reseal(m);
    EXPECT_EQ(decode(m, out), want) << conn_error_name(want);
  };
  check([](auto& m) { m[0] = std::byte{'X'}; }, ConnError::bad_magic);
  check([](auto& m) { m[4] = std::byte{2}; }, ConnError::bad_version);
  check([](auto& m) { m[5] = std::byte{3}; }, ConnError::bad_kind);
  check([](auto& m) { m[7] = std::byte{1}; }, ConnError::bad_flags);
  check([](auto& m) { m[71] = std::byte{1}; }, ConnError::bad_flags);
  check([](auto& m) { m[69] = std::byte{3}; }, ConnError::bad_length);  // count says 3, two present
  check([](auto& m) { put32(m, 40, 0); }, ConnError::bad_qpn);
  check([](auto& m) { put32(m, 40, 0x1000000); }, ConnError::bad_qpn);
  check([](auto& m) { put32(m, 44, 0x1000000); }, ConnError::bad_psn);
  check([](auto& m) { m[66] = std::byte{0}; }, ConnError::bad_mtu);
  check([](auto& m) { m[66] = std::byte{6}; }, ConnError::bad_mtu);
  check([](auto& m) { m[67] = std::byte{2}; }, ConnError::bad_link_layer);
  check([](auto& m) { std::fill(m.begin() + 48, m.begin() + 64, std::byte{0}); }, ConnError::bad_address);
  check([](auto& m) { m[67] = std::byte{0}; }, ConnError::bad_address);  // InfiniBand with LID 0
  // Regions: id 0, id > 255, not increasing, empty, wrapping.
  check([](auto& m) { put32(m, 72, 0); }, ConnError::bad_region);
  check([](auto& m) { put32(m, 72 + 24, 256); }, ConnError::bad_region);
  check([](auto& m) { put32(m, 72 + 24, 1); }, ConnError::bad_region);
  check([](auto& m) { std::fill(m.begin() + 72 + 16, m.begin() + 72 + 24, std::byte{0}); }, ConnError::bad_region);
  check([](auto& m) { std::fill(m.begin() + 72 + 8, m.begin() + 72 + 24, std::byte{0xff}); }, ConnError::bad_region);
  // A regions update must not carry QP fields.
  check([](auto& m) { put32(m, 40, 5); }, ConnError::bad_qpn, ConnKind::regions);
  check([](auto& m) { m[50] = std::byte{1}; }, ConnError::bad_address, ConnKind::regions);
  check([](auto& m) { m[66] = std::byte{5}; }, ConnError::bad_mtu, ConnKind::regions);
}

TEST(ConnData, BindingRefusesOtherHostsRailsAndEpochs) {
  const ConnectionData d = sample();
  const ConnBinding ok{.local_node = 0x2222, .peer_node = 0x1111, .rail = 2};
  EXPECT_EQ(bind(d, ok), ConnError::ok);
  ConnBinding b = ok;
  b.peer_node = 0x3333;
  EXPECT_EQ(bind(d, b), ConnError::wrong_sender);
  b = ok;
  b.local_node = 0x3333;
  EXPECT_EQ(bind(d, b), ConnError::wrong_receiver);
  b = ok;
  b.rail = 1;
  EXPECT_EQ(bind(d, b), ConnError::wrong_rail);
  ConnectionData zero = d;
  zero.epoch = 0;
  EXPECT_EQ(bind(zero, ok), ConnError::stale_epoch);
  const ConnectionData r = sample(ConnKind::regions);
  EXPECT_EQ(bind(r, ok), ConnError::stale_epoch);  // nothing connected yet
  b = ok;
  b.connected_epoch = 6;
  EXPECT_EQ(bind(r, b), ConnError::stale_epoch);
  b.connected_epoch = 7;
  EXPECT_EQ(bind(r, b), ConnError::ok);
}

TEST(ConnData, Crc32cKnownAnswer) {
  const std::string s = "123456789";
  EXPECT_EQ(fabric::crc32c(std::as_bytes(std::span(s))), 0xe3069283u);  // the codec's checksum: fabric's
}

// Regenerates the fuzz seeds in tests/unit/verbs/corpus/conn/:
//   build/tests/unit/verbs/verbs_test --gtest_also_run_disabled_tests
//       --gtest_filter=ConnData.DISABLED_WriteFuzzCorpus
TEST(ConnData, DISABLED_WriteFuzzCorpus) {
  const std::filesystem::path dir = std::filesystem::path(RAILYARD_SOURCE_DIR) / "tests/unit/verbs/corpus/conn";
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::vector<std::byte>& m) {
    std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(m.data()),
                                                      static_cast<std::streamsize>(m.size()));
  };
  write("connect", bytes_of(sample()));
  write("regions", bytes_of(sample(ConnKind::regions)));
  ConnectionData ib = sample();
  ib.link_layer = LinkLayer::infiniband;
  ib.lid = 7;
  ib.gid = {};
  write("connect_ib", bytes_of(ib));
  ConnectionData many = sample();
  many.regions.clear();
  for (uint32_t i = 1; i <= kMaxRegionId; ++i)
    many.regions.push_back({.id = i, .rkey = i * 3, .addr = uint64_t{i} << 32, .length = 4096});
  write("connect_max_regions", bytes_of(many));
  auto bad = bytes_of(sample());
  bad[10] ^= std::byte{1};
  write("bad_checksum", bad);
  write("short", std::vector<std::byte>(bad.begin(), bad.begin() + 40));
}

}  // namespace
}  // namespace railyard::verbs
