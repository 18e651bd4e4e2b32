#include "daemon/config.h"
#include "drivers/nic/verbs/transport.h"

#include "common/build_info.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace railyard::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Parses text expected to be refused and returns its problems.
std::vector<Problem> problems_of(std::string_view text) {
  try {
    parse(text, "test.toml");
  } catch (const ConfigError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

TEST(Config, DefaultsWithoutFile) {
  const Config c = defaults();
  EXPECT_EQ(c.control.socket_path, "/run/railyard/control.sock");
  EXPECT_EQ(c.control.socket_mode, 0660u);
  EXPECT_EQ(c.control.group, "railyard");
  EXPECT_EQ(c.control.max_message_bytes, 1u << 20);
  EXPECT_EQ(c.daemon.log_level, log::Level::info);
  EXPECT_FALSE(c.daemon.host_name.empty());
  EXPECT_TRUE(c.source_path.empty());
}

TEST(Config, EmptyFileMeansDefaults) {
  const Config c = parse("", "empty.toml");
  EXPECT_EQ(c.control.socket_path, defaults().control.socket_path);
  EXPECT_EQ(c.source_path, "empty.toml");
}

TEST(Config, EveryKeyRead) {
  const Config c = parse(R"(
[daemon]
host_name = "gpu-07.rack3"
log_level = "debug"

[control]
socket = "/tmp/ry/control.sock"
socket_mode = "0600"
group = "operators"
max_message_bytes = 4096
)",
                         "good.toml");
  EXPECT_EQ(c.daemon.host_name, "gpu-07.rack3");
  EXPECT_EQ(c.daemon.log_level, log::Level::debug);
  EXPECT_EQ(c.control.socket_path, "/tmp/ry/control.sock");
  EXPECT_EQ(c.control.socket_mode, 0600u);
  EXPECT_EQ(c.control.group, "operators");
  EXPECT_EQ(c.control.max_message_bytes, 4096u);
}

TEST(Config, EmptyGroupMeansRootOnly) {
  EXPECT_EQ(parse("[control]\ngroup = \"\"\n", "t.toml").control.group, "");
}

TEST(Config, SyntaxErrorNamesFileLineColumn) {
  auto p = problems_of("[control]\nsocket = \"/x\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].file, "test.toml");
  EXPECT_EQ(p[0].line, 2u);
  EXPECT_GT(p[0].column, 0u);
  EXPECT_THAT(p[0].to_string(), HasSubstr("TOML syntax error"));
}

TEST(Config, UnknownKeyIsAnErrorListingAllowedKeys) {
  auto p = problems_of("[control]\n\nsokcet = \"/run/x.sock\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].line, 3u);
  EXPECT_EQ(p[0].key, "control.sokcet");
  EXPECT_THAT(p[0].message, AllOf(HasSubstr("unknown key"), HasSubstr("socket, socket_mode, group, read_group, max_message_bytes")));
}

TEST(Config, UnknownTableIsAnError) {
  auto p = problems_of("[contrl]\nsocket = \"/x\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "contrl");
  EXPECT_THAT(p[0].message, AllOf(HasSubstr("unknown table"), HasSubstr("[daemon], [control], [fabric], [bmc], [telemetry]")));
}

TEST(Config, SectionGivenAsValue) {
  auto p = problems_of("control = 5\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("must be a table"));
}

TEST(Config, WrongTypeNamesValueAndExpectation) {
  auto p = problems_of("[control]\nsocket = 5\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "control.socket");
  EXPECT_EQ(p[0].line, 2u);
  EXPECT_EQ(p[0].column, 10u);
  EXPECT_THAT(p[0].message, HasSubstr("5 is an integer, expected a string"));
}

TEST(Config, BadValuesSayWhatIsAllowed) {
  struct Case {
    std::string text;
    std::string key;
    std::string expected;
  };
  const std::vector<Case> cases{
      {"[control]\nsocket = \"relative.sock\"", "control.socket", "allowed: an absolute path"},
      {"[control]\nsocket = \"/" + std::string(120, 'a') + "\"", "control.socket", "at most 107"},
      {"[control]\nsocket_mode = \"0999\"", "control.socket_mode", "allowed: octal permission digits"},
      {"[control]\nsocket_mode = \"rw\"", "control.socket_mode", "allowed: octal permission digits"},
      {"[control]\nsocket_mode = \"0060\"", "control.socket_mode", "needs read and write"},
      {"[control]\nsocket_mode = 660", "control.socket_mode", "expected a string"},
      {"[control]\nmax_message_bytes = 1", "control.max_message_bytes", "out of range; allowed: 64 to 67108864"},
      {"[control]\nmax_message_bytes = \"big\"", "control.max_message_bytes", "expected an integer"},
      {"[daemon]\nlog_level = \"loud\"", "daemon.log_level", "allowed: \"err\", \"warning\""},
      {"[daemon]\nhost_name = \"gpu 7\"", "daemon.host_name", "character ' ' is not allowed"},
      {"[daemon]\nhost_name = \"\"", "daemon.host_name", "1 to 64 characters"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto p = problems_of(c.text);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].key, c.key);
    EXPECT_EQ(p[0].line, 2u);
    EXPECT_THAT(p[0].message, HasSubstr(c.expected));
  }
}

TEST(Config, BadValueShowsTheValue) {
  auto p = problems_of("[control]\nsocket_mode = \"0999\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].to_string(), "test.toml:2:15: control.socket_mode: \"0999\": allowed: octal permission digits such "
                              "as \"0660\", at most \"0777\"");
}

TEST(Config, EveryProblemIsReportedAtOnce) {
  auto p = problems_of("[daemon]\nlog_level = \"x\"\nfoo = 1\n[control]\nsocket = \"rel\"\n[bar]\n");
  EXPECT_EQ(p.size(), 4u);
}

TEST(Config, MissingFileIsAnErrorThatSaysSo) {
  try {
    load_file("/nonexistent/railyard.toml");
    FAIL() << "accepted a missing file";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("/nonexistent/railyard.toml"), HasSubstr("cannot read")));
  }
}

TEST(Config, LocateFallsBackToDefaultsOnlyForTheDefaultPath) {
  Located l = locate_and_load("", "/nonexistent/default.toml");
  EXPECT_FALSE(l.from_file);
  EXPECT_THROW(locate_and_load("/nonexistent/explicit.toml", "/nonexistent/default.toml"), ConfigError);

  char path[] = "/tmp/railyard-config-test-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << "[daemon]\nhost_name = \"from-default-path\"\n";
  l = locate_and_load("", path);
  EXPECT_TRUE(l.from_file);
  EXPECT_EQ(l.config.daemon.host_name, "from-default-path");
  std::remove(path);
}


// A key file with the given mode and size, removed with the fixture.
class PskFile {
 public:
  PskFile(mode_t mode, size_t size) {
    int fd = ::mkstemp(path_);
    EXPECT_GE(fd, 0);
    std::string key(size, 'k');
    EXPECT_EQ(::write(fd, key.data(), key.size()), static_cast<ssize_t>(key.size()));
    ::fchmod(fd, mode);
    ::close(fd);
  }
  ~PskFile() { std::remove(path_); }
  std::string path() const { return path_; }

 private:
  char path_[40] = "/tmp/railyard-psk-test-XXXXXX";
};

std::string fabric_text(const std::string& psk) {
  return R"(
[daemon]
host_name = "h1"

[fabric]
port = 7470
psk_file = ")" + psk + R"("

[[rail]]
name = "r0"
interface = "r0a"
address = "198.18.0.1"

[[rail]]
name = "r1"
driver = "udp"
interface = "r1a"
address = "198.18.1.1"

[[peer]]
name = "h2"
addresses = { r0 = "198.18.0.2", r1 = "198.18.1.2" }
)";
}

TEST(Config, RailsAndPeers) {
  PskFile psk(0600, 32);
  const Config c = parse(fabric_text(psk.path()), "fabric.toml");
  ASSERT_EQ(c.rails.size(), 2u);
  EXPECT_EQ(c.rails[0].name, "r0");
  EXPECT_EQ(c.rails[0].driver, "udp");
  EXPECT_EQ(c.rails[0].interface, "r0a");
  EXPECT_EQ(c.rails[1].address, "198.18.1.1");
  ASSERT_EQ(c.peers.size(), 1u);
  EXPECT_EQ(c.peers[0].name, "h2");
  ASSERT_EQ(c.peers[0].addresses.size(), 2u);
  EXPECT_EQ(c.peers[0].addresses[1], (std::pair<std::string, std::string>{"r1", "198.18.1.2"}));
  EXPECT_EQ(c.fabric.port, 7470);
  EXPECT_EQ(c.fabric.psk_file, psk.path());
}

TEST(Config, KeyFileMustBePrivateAndLongEnough) {
  PskFile readable(0644, 32);
  auto p = problems_of(fabric_text(readable.path()));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "fabric.psk_file");
  EXPECT_EQ(p[0].line, 7u);
  EXPECT_THAT(p[0].message, AllOf(HasSubstr("mode 0644"), HasSubstr("chmod 0600")));

  PskFile short_key(0600, 8);
  p = problems_of(fabric_text(short_key.path()));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("holds 8 bytes"));

  p = problems_of(fabric_text("/nonexistent/fabric.psk"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("cannot read it"));
}

TEST(Config, PeersNeedAKey) {
  auto p = problems_of(R"(
[[rail]]
name = "r0"
interface = "r0a"
address = "198.18.0.1"
[[peer]]
name = "h2"
addresses = { r0 = "198.18.0.2" }
)");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "fabric.psk_file");
  EXPECT_THAT(p[0].message, HasSubstr("head -c 32 /dev/urandom"));
}

TEST(Config, RailAndPeerMistakes) {
  PskFile psk(0600, 32);
  auto p = problems_of(R"(
[daemon]
host_name = "h1"
[fabric]
psk_file = ")" + psk.path() + R"("
[[rail]]
name = "R 0"
driver = "carrier-pigeon"
address = "198.18.0.300"
extra = 1
[[rail]]
name = "r1"
interface = "r1a"
address = "198.18.1.1"
[[rail]]
name = "r1"
interface = "r2a"
address = "198.18.1.1"
[[peer]]
name = "h1"
addresses = { r1 = "198.18.1.2", r9 = "198.18.9.2" }
[[peer]]
name = "h3"
)");
  std::vector<std::string> seen;
  for (const auto& x : p) seen.push_back(x.key + ": " + x.message);
  auto has = [&](const std::string& key, const std::string& text) {
    return std::any_of(p.begin(), p.end(), [&](const Problem& x) {
      return x.key == key && x.message.find(text) != std::string::npos;
    });
  };
  EXPECT_TRUE(has("rail[0].name", "character 'R' is not allowed")) << ::testing::PrintToString(seen);
  EXPECT_TRUE(has("rail[0].driver", "allowed: \"udp\"")) << ::testing::PrintToString(seen);
  EXPECT_TRUE(has("rail[0].interface", "missing; add interface =")) << ::testing::PrintToString(seen);
  EXPECT_TRUE(has("rail[0].address", "allowed: an IPv4 address")) << ::testing::PrintToString(seen);
  EXPECT_TRUE(has("rail[2].name", "already the name of rail[1]")) << ::testing::PrintToString(seen);
  EXPECT_TRUE(has("rail[2].address", "already the address of rail[1]")) << ::testing::PrintToString(seen);
  EXPECT_TRUE(has("peer[0].name", "this host's own name")) << ::testing::PrintToString(seen);
  EXPECT_TRUE(has("peer[0].addresses.r9", "rail 'r9' is not configured here; configured rails: r1, r1"))
      << ::testing::PrintToString(seen);
  EXPECT_TRUE(has("peer[1].addresses", "missing")) << ::testing::PrintToString(seen);
  EXPECT_TRUE(has("rail[0].extra", "unknown key")) << ::testing::PrintToString(seen);
  EXPECT_EQ(p.size(), 10u) << ::testing::PrintToString(seen);
}

TEST(Config, Bmc) {
  const Config c = parse(R"(
[bmc]
url = "https://127.0.0.1:8443"
ca_file = "/run/railyard/bmc-ca.pem"
credentials_file = "/etc/railyard/bmc.credentials"
poll_interval_ms = 500
max_in_flight = 3
)",
                         "bmc.toml");
  EXPECT_EQ(c.bmc.url, "https://127.0.0.1:8443");
  EXPECT_EQ(c.bmc.poll_interval_ms, 500u);
  EXPECT_EQ(c.bmc.max_in_flight, 3u);
  EXPECT_FALSE(c.bmc.insecure);

  auto p = problems_of("[bmc]\nurl = \"https://bmc\"\ninsecure = \"yes\"\n");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].key, "bmc.insecure");
  EXPECT_THAT(p[0].message, HasSubstr("expected true or false"));
  EXPECT_EQ(p[1].key, "bmc.url");
  EXPECT_THAT(p[1].message, HasSubstr("needs credentials"));
  p = problems_of("[bmc]\nurl = \"ftp://bmc\"\ncredential = \"bmc\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("an http(s) URL"));
}

