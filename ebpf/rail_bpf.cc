#include "ebpf/rail_bpf.h"

#include <linux/capability.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <net/if.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <span>
#include <stdexcept>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "common/log.h"
#include "ebpf/bpf_map.h"
#include "ebpf/fault_injector.skel.h"
#include "ebpf/fault_injector_abi.h"
#include "ebpf/rail_monitor.skel.h"
#include "ebpf/rail_monitor_abi.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

namespace railyard::ebpf {

// The ABI headers are the only copy of these layouts; pin them here so a
// change to one side is a compile error, not a silent misread.
static_assert(sizeof(rm_class_stats) == 5 * sizeof(uint64_t));
static_assert(sizeof(rm_dir_stats) == 4 * sizeof(uint64_t));
static_assert(sizeof(fi_config) == 4 * sizeof(uint32_t));
static_assert(sizeof(fi_stats) == 6 * sizeof(uint64_t));
static_assert(RAILYARD_FABRIC_CLASSES == kClasses);
static_assert(RAILYARD_FABRIC_TYPE_SLOTS == kTypeSlots);
static_assert(RAILYARD_FABRIC_PORT_DEFAULT == kDefaultFabricPort);
static_assert(RM_INGRESS == static_cast<int>(Direction::ingress) && RM_EGRESS == static_cast<int>(Direction::egress));
static_assert(sizeof(RM_PROG_INGRESS_NAME) <= BPF_OBJ_NAME_LEN && sizeof(RM_PROG_EGRESS_NAME) <= BPF_OBJ_NAME_LEN &&
              sizeof(FI_PROG_NAME) <= BPF_OBJ_NAME_LEN, "the kernel truncates program names to 15 characters");

namespace {

constexpr int kMinKernelMajor = 5;
constexpr int kMinKernelMinor = 17;  // bpf_loop (5.17), XDP bpf_link (5.9), gso_size in __sk_buff (5.7)

// ---- libbpf's log: captured while loading (for the error message), else debug.

thread_local std::string* g_capture = nullptr;

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  char line[2048];
  const int n = std::vsnprintf(line, sizeof line, format, args);
  if (n <= 0) return 0;
  std::string_view text(line, std::min<size_t>(static_cast<size_t>(n), sizeof line - 1));
  if (g_capture != nullptr) {
    if (g_capture->size() > (1u << 20)) g_capture->erase(0, g_capture->size() / 2);
    g_capture->append(text);
  } else if (level != LIBBPF_DEBUG) {
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    log::debug("libbpf: {}", text);
  }
  return 0;
}

void install_print() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpf_print); });
}

class LibbpfLog {
 public:
  LibbpfLog() : previous_(g_capture) {
    install_print();
    g_capture = &text_;
  }
  ~LibbpfLog() { g_capture = previous_; }
  LibbpfLog(const LibbpfLog&) = delete;
  LibbpfLog& operator=(const LibbpfLog&) = delete;

  /// The last `lines` non-empty lines, joined with " | ".
  std::string tail(size_t lines) const {
    std::vector<std::string_view> out;
    std::string_view rest = text_;
    while (!rest.empty() && out.size() < lines) {
      while (!rest.empty() && rest.back() == '\n') rest.remove_suffix(1);
      const size_t nl = rest.rfind('\n');
      const std::string_view line = nl == std::string_view::npos ? rest : rest.substr(nl + 1);
      if (!line.empty()) out.push_back(line);
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(0, nl);
    }
    std::string joined;
    for (size_t i = out.size(); i-- > 0;) {
      if (!joined.empty()) joined += " | ";
      joined += out[i];
    }
    return joined;
  }

 private:
  std::string* previous_;
  std::string text_;
};

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

// ---- what the process may do

uint64_t effective_capabilities(bool& known) {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  known = syscall(SYS_capget, &header, data) == 0;
  return known ? (uint64_t{data[0].effective} | (uint64_t{data[1].effective} << 32)) : 0;
}

bool has_cap(uint64_t caps, int cap) { return (caps >> cap) & 1; }

bool kernel_version(int& major, int& minor, std::string& release) {
  utsname u{};
  if (uname(&u) != 0) return false;
  release = u.release;
  return std::sscanf(u.release, "%d.%d", &major, &minor) == 2;
}

