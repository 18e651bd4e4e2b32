// DPDK config checks: port strings, rail configs, EAL arguments.
#include "drivers/nic/dpdk/dpdk_config.h"

#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace railyard::nic {
namespace {

using ::testing::HasSubstr;

TEST(PortSpec, PciAddresses) {
  std::string error;
  auto spec = parse_port_spec("0000:3B:00.1", error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ(spec->kind, PortSpec::Kind::pci);
  EXPECT_EQ(spec->name, "0000:3b:00.1");
  spec = parse_port_spec("3b:00.0,rxq_cqe_comp_en=0", error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ(spec->name, "0000:3b:00.0") << "the domain is added";
  EXPECT_EQ(spec->args, "rxq_cqe_comp_en=0");
  EXPECT_FALSE(parse_port_spec("3b:00.8", error));
  EXPECT_FALSE(parse_port_spec("3b:0.0", error));
}

TEST(PortSpec, Vdevs) {
  std::string error;
  auto spec = parse_port_spec("net_af_xdp0,iface=r0,queue=0", error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ(spec->kind, PortSpec::Kind::vdev);
  EXPECT_EQ(spec->name, "net_af_xdp0");
  EXPECT_EQ(spec->driver, "net_af_xdp");
  EXPECT_EQ(spec->iface, "r0");
  spec = parse_port_spec("net_af_packet12,iface=rail-1", error);
  ASSERT_TRUE(spec) << error;
  EXPECT_EQ(spec->driver, "net_af_packet");
  EXPECT_EQ(spec->iface, "rail-1");
  EXPECT_TRUE(parse_port_spec("net_null0", error)) << "drivers without an interface";
}

TEST(PortSpec, ErrorsSayWhatIsValid) {
  std::string error;
  EXPECT_FALSE(parse_port_spec("", error));
  EXPECT_THAT(error, HasSubstr("empty"));
  EXPECT_FALSE(parse_port_spec("eth0", error));
  EXPECT_THAT(error, HasSubstr("neither a PCI address (0000:3b:00.0) nor a vdev string (net_af_xdp0,iface=r0"));
  EXPECT_FALSE(parse_port_spec("net_af_xdp0", error));
  EXPECT_THAT(error, HasSubstr("needs iface=INTERFACE"));
  EXPECT_FALSE(parse_port_spec("net_af_xdp0,iface", error));
  EXPECT_THAT(error, HasSubstr("not key=value"));
  EXPECT_FALSE(parse_port_spec("net_0,iface=r0", error));
  EXPECT_THAT(error, HasSubstr("names no driver"));
  EXPECT_FALSE(parse_port_spec("net_af_xdp0, iface=r0", error));
  EXPECT_THAT(error, HasSubstr("white space"));
}

DpdkRailConfig good() {
  return DpdkRailConfig{.name = "r0",
                        .device = "net_af_xdp0,iface=r0",
                        .address = "10.0.0.1",
                        .port = 47900,
                        .peers = {{.slot = 0, .address = "10.0.0.2", .port = 47900, .mac = "02:00:00:00:00:02"}}};
}

TEST(RailConfig, GoodConfigHasNoProblems) { EXPECT_TRUE(check_rail_config(good()).empty()); }

TEST(RailConfig, EveryProblemNamesItsKey) {
  auto c = good();
  c.device = "eth0";
  c.address = "10.0.0";
  c.port = 0;
  c.burst = 0;
  c.mtu = 100;
  c.peers[0].mac = "ff:ff:ff:ff:ff:ff";
  c.peers.push_back({.slot = kUnknownPeer, .address = "x", .port = 0});
  const auto problems = check_rail_config(c);
  const std::string all = ::testing::PrintToString(problems);
  for (const char* key : {"device:", "address:", "port:", "burst:", "mtu:", "not a unicast MAC", "no slot",
                          "is not an IPv4 address", "port 0"}) {
    EXPECT_THAT(all, HasSubstr(key));
  }
}

TEST(EalArguments, FromConfig) {
  const auto args = eal_arguments(DpdkEnvConfig{.cores = "2,3",
                                                .memory_mb = 512,
                                                .no_huge = true,
                                                .file_prefix = "railyard-h1",
                                                .no_pci = true,
                                                .allow = {"0000:3b:00.0"},
                                                .vdevs = {"net_null0"},
                                                .extra_args = {"--iova-mode=va"}});
  EXPECT_EQ(args, (std::vector<std::string>{"railyardd", "-l", "2,3", "--file-prefix", "railyard-h1", "-m", "512",
                                            "--no-huge", "--no-pci", "-a", "0000:3b:00.0", "--vdev=net_null0",
                                            "--log-level=notice", "--no-telemetry", "--iova-mode=va"}));
}

TEST(EalArguments, FilePrefixIsRequiredAndPlain) {
  EXPECT_THROW(eal_arguments(DpdkEnvConfig{}), std::invalid_argument);
  EXPECT_THROW(eal_arguments(DpdkEnvConfig{.file_prefix = "a/b"}), std::invalid_argument);
  try {
    eal_arguments(DpdkEnvConfig{});
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("give every daemon on a host its own"));
  }
}

}  // namespace
}  // namespace railyard::nic
