#pragma once
// cgroup CPU actuator: limits a cgroup's CPU time or freezes it, through
// cgroup v2 (cpu.max, cgroup.freeze) or cgroup v1 (cpu.cfs_quota_us in the
// cpu hierarchy, freezer.state in the freezer hierarchy), whichever the host
// mounts. The cgroup is named at run time, relative to the hierarchy roots
// ("/railyard/decode-0"), or found from a pid's /proc/PID/cgroup.

#include <optional>
#include <string>
#include <string_view>

namespace railyard::cgroup {

enum class Version { v1, v2 };
std::string_view to_string(Version v);

/// Where the hierarchies are mounted (absolute paths), from mountinfo.
struct Mounts {
  std::optional<std::string> v2;          ///< the cgroup2 mount, if any
  std::optional<std::string> v1_cpu;      ///< a v1 hierarchy with the cpu controller
  std::optional<std::string> v1_freezer;  ///< a v1 hierarchy with the freezer controller
  /// v1 when the cpu controller is bound to a v1 hierarchy (it then cannot be
  /// in the v2 one, as on hybrid hosts), else v2 when mounted.
  std::optional<Version> version() const;
};

/// Parses /proc/self/mountinfo's text (fstype after " - "; v1 controllers in
/// the super options). Pure.
Mounts parse_mountinfo(std::string_view text);
/// Reads and parses `path`; empty Mounts when it cannot be read.
Mounts detect(const std::string& path = "/proc/self/mountinfo");

/// The cgroup path of `pid` for `version` from /proc/PID/cgroup's text:
/// v2 "0::/path", v1 the line whose controllers include `controller`.
std::optional<std::string> cgroup_of(std::string_view proc_cgroup, Version version,
                                     std::string_view controller = "cpu");

class CpuActuator {
 public:
  /// Checks that the cgroup's files exist and are writable; nullopt with
  /// `error` saying what is missing (no hierarchy, no such cgroup, no access).
  static std::optional<CpuActuator> open(const Mounts& mounts, const std::string& cgroup, std::string& error);

  /// Limits the cgroup to `cpus` CPUs' worth of time per period (0.5 = half
  /// a core); `cpus` <= 0 lifts the limit.
  bool set_quota(double cpus, std::string& error);
  /// Freezes or thaws every task of the cgroup. v1 needs a freezer hierarchy.
  bool set_frozen(bool frozen, std::string& error);
  bool can_freeze() const { return !freeze_file_.empty(); }

  Version version() const { return version_; }
  /// Directory written (the cpu hierarchy's for v1).
  const std::string& directory() const { return cpu_dir_; }

 private:
  Version version_ = Version::v2;
  std::string cpu_dir_;
  std::string quota_file_;  ///< cpu.max (v2) or cpu.cfs_quota_us (v1)
  long period_us_ = 100'000;  ///< CFS period the quota is a share of
  std::string freeze_file_;  ///< cgroup.freeze (v2) or freezer.state (v1); "" when none
};

}  // namespace railyard::cgroup