std::string load_failure(std::string_view what, int err, const LibbpfLog& log) {
  if (auto reason = unavailable_reason()) return fmt::format("{}: {}", what, *reason);
  if (err == EPERM || err == EACCES) {
    return fmt::format(
        "{}: the kernel refused bpf() ({}) although the process has CAP_BPF and CAP_NET_ADMIN: a seccomp "
        "filter (systemd SystemCallFilter= must allow bpf), an LSM policy or kernel.unprivileged_bpf_disabled "
        "with a user namespace; libbpf said: {}",
        what, errno_text(err), log.tail(3));
  }
  return fmt::format("{}: the kernel refused the program ({}); libbpf said: {}", what, errno_text(err), log.tail(6));
}

// ---- pins

uint64_t netns_inode() {
  struct stat st {};
  return ::stat("/proc/self/ns/net", &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

/// Pin directory of an interface: the name alone would collide between
/// network namespaces (every rack-sim host has an r0), and bpffs is shared by them.
std::string pin_dir_for(std::string_view pin_root, std::string_view ifname) {
  return fmt::format("{}/{}-ns{}", pin_root, ifname, netns_inode());
}

/// Makes sure `root` exists on a bpf filesystem, mounting bpffs at
/// /sys/fs/bpf when needed. Returns why not, or an empty string.
std::string ensure_pin_root(const std::string& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path existing = root;
  while (!existing.empty() && !fs::exists(existing, ec)) existing = existing.parent_path();
  struct statfs sfs {};
  if (existing.empty() || ::statfs(existing.c_str(), &sfs) != 0) return fmt::format("cannot inspect {}", root);
  if (sfs.f_type != BPF_FS_MAGIC) {
    const fs::path mount_point = "/sys/fs/bpf";
    const auto rel = fs::path(root).lexically_relative(mount_point);
    if (rel.empty() || *rel.begin() == "..") return fmt::format("pin root {} is not on a bpf filesystem", root);
    if (::mount("bpf", mount_point.c_str(), "bpf", 0, nullptr) != 0) {
      const int e = errno;
      return e == EPERM ? fmt::format("no bpf filesystem at {} and mounting one needs CAP_SYS_ADMIN (systemd mounts it "
                                      "at boot: sys-fs-bpf.mount)",
                                      mount_point.string())
                        : fmt::format("mounting bpffs at {}: {}", mount_point.string(), errno_text(e));
    }
    log::info("ebpf: mounted bpffs at {}", mount_point.string());
  }
  fs::create_directories(root, ec);
  if (ec) return fmt::format("creating {}: {}", root, ec.message());
  return {};
}

void unlink_pin(const std::string& path) { ::unlink(path.c_str()); }

void remove_dir_if_empty(const std::string& dir) {
  if (!dir.empty()) ::rmdir(dir.c_str());  // ENOTEMPTY while the other program's pins are there
}

/// Pins `maps` under `dir` (replacing stale pins of the same names). Returns why not, or "".
std::string pin_maps(const std::string& dir, std::span<bpf_map* const> maps) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fmt::format("creating {}: {}", dir, ec.message());
  for (bpf_map* map : maps) {
    const std::string path = dir + "/" + bpf_map__name(map);
    unlink_pin(path);
    if (const int rc = bpf_map__pin(map, path.c_str()); rc != 0) {
      return fmt::format("pinning {}: {}", path, errno_text(-rc));
    }
  }
  return {};
}

void unpin_maps(const std::string& dir, std::span<bpf_map* const> maps) {
  if (dir.empty()) return;
  for (bpf_map* map : maps) unlink_pin(dir + "/" + bpf_map__name(map));
  remove_dir_if_empty(dir);
}

/// Pins `maps` under the interface's directory below `pin_root` (no-op when
/// it is empty). Returns the directory, or "" with a note saying why not.
std::string pin_or_note(const std::string& pin_root, const std::string& ifname, std::string_view what,
                        std::span<bpf_map* const> maps, std::vector<std::string>& notes) {
  if (pin_root.empty()) return {};
  std::string why = ensure_pin_root(pin_root);
  if (why.empty()) {
    const std::string dir = pin_dir_for(pin_root, ifname);
    why = pin_maps(dir, maps);
    if (why.empty()) return dir;
    unpin_maps(dir, maps);
  }
  notes.push_back(fmt::format("{} maps on {} not pinned: {}", what, ifname, why));
  return {};
}

// ---- programs attached to interfaces

/// The program's name, or nullopt when it cannot be read (looking a program
/// up by id needs CAP_SYS_ADMIN).
std::optional<std::string> program_name(uint32_t id) {
  const int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return std::nullopt;
  bpf_prog_info info{};
  uint32_t length = sizeof info;
  const int rc = bpf_obj_get_info_by_fd(fd, &info, &length);
  ::close(fd);
  if (rc != 0) return std::nullopt;
  return std::string(info.name);
}

std::string describe_program(uint32_t id) {
  const auto name = program_name(id);
  return name ? fmt::format("'{}' (id {})", *name, id) : fmt::format("id {}", id);
}

std::string name_of_interface(int ifindex) {
  char name[IF_NAMESIZE] = {};
  if (ifindex <= 0 || ::if_indextoname(static_cast<unsigned>(ifindex), name) == nullptr) {
    throw std::runtime_error(fmt::format("no interface with index {} in this network namespace", ifindex));
  }
  return name;
}

bpf_tc_hook tc_hook(int ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof hook;
  hook.ifindex = ifindex;
  hook.attach_point = point;
  return hook;
}

bpf_tc_opts tc_opts() {
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.handle = RM_TC_HANDLE;
  opts.priority = RM_TC_PRIORITY;
  return opts;
}

constexpr std::string_view point_name(bpf_tc_attach_point point) { return point == BPF_TC_INGRESS ? "ingress" : "egress"; }

/// The program id of the filter at our handle/priority, or 0.
uint32_t tc_filter_program(int ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook = tc_hook(ifindex, point);
  bpf_tc_opts opts = tc_opts();
  return bpf_tc_query(&hook, &opts) == 0 ? opts.prog_id : 0;
}

/// Removes the monitor's filters left on `ifindex` by an earlier process.
/// Throws when our handle/priority holds a program that is not ours.
void remove_stale_filters(int ifindex, const std::string& ifname, std::vector<std::string>& notes) {
  for (const bpf_tc_attach_point point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
    const uint32_t id = tc_filter_program(ifindex, point);
    if (id == 0) continue;
    const auto name = program_name(id);
    const std::string_view ours = point == BPF_TC_INGRESS ? RM_PROG_INGRESS_NAME : RM_PROG_EGRESS_NAME;
    if (name && *name != ours) {
      throw std::runtime_error(fmt::format(
          "the tc {} filter with handle {:#x} priority {:#x} on {} runs program {}, not railyard's monitor: remove it "
          "(tc filter del dev {} {} pref {} handle {:#x} bpf) or free that slot",
          point_name(point), RM_TC_HANDLE, RM_TC_PRIORITY, ifname, describe_program(id), ifname, point_name(point),
          RM_TC_PRIORITY, RM_TC_HANDLE));
    }
    bpf_tc_hook hook = tc_hook(ifindex, point);
    bpf_tc_opts opts = tc_opts();
    if (const int rc = bpf_tc_detach(&hook, &opts); rc != 0 && rc != -ENOENT) {
      throw std::runtime_error(fmt::format("removing the stale tc {} filter (program {}) on {}: {}", point_name(point),
                                           describe_program(id), ifname, errno_text(-rc)));
    }
    notes.push_back(fmt::format("removed a stale rail monitor tc {} filter (program id {}) on {}", point_name(point), id,
                                ifname));
  }
}

struct XdpAttached {
  uint32_t id = 0;
  uint32_t flags = 0;  // XDP_FLAGS_*_MODE it is attached in
  std::string_view mode;
};

std::vector<XdpAttached> xdp_programs(int ifindex) {
  bpf_xdp_query_opts q{};
  q.sz = sizeof q;
  std::vector<XdpAttached> out;
  if (bpf_xdp_query(ifindex, 0, &q) != 0) return out;
  if (q.drv_prog_id) out.push_back({q.drv_prog_id, XDP_FLAGS_DRV_MODE, "native"});
  if (q.skb_prog_id) out.push_back({q.skb_prog_id, XDP_FLAGS_SKB_MODE, "generic"});
  if (q.hw_prog_id) out.push_back({q.hw_prog_id, XDP_FLAGS_HW_MODE, "offloaded"});
  return out;
}

/// Detaches an injector that an earlier process attached through netlink (the
/// injector attaches with a bpf_link, which the kernel removes when its
/// process dies; this catches one attached by hand or by an older version).
/// Anything else attached is left alone: attach() then reports the conflict.
void remove_stale_xdp(int ifindex, const std::string& ifname, std::vector<std::string>& notes) {
  for (const XdpAttached& a : xdp_programs(ifindex)) {
    if (program_name(a.id) != std::optional<std::string>(FI_PROG_NAME)) continue;
    const int fd = bpf_prog_get_fd_by_id(a.id);
    if (fd < 0) continue;
    bpf_xdp_attach_opts opts{};
    opts.sz = sizeof opts;
    opts.old_prog_fd = fd;
    const int rc = bpf_xdp_detach(ifindex, a.flags | XDP_FLAGS_REPLACE, &opts);
    ::close(fd);
    if (rc == 0) {
      notes.push_back(fmt::format("removed a stale fault injector (program id {}, {} XDP) from {}", a.id, a.mode, ifname));
    } else if (rc == -EBUSY) {
      throw std::runtime_error(fmt::format(
          "railyard's fault injector is already attached to {} by a running process (a bpf_link; program id {}): "
          "another railyardd in this network namespace?",
          ifname, a.id));
    }
  }
}

std::string xdp_conflict(int ifindex, const std::string& ifname, int err) {
  const auto attached = xdp_programs(ifindex);
  if (attached.empty()) {
    return fmt::format("attaching the fault injector (XDP) to {}: {}", ifname, errno_text(err));
  }
  std::string who;
  for (const XdpAttached& a : attached) {
    if (!who.empty()) who += ", ";
    who += fmt::format("{} in {} mode", describe_program(a.id), a.mode);
  }
  return fmt::format(
      "{} already runs XDP program {}: XDP is exclusive per interface (DPDK's af_xdp port loads its own, "
      "xsk_def_prog), so the fault injector is unavailable on this rail; the rail monitor (tc) is not affected "
      "(see ebpf/README.md)",
      ifname, who);
}

// ---- skeletons

/// Opens and loads a libbpf skeleton with the fabric port set; throws with
/// what is missing (see load_failure).
template <class Skel>
Skel* load_skeleton(std::string_view what, uint16_t fabric_port, Skel* (*open)(), int (*load)(Skel*),
                    void (*destroy)(Skel*)) {
  if (auto reason = unavailable_reason()) throw std::runtime_error(fmt::format("{}: {}", what, *reason));
  LibbpfLog log;
  Skel* skel = open();
  if (skel == nullptr) {
    throw std::runtime_error(load_failure(fmt::format("{}: opening the BPF object", what), errno, log));
  }
  skel->rodata->fabric_port = fabric_port;
  if (const int rc = load(skel); rc != 0) {
    const std::string message = load_failure(fmt::format("{}: loading the BPF object", what), -rc, log);
    destroy(skel);
    throw std::runtime_error(message);
  }
  return skel;
}

// ---- counters

template <class Value, class Add>
void sum_into(const BpfPerCpuMap<uint32_t, Value>& map, uint32_t key, Value& out, Add add) noexcept {
  out = Value{};
  if (map.cpus() == 0) return;
  // Control-plane reads (telemetry, railctl) at most a few per second: a
  // small allocation here keeps the map wrapper span-based and simple.
  std::vector<Value> per_cpu(map.cpus());
  if (!map.lookup(key, per_cpu)) return;
  for (const Value& v : per_cpu) add(out, v);
}

void add(rm_class_stats& a, const rm_class_stats& b) {
  a.packets += b.packets;
  a.bytes += b.bytes;
  a.data_packets += b.data_packets;
  a.data_bytes += b.data_bytes;
  a.ecn_ce += b.ecn_ce;
}

void add(rm_dir_stats& a, const rm_dir_stats& b) {
  a.malformed += b.malformed;
  a.gso_skbs += b.gso_skbs;
  a.truncated += b.truncated;
  a.load_errors += b.load_errors;
}

void add(fi_stats& a, const fi_stats& b) {
  a.seen += b.seen;
  a.matched += b.matched;
  a.dropped += b.dropped;
  a.marked += b.marked;
  a.not_ect += b.not_ect;
  a.already_ce += b.already_ce;
}

template <class Value>
void zero(BpfPerCpuMap<uint32_t, Value>& map, uint32_t slots) {
  const std::vector<Value> zeros(map.cpus());
  for (uint32_t k = 0; k < slots; ++k) map.update(k, zeros);
}

}  // namespace

