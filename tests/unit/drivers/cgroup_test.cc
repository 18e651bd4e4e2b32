// drivers/cgroup: mountinfo parsing, /proc/PID/cgroup, and the files written
// in a temporary directory laid out like cgroupfs (v1 and v2).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "drivers/cgroup/cgroup_cpu.h"

namespace railyard::cgroup {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kV1 =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n";
constexpr std::string_view kV2 =
    "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/root rw\n"
    "26 22 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";

TEST(Mountinfo, V1WinsWhenItHoldsTheCpuController) {
  const Mounts m = parse_mountinfo(kV1);
  EXPECT_EQ(m.v1_cpu, "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(m.v1_freezer, "/sys/fs/cgroup/freezer");
  EXPECT_EQ(m.v2, "/sys/fs/cgroup/unified");
  EXPECT_EQ(m.version(), Version::v1);  // hybrid: cpu is bound to v1
}

TEST(Mountinfo, V2) {
  const Mounts m = parse_mountinfo(kV2);
  EXPECT_EQ(m.v2, "/sys/fs/cgroup");
  EXPECT_FALSE(m.v1_cpu);
  EXPECT_EQ(m.version(), Version::v2);
  EXPECT_FALSE(parse_mountinfo("garbage\n\n1 2 3").version());
}

TEST(Mountinfo, EscapedMountPoint) {
  const Mounts m = parse_mountinfo("50 31 0:40 / /tmp/my\\040cg rw - cgroup2 cgroup2 rw\n");
  EXPECT_EQ(m.v2, "/tmp/my cg");
}

TEST(Mountinfo, ThisHostHasSome) {
  // Whatever this machine mounts, detection reads it without throwing.
  const Mounts m = detect();
  SUCCEED() << (m.version() ? to_string(*m.version()) : "none");
}

TEST(ProcCgroup, Paths) {
  constexpr std::string_view v1 = "12:freezer:/decode\n11:cpu,cpuacct:/railyard/decode\n1:name=systemd:/x\n0::/u\n";
  EXPECT_EQ(cgroup_of(v1, Version::v1, "cpu"), "/railyard/decode");
  EXPECT_EQ(cgroup_of(v1, Version::v1, "freezer"), "/decode");
  EXPECT_EQ(cgroup_of(v1, Version::v2), "/u");
  EXPECT_EQ(cgroup_of("0::/system.slice/decode.service\n", Version::v2), "/system.slice/decode.service");
  EXPECT_FALSE(cgroup_of("3:memory:/m\n", Version::v1, "cpu"));
}

class FakeCgroupfs : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/railyard-cgroupfs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root = tmpl;
  }
  void TearDown() override { fs::remove_all(root); }
  void touch(const fs::path& p, std::string_view content = "") {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << content;
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path root;
};

TEST_F(FakeCgroupfs, V2QuotaAndFreeze) {
  touch(root / "decode" / "cpu.max", "max 100000\n");
  touch(root / "decode" / "cgroup.freeze", "0\n");
  Mounts m;
  m.v2 = root.string();
  std::string error;
  auto a = CpuActuator::open(m, "/decode", error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->version(), Version::v2);
  EXPECT_TRUE(a->can_freeze());
  ASSERT_TRUE(a->set_quota(0.5, error)) << error;
  EXPECT_EQ(read(root / "decode" / "cpu.max"), "50000 100000");
  ASSERT_TRUE(a->set_quota(0, error)) << error;
  EXPECT_EQ(read(root / "decode" / "cpu.max"), "max 100000");
  ASSERT_TRUE(a->set_frozen(true, error)) << error;
  EXPECT_EQ(read(root / "decode" / "cgroup.freeze"), "1");
  ASSERT_TRUE(a->set_frozen(false, error)) << error;
  EXPECT_EQ(read(root / "decode" / "cgroup.freeze"), "0");
}

TEST_F(FakeCgroupfs, V1QuotaFollowsThePeriodAndFreezerState) {
  touch(root / "cpu" / "decode" / "cpu.cfs_quota_us", "-1\n");
  touch(root / "cpu" / "decode" / "cpu.cfs_period_us", "50000\n");
  touch(root / "freezer" / "decode" / "freezer.state", "THAWED\n");
  Mounts m;
  m.v1_cpu = (root / "cpu").string();
  m.v1_freezer = (root / "freezer").string();
  m.v2 = (root / "unified").string();  // hybrid: ignored for cpu
  std::string error;
  auto a = CpuActuator::open(m, "decode", error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->version(), Version::v1);
  ASSERT_TRUE(a->set_quota(2.0, error)) << error;
  EXPECT_EQ(read(root / "cpu" / "decode" / "cpu.cfs_quota_us"), "100000");
  ASSERT_TRUE(a->set_quota(-1, error)) << error;
  EXPECT_EQ(read(root / "cpu" / "decode" / "cpu.cfs_quota_us"), "-1");
  ASSERT_TRUE(a->set_frozen(true, error)) << error;
  EXPECT_EQ(read(root / "freezer" / "decode" / "freezer.state"), "FROZEN");
  ASSERT_TRUE(a->set_frozen(false, error)) << error;
  EXPECT_EQ(read(root / "freezer" / "decode" / "freezer.state"), "THAWED");
}

TEST_F(FakeCgroupfs, V1WithoutFreezerCannotFreeze) {
  touch(root / "cpu" / "decode" / "cpu.cfs_quota_us", "-1\n");
  Mounts m;
  m.v1_cpu = (root / "cpu").string();
  std::string error;
  auto a = CpuActuator::open(m, "decode", error);
  ASSERT_TRUE(a) << error;
  EXPECT_FALSE(a->can_freeze());
  EXPECT_FALSE(a->set_frozen(true, error));
  EXPECT_NE(error.find("freezer"), std::string::npos);
}

TEST_F(FakeCgroupfs, MissingCgroupIsExplained) {
  Mounts m;
  m.v2 = root.string();
  std::string error;
  EXPECT_FALSE(CpuActuator::open(m, "/nope", error));
  EXPECT_NE(error.find("nope/cpu.max"), std::string::npos) << error;
  EXPECT_FALSE(CpuActuator::open(Mounts{}, "/x", error));
  EXPECT_NE(error.find("no cgroup hierarchy"), std::string::npos) << error;
}

}  // namespace
}  // namespace railyard::cgroup