TEST(Config, Telemetry) {
  const Config c = parse(R"(
[telemetry]
listen_address = "::1"
listen_port = 0
rails_interval_ms = 50

[[telemetry.remote_write]]
url = "http://127.0.0.1:9090/api/v1/write"

[[telemetry.remote_write]]
url = "https://collector.example:443/api/v1/push"
bearer_token_file = "/etc/railyard/collector.token"
ca_file = "/etc/railyard/collector-ca.pem"
)",
                         "telemetry.toml");
  EXPECT_EQ(c.telemetry.listen_address, "::1");
  EXPECT_EQ(c.telemetry.listen_port, 0);
  EXPECT_EQ(c.telemetry.rails_interval_ms, 50u);
  ASSERT_EQ(c.telemetry.remote_write.size(), 2u);
  EXPECT_EQ(c.telemetry.remote_write[1].bearer_token_file, "/etc/railyard/collector.token");

  auto p = problems_of(R"(
[telemetry]
listen_address = "localhost"
[[telemetry.remote_write]]
basic_auth_username = "ry"
token = "x"
)");
  std::vector<std::string> keys;
  for (const auto& x : p) keys.push_back(x.key);
  EXPECT_THAT(keys, ::testing::UnorderedElementsAre("telemetry.listen_address", "telemetry.remote_write[0].url",
                                                    "telemetry.remote_write[0].basic_auth_username",
                                                    "telemetry.remote_write[0].token"));
}