// ---- availability

std::optional<std::string> unavailable_reason() {
  int major = 0;
  int minor = 0;
  std::string release;
  if (kernel_version(major, minor, release) &&
      (major < kMinKernelMajor || (major == kMinKernelMajor && minor < kMinKernelMinor))) {
    return fmt::format("Linux {} is too old for railyard's eBPF programs: they need {}.{} or later (bpf_loop, "
                       "XDP bpf_link)",
                       release, kMinKernelMajor, kMinKernelMinor);
  }
  bool known = false;
  const uint64_t caps = effective_capabilities(known);
  if (!known) return std::nullopt;  // let the kernel decide
  std::vector<std::string_view> missing;
  const bool admin = has_cap(caps, CAP_SYS_ADMIN);
  if (!admin && !has_cap(caps, CAP_BPF)) missing.push_back("CAP_BPF");
  if (!admin && !has_cap(caps, CAP_NET_ADMIN)) missing.push_back("CAP_NET_ADMIN");
  if (missing.empty()) return std::nullopt;
  return fmt::format("missing capability {} (loading BPF needs CAP_BPF, or CAP_SYS_ADMIN before Linux 5.8; tc and XDP "
                     "programs need CAP_NET_ADMIN): railyardd.service grants both; by hand, run as root",
                     fmt::join(missing, " and "));
}

