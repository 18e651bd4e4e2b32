#include "drivers/nic/verbs/device.h"

#include <gtest/gtest.h>

namespace railyard::verbs {
namespace {

GidEntry entry(uint32_t index, GidType type, uint32_t ifindex, Gid gid) {
  return GidEntry{.index = index, .gid = gid, .type = type, .netdev_ifindex = ifindex};
}
Gid v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d}; }
Gid link_local(uint8_t x) { return {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, x}; }

// A ConnectX port with two netdevs' addresses, as mlx5 lays the table out:
// per address a RoCE v1 and a RoCE v2 entry.
std::vector<GidEntry> table() {
  return {entry(0, GidType::roce_v1, 5, link_local(1)), entry(1, GidType::roce_v2, 5, link_local(1)),
          entry(2, GidType::roce_v1, 5, v4(10, 0, 0, 1)), entry(3, GidType::roce_v2, 5, v4(10, 0, 0, 1)),
          entry(4, GidType::roce_v1, 7, v4(10, 1, 0, 1)), entry(5, GidType::roce_v2, 7, v4(10, 1, 0, 1))};
}

const PortInfo kRoce{.state = PortState::active, .link_layer = LinkLayer::ethernet, .gid_table_len = 16};

TEST(VerbsDevice, ByNetdevPicksRoceV2Ipv4Mapped) {
  std::string why;
  auto g = select_gid(kRoce, table(), -1, 5, why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->index, 3u);
  EXPECT_EQ(g->type, GidType::roce_v2);
  g = select_gid(kRoce, table(), -1, 7, why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->index, 5u);
}

TEST(VerbsDevice, ByNetdevWithoutIpv4SaysWhyAndListsTheTable) {
  std::string why;
  auto t = table();
  t.resize(2);  // only the link-local entries
  EXPECT_FALSE(select_gid(kRoce, t, -1, 5, why));
  EXPECT_NE(why.find("no RoCE v2 GID with an IPv4 address on ifindex 5"), std::string::npos) << why;
  EXPECT_NE(why.find("[1] fe80:0000"), std::string::npos) << why;
  EXPECT_FALSE(select_gid(kRoce, table(), -1, 9, why));  // another netdev
}

TEST(VerbsDevice, ByIndexMustExist) {
  std::string why;
  auto g = select_gid(kRoce, table(), 2, 0, why);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->index, 2u);
  EXPECT_FALSE(select_gid(kRoce, table(), 9, 0, why));
  EXPECT_NE(why.find("gid_index 9"), std::string::npos);
}

TEST(VerbsDevice, WithoutNetdevTheFirstRoceV2Ipv4) {
  std::string why;
  auto g = select_gid(kRoce, table(), -1, 0, why);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->index, 3u);
}

TEST(VerbsDevice, InfinibandUsesGidZero) {
  std::string why;
  const PortInfo ib{.state = PortState::active, .link_layer = LinkLayer::infiniband, .lid = 3, .gid_table_len = 128};
  std::vector<GidEntry> t = {entry(0, GidType::ib, 0, link_local(9))};
  auto g = select_gid(ib, t, -1, 0, why);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->index, 0u);
}

TEST(VerbsDevice, SelectDevice) {
  std::string why;
  std::vector<DeviceInfo> none;
  EXPECT_FALSE(select_device(none, "", why));
  EXPECT_EQ(why, "no RDMA device: ibv_get_device_list returned 0 devices");
  std::vector<DeviceInfo> two = {{.name = "mlx5_0"}, {.name = "mlx5_1"}};
  EXPECT_FALSE(select_device(two, "", why));
  EXPECT_NE(why.find("mlx5_0, mlx5_1"), std::string::npos);
  EXPECT_EQ(select_device(two, "mlx5_1", why).value_or(""), "mlx5_1");
  EXPECT_FALSE(select_device(two, "rxe0", why));
  std::vector<DeviceInfo> one = {{.name = "rxe0"}};
  EXPECT_EQ(select_device(one, "", why).value_or(""), "rxe0");
}

TEST(VerbsDevice, FormatGid) {
  EXPECT_EQ(format_gid(v4(192, 168, 1, 2)), "::ffff:192.168.1.2");
  EXPECT_EQ(format_gid(link_local(1)), "fe80:0000:0000:0000:0000:0000:0000:0001");
}

}  // namespace
}  // namespace railyard::verbs