TEST(Config, DpdkRails) {
  if constexpr (!kHaveDpdk) {
    auto p = problems_of("[[rail]]\nname = \"r0\"\ndriver = \"dpdk\"\ndevice = \"net_af_xdp0,iface=r0\"\n"
                         "address = \"198.18.0.1\"\n");
    ASSERT_FALSE(p.empty());
    EXPECT_THAT(p[0].message, HasSubstr("built without DPDK"));
    GTEST_SKIP() << "this build has no DPDK: only the refusal is checked";
  }
  const Config c = parse(R"(
[daemon]
host_name = "h1"
[dpdk]
no_huge = true
memory_mb = 512
no_pci = true
extra_args = ["--log-level=8"]
[[rail]]
name = "r0"
driver = "dpdk"
device = "net_af_packet0,iface=r0"
address = "198.18.0.1"
)",
                         "dpdk.toml");
  ASSERT_EQ(c.rails.size(), 1u);
  EXPECT_EQ(c.rails[0].device, "net_af_packet0,iface=r0");
  EXPECT_TRUE(c.dpdk.no_huge);
  EXPECT_EQ(dpdk_file_prefix(c), "railyard-h1");
  EXPECT_EQ(c.dpdk.extra_args, std::vector<std::string>{"--log-level=8"});
  auto p = problems_of("[[rail]]\nname = \"r0\"\ndriver = \"dpdk\"\ndevice = \"eth0\"\naddress = \"198.18.0.1\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "rail[0].device");
  p = problems_of("[[rail]]\nname = \"r0\"\ninterface = \"r0\"\ndevice = \"net_af_xdp0,iface=r0\"\naddress = \"198.18.0.1\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("only rails with driver = \"dpdk\" or \"verbs\""));
}