uint32_t probability_threshold(double p) {
  if (std::isnan(p) || p < 0 || p > 1) throw std::invalid_argument(fmt::format("probability {} is outside [0, 1]", p));
  if (p >= 1) return FI_ALWAYS;
  const double scaled = std::round(p * 4294967296.0);
  return scaled >= double{FI_ALWAYS} ? FI_ALWAYS - 1 : static_cast<uint32_t>(scaled);
}

FaultClassCounters FaultCounters::total() const {
  FaultClassCounters t;
  for (const FaultClassCounters& c : classes) {
    t.seen += c.seen;
    t.matched += c.matched;
    t.dropped += c.dropped;
    t.marked += c.marked;
    t.not_ect += c.not_ect;
    t.already_ce += c.already_ce;
  }
  return t;
}

// ---- RailMonitor

struct RailMonitor::State {
  BpfOptions options;
  rail_monitor* skel = nullptr;
  BpfPerCpuMap<uint32_t, rm_class_stats> class_stats;
  BpfPerCpuMap<uint32_t, rm_dir_stats> dir_stats;
  BpfPerCpuMap<uint32_t, uint64_t> type_stats;
  int ifindex = 0;
  std::string ifname;
  std::string pin_dir;
  std::vector<std::string> notes;
  std::array<uint32_t, 2> attached_ids{};  // [ingress, egress] program ids of our filters

