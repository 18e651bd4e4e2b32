#include "drivers/cgroup/cgroup_cpu.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace railyard::cgroup {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

// mountinfo escapes space, tab, newline and backslash as octal.
std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      const std::string oct(s.substr(i + 1, 3));
      if (oct.size() == 3 && oct.find_first_not_of("01234567") == std::string::npos) {
        out.push_back(static_cast<char>(std::stoi(oct, nullptr, 8)));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool has(std::string_view list, std::string_view item) {
  for (auto x : split(list, ','))
    if (x == item) return true;
  return false;
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool write_file(const std::string& path, std::string_view value, std::string& error) {
  std::FILE* f = std::fopen(path.c_str(), "we");
  if (!f) {
    error = fmt::format("cannot open {}: {}", path, std::strerror(errno));
    return false;
  }
  const bool wrote = std::fwrite(value.data(), 1, value.size(), f) == value.size();
  const int e = errno;
  const bool closed = std::fclose(f) == 0;  // cgroupfs reports a bad value on write or close
  if (!wrote || !closed) {
    error = fmt::format("cannot write '{}' to {}: {}", value, path, std::strerror(wrote ? errno : e));
    return false;
  }
  return true;
}

std::string join(const std::string& root, const std::string& cgroup) {
  if (cgroup.empty() || cgroup == "/") return root;
  return cgroup.front() == '/' ? root + cgroup : root + "/" + cgroup;
}

}  // namespace

std::string_view to_string(Version v) { return v == Version::v1 ? "v1" : "v2"; }

std::optional<Version> Mounts::version() const {
  if (v1_cpu) return Version::v1;
  if (v2) return Version::v2;
  return std::nullopt;
}

Mounts parse_mountinfo(std::string_view text) {
  Mounts m;
  for (auto line : split(text, '\n')) {
    const size_t dash = line.find(" - ");
    if (dash == std::string_view::npos) continue;
    const auto left = split(line.substr(0, dash), ' ');
    const auto right = split(line.substr(dash + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    const std::string mount_point = unescape(left[4]);
    const auto fstype = right[0];
    const auto super_options = right[2];
    if (fstype == "cgroup2") {
      if (!m.v2) m.v2 = mount_point;
    } else if (fstype == "cgroup") {
      if (!m.v1_cpu && has(super_options, "cpu")) m.v1_cpu = mount_point;
      if (!m.v1_freezer && has(super_options, "freezer")) m.v1_freezer = mount_point;
    }
  }
  return m;
}

Mounts detect(const std::string& path) {
  const auto text = read_file(path);
  return text ? parse_mountinfo(*text) : Mounts{};
}

std::optional<std::string> cgroup_of(std::string_view proc_cgroup, Version version, std::string_view controller) {
  for (auto line : split(proc_cgroup, '\n')) {
    const size_t a = line.find(':');
    const size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    const auto controllers = line.substr(a + 1, b - a - 1);
    const auto path = line.substr(b + 1);
    if (version == Version::v2 ? (line.substr(0, a) == "0" && controllers.empty()) : has(controllers, controller))
      return std::string(path);
  }
  return std::nullopt;
}

std::optional<CpuActuator> CpuActuator::open(const Mounts& mounts, const std::string& cgroup, std::string& error) {
  const auto version = mounts.version();
  if (!version) {
    error = "no cgroup hierarchy with the cpu controller is mounted (neither cgroup2 nor a v1 cpu hierarchy)";
    return std::nullopt;
  }
  CpuActuator a;
  a.version_ = *version;
  if (*version == Version::v2) {
    a.cpu_dir_ = join(*mounts.v2, cgroup);
    a.quota_file_ = a.cpu_dir_ + "/cpu.max";
    a.freeze_file_ = a.cpu_dir_ + "/cgroup.freeze";
    if (::access(a.freeze_file_.c_str(), W_OK) != 0) a.freeze_file_.clear();
  } else {
    a.cpu_dir_ = join(*mounts.v1_cpu, cgroup);
    a.quota_file_ = a.cpu_dir_ + "/cpu.cfs_quota_us";
    // The quota is per CFS period: the cgroup's own, read once here.
    if (auto text = read_file(a.cpu_dir_ + "/cpu.cfs_period_us")) {
      try {
        a.period_us_ = std::stol(*text);
      } catch (const std::exception&) {
      }
    }
    if (mounts.v1_freezer) {
      a.freeze_file_ = join(*mounts.v1_freezer, cgroup) + "/freezer.state";
      if (::access(a.freeze_file_.c_str(), W_OK) != 0) a.freeze_file_.clear();
    }
  }
  if (::access(a.quota_file_.c_str(), W_OK) != 0) {
    error = fmt::format("cgroup {} ({}): cannot write {}: {}", cgroup, to_string(*version), a.quota_file_,
                        std::strerror(errno));
    return std::nullopt;
  }
  return a;
}

bool CpuActuator::set_quota(double cpus, std::string& error) {
  // v2 cpu.max: "QUOTA PERIOD" or "max PERIOD"; v1 cpu.cfs_quota_us: QUOTA or -1 (microseconds).
  const bool v2 = version_ == Version::v2;
  if (cpus <= 0) return write_file(quota_file_, v2 ? fmt::format("max {}", period_us_) : "-1", error);
  const long quota = std::max(1000L, std::lround(cpus * static_cast<double>(period_us_)));
  return write_file(quota_file_, v2 ? fmt::format("{} {}", quota, period_us_) : fmt::format("{}", quota), error);
}

bool CpuActuator::set_frozen(bool frozen, std::string& error) {
  if (freeze_file_.empty()) {
    error = version_ == Version::v1 ? "no writable v1 freezer hierarchy for this cgroup"
                                    : "no writable cgroup.freeze for this cgroup (kernel before 5.2?)";
    return false;
  }
  if (version_ == Version::v2) return write_file(freeze_file_, frozen ? "1" : "0", error);
  return write_file(freeze_file_, frozen ? "FROZEN" : "THAWED", error);
}

}  // namespace railyard::cgroup