TEST(Config, VerbsRails) {
  constexpr std::string_view kRails = R"(
[daemon]
host_name = "h1"
[verbs]
slice_bytes = 131072
qp_budget_bytes = 1048576
traffic_class = 106
[[rail]]
name = "r0"
driver = "verbs"
interface = "ens1f0np0"
address = "198.18.0.1"
device = "mlx5_0"
[[rail]]
name = "r1"
driver = "verbs"
interface = "ens1f1np1"
address = "198.18.1.1"
port = 2
gid_index = 3
)";
  if constexpr (!kHaveVerbs) {
    auto p = problems_of(kRails);
    ASSERT_FALSE(p.empty());
    EXPECT_THAT(p[0].message, HasSubstr("built without verbs"));
    GTEST_SKIP() << "this build has no libibverbs: only the refusal is checked";
  }
  const Config c = parse(kRails, "verbs.toml");
  ASSERT_EQ(c.rails.size(), 2u);
  EXPECT_EQ(c.rails[0].device, "mlx5_0");
  EXPECT_EQ(c.rails[0].port, 1u);
  EXPECT_EQ(c.rails[0].gid_index, -1);
  EXPECT_EQ(c.rails[1].device, "");  // the host's only device
  EXPECT_EQ(c.rails[1].port, 2u);
  EXPECT_EQ(c.rails[1].gid_index, 3);
  EXPECT_EQ(c.verbs.slice_bytes, 131072u);
  const verbs::TransportConfig t = verbs_transport_config(c.verbs);
  EXPECT_EQ(t.slice_bytes, 131072u);
  EXPECT_EQ(t.qp_budget_bytes, 1048576u);
  EXPECT_EQ(t.qp.traffic_class, 106);

  const std::string rail = "[[rail]]\nname = \"r0\"\ndriver = \"verbs\"\naddress = \"198.18.0.1\"\n";
  auto p = problems_of(rail);  // no interface: nothing would carry the peer session
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "rail[0].interface");
  p = problems_of(rail + "interface = \"e1\"\nport = 0\ngid_index = 256\n");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].key, "rail[0].port");
  EXPECT_EQ(p[1].key, "rail[0].gid_index");
  p = problems_of("[verbs]\nslice_bytes = 4096\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "verbs.slice_bytes");
  EXPECT_THAT(p[0].message, HasSubstr("65536 to 1048576"));
  p = problems_of("[verbs]\nslice_bytes = 1048576\nqp_budget_bytes = 65536\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "verbs.qp_budget_bytes");
  EXPECT_THAT(p[0].message, HasSubstr("at least slice_bytes"));
  p = problems_of("[[rail]]\nname = \"r0\"\ninterface = \"e1\"\naddress = \"198.18.0.1\"\ngid_index = 1\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("only rails with driver = \"verbs\""));
  // A verbs host carries every transfer over RDMA: no packet rails beside.
  p = problems_of(rail + "interface = \"e1\"\n[[rail]]\nname = \"r1\"\ninterface = \"e2\"\naddress = \"198.18.1.1\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "rail[1].driver");
  EXPECT_THAT(p[0].message, HasSubstr("every rail of a host with a verbs rail must be verbs"));
}

TEST(Config, PolicyActuators) {
  const Config d = defaults();
  EXPECT_EQ(d.policy.workload_cgroup, "");
  EXPECT_TRUE(d.policy.nvml);
  const Config c = parse(R"(
[policy]
workload_cgroup = "/railyard.slice/decode.service"
cpu_quota_cpus = 2
nvml = false
power_cap_percent = 75
power_cap_deep_percent = 50
)",
                         "policy.toml");
  EXPECT_EQ(c.policy.workload_cgroup, "/railyard.slice/decode.service");
  EXPECT_EQ(c.policy.cpu_quota_cpus, 2.0);
  EXPECT_FALSE(c.policy.nvml);
  EXPECT_EQ(c.policy.power_cap_percent, 75u);
  EXPECT_EQ(c.policy.power_cap_deep_percent, 50u);
  EXPECT_EQ(parse("[policy]\ncpu_quota_cpus = 0.5\n", "t.toml").policy.cpu_quota_cpus, 0.5);

  auto p = problems_of("[policy]\nworkload_cgroup = \"/sys/fs/cgroup/cpu/decode\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "policy.workload_cgroup");
  EXPECT_EQ(p[0].line, 2u);
  EXPECT_THAT(p[0].message, HasSubstr("under the hierarchy root"));
  p = problems_of("[policy]\nworkload_cgroup = \"decode\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("/proc/PID/cgroup"));
  p = problems_of("[policy]\nworkload_cgroup = \"/a/../b\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("'..'"));
  p = problems_of("[policy]\ncpu_quota_cpus = 0\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "policy.cpu_quota_cpus");
  EXPECT_THAT(p[0].message, HasSubstr("0.01 to 4096"));
  p = problems_of("[policy]\ncpu_quota_cpus = \"1\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("expected a number"));
  p = problems_of("[policy]\npower_cap_percent = 60\npower_cap_deep_percent = 70\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "policy.power_cap_deep_percent");
  EXPECT_THAT(p[0].message, HasSubstr("under power_cap_percent (60)"));
  p = problems_of("[policy]\nquota = 1\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("allowed keys in [policy]: workload_cgroup, cpu_quota_cpus"));
}

TEST(Config, RailMustBeAnArrayOfTables) {
  auto p = problems_of("[rail]\nname = \"r0\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("[[rail]]"));
}

}  // namespace
}  // namespace railyard::config