  explicit State(BpfOptions o) : options(std::move(o)) {}
  ~State() { teardown(); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  void load() {
    if (skel != nullptr) return;
    skel = load_skeleton("rail monitor", options.fabric_port, rail_monitor__open, rail_monitor__load,
                         rail_monitor__destroy);
    try {
      class_stats = BpfPerCpuMap<uint32_t, rm_class_stats>(skel->maps.rm_class_stats);
      dir_stats = BpfPerCpuMap<uint32_t, rm_dir_stats>(skel->maps.rm_dir_stats);
      type_stats = BpfPerCpuMap<uint32_t, uint64_t>(skel->maps.rm_type_stats);
    } catch (...) {
      rail_monitor__destroy(skel);
      skel = nullptr;
      throw;
    }
  }

  void attach(int index) {
    teardown();
    notes.clear();
    const std::string name = name_of_interface(index);
    load();
    try {
      remove_stale_filters(index, name, notes);
      zero(class_stats, RM_CLASS_SLOTS);
      zero(dir_stats, RM_DIRECTIONS);
      zero(type_stats, RM_TYPE_SLOTS);
      ifindex = index;
      ifname = name;
      for (const bpf_tc_attach_point point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
        bpf_tc_hook hook = tc_hook(index, point);
        if (const int rc = bpf_tc_hook_create(&hook); rc != 0 && rc != -EEXIST) {
          throw std::runtime_error(fmt::format("rail monitor: creating the clsact qdisc on {}: {}", name, errno_text(-rc)));
        }
        bpf_tc_opts opts = tc_opts();
        opts.prog_fd = bpf_program__fd(point == BPF_TC_INGRESS ? skel->progs.railyard_rm_in : skel->progs.railyard_rm_eg);
        if (const int rc = bpf_tc_attach(&hook, &opts); rc != 0) {
          throw std::runtime_error(
              fmt::format("rail monitor: attaching the tc {} filter to {}: {}", point_name(point), name, errno_text(-rc)));
        }
        attached_ids[point == BPF_TC_INGRESS ? 0 : 1] = opts.prog_id;
      }
      pin_dir = pin_or_note(options.pin_root, name, "rail monitor", pinned_maps(), notes);
    } catch (...) {
      teardown();
      throw;
    }
  }

  std::array<bpf_map*, 3> pinned_maps() const {
    return {skel->maps.rm_class_stats, skel->maps.rm_dir_stats, skel->maps.rm_type_stats};
  }

  void teardown() noexcept {
    if (ifindex != 0) {
      for (const bpf_tc_attach_point point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
        const uint32_t ours = attached_ids[point == BPF_TC_INGRESS ? 0 : 1];
        // Only our own filter: another process may have replaced it meanwhile.
        if (ours == 0 || tc_filter_program(ifindex, point) != ours) continue;
        bpf_tc_hook hook = tc_hook(ifindex, point);
        bpf_tc_opts opts = tc_opts();
        if (const int rc = bpf_tc_detach(&hook, &opts); rc != 0 && rc != -ENOENT) {
          log::warning("rail monitor: removing the tc {} filter from {}: {}", point_name(point), ifname, errno_text(-rc));
        }
      }
      // The clsact qdisc stays: other filters may live on it, and an empty one costs nothing.
    }
    if (skel != nullptr && !pin_dir.empty()) unpin_maps(pin_dir, pinned_maps());
    if (skel != nullptr) rail_monitor__destroy(skel);
    skel = nullptr;
    class_stats = {};
    dir_stats = {};
    type_stats = {};
    ifindex = 0;
    attached_ids = {};
    ifname.clear();
    pin_dir.clear();
  }

  MonitorCounters counters() const noexcept {
    MonitorCounters out;
    if (skel == nullptr) return out;
    for (uint32_t d = 0; d < RM_DIRECTIONS; ++d) {
      DirectionCounters& dc = d == RM_INGRESS ? out.ingress : out.egress;
      for (uint32_t c = 0; c < RAILYARD_FABRIC_CLASSES; ++c) {
        rm_class_stats s{};
        sum_into(class_stats, rm_class_key(d, c), s, [](rm_class_stats& a, const rm_class_stats& b) { add(a, b); });
        dc.classes[c] = ClassCounters{.packets = s.packets,
                                      .bytes = s.bytes,
                                      .data_packets = s.data_packets,
                                      .data_bytes = s.data_bytes,
                                      .ecn_ce = s.ecn_ce};
      }
      rm_dir_stats s{};
      sum_into(dir_stats, d, s, [](rm_dir_stats& a, const rm_dir_stats& b) { add(a, b); });
      for (uint32_t t = 0; t < kTypeSlots; ++t) {
        sum_into(type_stats, rm_type_key(d, t), dc.by_type[t], [](uint64_t& a, uint64_t b) { a += b; });
      }
      dc.malformed = s.malformed;
      dc.gso_skbs = s.gso_skbs;
      dc.truncated = s.truncated;
      dc.load_errors = s.load_errors;
    }
    return out;
  }
};

namespace {
const std::string kEmpty;
const std::vector<std::string> kNoNotes;
}  // namespace

RailMonitor::RailMonitor(BpfOptions options) : state_(std::make_unique<State>(std::move(options))) {}
RailMonitor::~RailMonitor() = default;
RailMonitor::RailMonitor(RailMonitor&&) noexcept = default;
RailMonitor& RailMonitor::operator=(RailMonitor&&) noexcept = default;

void RailMonitor::load() { state_->load(); }
void RailMonitor::attach(int ifindex) { state_->attach(ifindex); }
void RailMonitor::detach() noexcept {
  if (state_) state_->teardown();
}
bool RailMonitor::loaded() const noexcept { return state_ && state_->skel != nullptr; }
bool RailMonitor::attached() const noexcept { return state_ && state_->ifindex != 0; }
int RailMonitor::ifindex() const noexcept { return state_ ? state_->ifindex : 0; }
const std::string& RailMonitor::interface_name() const noexcept { return state_ ? state_->ifname : kEmpty; }
const std::string& RailMonitor::pin_dir() const noexcept { return state_ ? state_->pin_dir : kEmpty; }
const std::vector<std::string>& RailMonitor::notes() const noexcept { return state_ ? state_->notes : kNoNotes; }
MonitorCounters RailMonitor::counters() const noexcept { return state_ ? state_->counters() : MonitorCounters{}; }
uint64_t RailMonitor::failed_calls() const noexcept {
  return state_ ? state_->class_stats.failed_calls() + state_->dir_stats.failed_calls() +
                      state_->type_stats.failed_calls()
                : 0;
}
int RailMonitor::program_fd(Direction direction) const noexcept {
  if (!loaded()) return -1;
  return bpf_program__fd(direction == Direction::ingress ? state_->skel->progs.railyard_rm_in
                                                         : state_->skel->progs.railyard_rm_eg);
}

// ---- FaultInjector

struct FaultInjector::State {
  BpfOptions options;
  fault_injector* skel = nullptr;
  BpfMap<uint32_t, fi_config> config;
  BpfPerCpuMap<uint32_t, fi_stats> stats;
  FaultSettings settings;
  int ifindex = 0;
  int link_fd = -1;
  std::string_view mode;
  std::string ifname;
  std::string pin_dir;
  std::vector<std::string> notes;

  explicit State(BpfOptions o) : options(std::move(o)) {}
  ~State() { teardown(); }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  void load() {
    if (skel != nullptr) return;
    skel = load_skeleton("fault injector", options.fabric_port, fault_injector__open, fault_injector__load,
                         fault_injector__destroy);
    try {
      config = BpfMap<uint32_t, fi_config>(skel->maps.fi_config);
      stats = BpfPerCpuMap<uint32_t, fi_stats>(skel->maps.fi_stats);
      // The map starts zeroed (no class selected); make "pass everything" explicit.
      set(FaultSettings{});
    } catch (...) {
      fault_injector__destroy(skel);
      skel = nullptr;
      throw;
    }
  }

  void attach(int index) {
    teardown();
    notes.clear();
    const std::string name = name_of_interface(index);
    load();
    try {
      remove_stale_xdp(index, name, notes);
      zero(stats, FI_STATS_SLOTS);
      const int prog = bpf_program__fd(skel->progs.railyard_fi);
      bpf_link_create_opts opts{};
      opts.sz = sizeof opts;
      // Native mode where the driver has it (veth, mlx5, ice, ...), else generic.
      opts.flags = XDP_FLAGS_DRV_MODE;
      int fd = bpf_link_create(prog, index, BPF_XDP, &opts);
      mode = "native";
      if (fd == -EOPNOTSUPP || fd == -EINVAL) {
        opts.flags = XDP_FLAGS_SKB_MODE;
        fd = bpf_link_create(prog, index, BPF_XDP, &opts);
        mode = "generic";
      }
      if (fd < 0) {
        mode = {};
        throw std::runtime_error("fault injector: " + xdp_conflict(index, name, -fd));
      }
      link_fd = fd;
      ifindex = index;
      ifname = name;
      pin_dir = pin_or_note(options.pin_root, name, "fault injector", pinned_maps(), notes);
    } catch (...) {
      teardown();
      throw;
    }
  }

  std::array<bpf_map*, 2> pinned_maps() const { return {skel->maps.fi_config, skel->maps.fi_stats}; }

  void teardown() noexcept {
    if (link_fd >= 0) ::close(link_fd);  // the kernel detaches the program with its last link reference
    link_fd = -1;
    if (skel != nullptr && !pin_dir.empty()) unpin_maps(pin_dir, pinned_maps());
    if (skel != nullptr) fault_injector__destroy(skel);
    skel = nullptr;
    config = {};
    stats = {};
    settings = {};
    ifindex = 0;
    mode = {};
    ifname.clear();
    pin_dir.clear();
  }

  void set(const FaultSettings& s) {
    const fi_config c{.drop_threshold = probability_threshold(s.drop),
                      .ecn_threshold = probability_threshold(s.ecn),
                      .class_mask = s.only == FaultClass::activation ? FI_CLASS_ACTIVATION
                                    : s.only == FaultClass::kv       ? FI_CLASS_KV
                                                                     : FI_CLASS_ALL,
                      .reserved = 0};
    if (skel == nullptr) throw std::runtime_error("fault injector: not loaded");
    if (!config.update(0, c)) {
      throw std::runtime_error(fmt::format("fault injector: updating the configuration map: {}", errno_text(errno)));
    }
    settings = s;
  }

  FaultCounters counters() const noexcept {
    FaultCounters out;
    if (skel == nullptr) return out;
    for (uint32_t c = 0; c < FI_STATS_SLOTS; ++c) {
      fi_stats s{};
      sum_into(stats, c, s, [](fi_stats& a, const fi_stats& b) { add(a, b); });
      if (c == FI_STATS_MALFORMED_KEY) {
        out.malformed = s.seen;
        continue;
      }
      out.classes[c] = FaultClassCounters{.seen = s.seen,
                                          .matched = s.matched,
                                          .dropped = s.dropped,
                                          .marked = s.marked,
                                          .not_ect = s.not_ect,
                                          .already_ce = s.already_ce};
    }
    return out;
  }
};

FaultInjector::FaultInjector(BpfOptions options) : state_(std::make_unique<State>(std::move(options))) {}
FaultInjector::~FaultInjector() = default;
FaultInjector::FaultInjector(FaultInjector&&) noexcept = default;
FaultInjector& FaultInjector::operator=(FaultInjector&&) noexcept = default;

void FaultInjector::load() { state_->load(); }
void FaultInjector::attach(int ifindex) { state_->attach(ifindex); }
void FaultInjector::detach() noexcept {
  if (state_) state_->teardown();
}
void FaultInjector::set(const FaultSettings& settings) {
  if (!state_) throw std::runtime_error("fault injector: moved from");
  state_->set(settings);
}
void FaultInjector::clear() noexcept {
  if (!state_ || state_->skel == nullptr) return;
  try {
    state_->set(FaultSettings{});
  } catch (const std::exception& e) {
    log::warning("fault injector on {}: clearing: {}", state_->ifname, e.what());
  }
}
const FaultSettings& FaultInjector::settings() const noexcept {
  static const FaultSettings kNone;
  return state_ ? state_->settings : kNone;
}
bool FaultInjector::loaded() const noexcept { return state_ && state_->skel != nullptr; }
bool FaultInjector::attached() const noexcept { return state_ && state_->ifindex != 0; }
int FaultInjector::ifindex() const noexcept { return state_ ? state_->ifindex : 0; }
const std::string& FaultInjector::interface_name() const noexcept { return state_ ? state_->ifname : kEmpty; }
const std::string& FaultInjector::pin_dir() const noexcept { return state_ ? state_->pin_dir : kEmpty; }
const std::vector<std::string>& FaultInjector::notes() const noexcept { return state_ ? state_->notes : kNoNotes; }
std::string_view FaultInjector::mode() const noexcept { return state_ ? state_->mode : std::string_view{}; }
FaultCounters FaultInjector::counters() const noexcept { return state_ ? state_->counters() : FaultCounters{}; }
uint64_t FaultInjector::failed_calls() const noexcept {
  return state_ ? state_->config.failed_calls() + state_->stats.failed_calls() : 0;
}
int FaultInjector::program_fd() const noexcept {
  return loaded() ? bpf_program__fd(state_->skel->progs.railyard_fi) : -1;
}

// ---- crash leftovers

std::vector<std::string> clean_stale(std::string_view pin_root) {
  namespace fs = std::filesystem;
  std::vector<std::string> notes;
  const std::string suffix = fmt::format("-ns{}", netns_inode());
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(fs::path(pin_root), ec)) {
    const std::string dir_name = entry.path().filename().string();
    if (!entry.is_directory(ec) || dir_name.size() <= suffix.size() || !dir_name.ends_with(suffix)) continue;
    const std::string ifname = dir_name.substr(0, dir_name.size() - suffix.size());
    const unsigned index = ::if_nametoindex(ifname.c_str());
    if (index != 0) {
      try {
        remove_stale_filters(static_cast<int>(index), ifname, notes);
      } catch (const std::exception& e) {
        notes.push_back(e.what());
      }
      try {
        remove_stale_xdp(static_cast<int>(index), ifname, notes);
      } catch (const std::exception& e) {
        notes.push_back(e.what());
      }
    }
    size_t pins = 0;
    for (const fs::directory_entry& pin : fs::directory_iterator(entry.path(), ec)) {
      if (::unlink(pin.path().c_str()) == 0) ++pins;
    }
    ::rmdir(entry.path().c_str());
    notes.push_back(fmt::format("removed {} stale pin{} under {}", pins, pins == 1 ? "" : "s", entry.path().string()));
  }
  return notes;
}

namespace detail {

void check_map(const bpf_map* map, size_t key_size, size_t value_size, bool per_cpu) {
  if (map == nullptr) throw std::runtime_error("ebpf: no such map in the skeleton");
  const bpf_map_type type = bpf_map__type(map);
  const bool is_per_cpu = type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
                          type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
  if (bpf_map__key_size(map) != key_size || bpf_map__value_size(map) != value_size || is_per_cpu != per_cpu) {
    throw std::runtime_error(fmt::format("ebpf: map {} has key {} B, value {} B{}; the C++ side expects {} B, {} B{}",
                                         bpf_map__name(map), bpf_map__key_size(map), bpf_map__value_size(map),
                                         is_per_cpu ? " per CPU" : "", key_size, value_size, per_cpu ? " per CPU" : ""));
  }
}

size_t possible_cpus() {
  const int n = libbpf_num_possible_cpus();
  if (n <= 0) throw std::runtime_error(fmt::format("ebpf: cannot count the possible CPUs: {}", errno_text(-n)));
  return static_cast<size_t>(n);
}

}  // namespace detail

}  // namespace railyard::ebpf
