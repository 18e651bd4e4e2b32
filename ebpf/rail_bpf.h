#pragma once
// eBPF on the rails: the rail monitor (tc clsact ingress + egress: per-class
// packets, bytes, ECN CE marks of the fabric's datagrams) and the fault
// injector (XDP on ingress: drop or CE-mark a fraction of the fabric's
// datagrams), loaded from libbpf skeletons built with the project.
//
// Threading: an object is used by one thread (the daemon's control thread).
// Loading and attaching are control-plane operations: they throw
// std::runtime_error whose message says what is missing and how to fix it
// (capability, kernel version, a conflicting XDP program); the daemon logs it
// and runs on without the feature. Reading counters never throws.
//
// Maps are pinned under <pin_root>/<interface>-ns<netns inode>/ while
// attached (bpffs is mounted at /sys/fs/bpf when absent and permitted);
// detach() and the destructor detach and unpin; attach() first removes what a
// crashed daemon left on the same interface. See ebpf/README.md.
//
// This header does not include libbpf: the skeletons stay in rail_bpf.cc.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace railyard::ebpf {

inline constexpr std::string_view kDefaultPinRoot = "/sys/fs/bpf/railyard";
inline constexpr uint16_t kDefaultFabricPort = 7470;
inline constexpr size_t kClasses = 2;      ///< [0] activation, [1] kv (fabric/wire.h TrafficClass)
inline constexpr size_t kTypeSlots = 9;    ///< by packet type 1..8 ([0] stays 0: other types are malformed)

enum class Direction : uint8_t { ingress = 0, egress = 1 };

/// The fabric's datagrams of one class in one direction (UDP GSO super-datagrams
/// count as the datagrams they become on the wire).
struct ClassCounters {
  uint64_t packets = 0;
  uint64_t bytes = 0;  ///< UDP payload (fabric header + body): what the fabric's rail counters count
  uint64_t data_packets = 0;
  uint64_t data_bytes = 0;
  uint64_t ecn_ce = 0;  ///< IPv4 ECN Congestion Experienced marks
  bool operator==(const ClassCounters&) const = default;
};

struct DirectionCounters {
  std::array<ClassCounters, kClasses> classes{};
  std::array<uint64_t, kTypeSlots> by_type{};
  uint64_t malformed = 0;    ///< UDP on the fabric port that is no fabric datagram
  uint64_t gso_skbs = 0;     ///< GSO super-datagrams seen (their segments are in packets)
  uint64_t truncated = 0;    ///< super-datagrams with more segments than the program classifies one by one
  uint64_t load_errors = 0;  ///< in-kernel read failures (0)

  uint64_t packets() const { return classes[0].packets + classes[1].packets; }
  uint64_t bytes() const { return classes[0].bytes + classes[1].bytes; }
  uint64_t ecn_ce() const { return classes[0].ecn_ce + classes[1].ecn_ce; }
  bool operator==(const DirectionCounters&) const = default;
};

struct MonitorCounters {
  DirectionCounters ingress;
  DirectionCounters egress;
  const DirectionCounters& operator[](Direction d) const { return d == Direction::ingress ? ingress : egress; }
  bool operator==(const MonitorCounters&) const = default;
};

struct BpfOptions {
  uint16_t fabric_port = kDefaultFabricPort;  ///< the fabric's UDP port (config fabric.port)
  std::string pin_root = std::string(kDefaultPinRoot);  ///< empty: do not pin
};

/// Per-rail counters of the fabric's traffic, from tc clsact filters on the
/// rail's interface (handle/priority 0x5259 on ingress and egress). Counters
/// start at zero at attach().
class RailMonitor {
 public:
  explicit RailMonitor(BpfOptions options = {});
  ~RailMonitor();
  RailMonitor(RailMonitor&&) noexcept;
  RailMonitor& operator=(RailMonitor&&) noexcept;

  /// Loads the programs and creates the maps without attaching (attach() does
  /// it when needed). Throws std::runtime_error naming what is missing.
  void load();
  /// Attaches to the interface `ifindex` (in the caller's network namespace),
  /// after removing a crashed daemon's filters and pins on it. Throws
  /// std::runtime_error; on failure nothing stays attached.
  void attach(int ifindex);
  /// Removes the filters and pins and unloads; counters() is zero afterwards.
  void detach() noexcept;

  bool loaded() const noexcept;
  bool attached() const noexcept;
  int ifindex() const noexcept;                ///< 0 when not attached
  const std::string& interface_name() const noexcept;
  const std::string& pin_dir() const noexcept;  ///< empty when not pinned
  /// Non-fatal events of the last attach() for the log: stale state removed,
  /// maps left unpinned and why.
  const std::vector<std::string>& notes() const noexcept;

  /// Sums over CPUs since attach (zero when not loaded). Never throws; a
  /// failed read leaves zeros and counts in failed_calls().
  MonitorCounters counters() const noexcept;
  uint64_t failed_calls() const noexcept;
  /// The program of one direction (BPF_PROG_TEST_RUN, introspection); -1 when not loaded.
  int program_fd(Direction direction) const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Which classes the injector affects.
enum class FaultClass : uint8_t { all, activation, kv };

struct FaultSettings {
  double drop = 0;  ///< probability 0..1 that a matching datagram is dropped
  double ecn = 0;   ///< probability 0..1 that a matching ECN-capable datagram (not dropped) gets CE
  FaultClass only = FaultClass::all;
  bool operator==(const FaultSettings&) const = default;
};

struct FaultClassCounters {
  uint64_t seen = 0;     ///< fabric datagrams of the class
  uint64_t matched = 0;  ///< of which the settings selected (the drop ratio's base)
  uint64_t dropped = 0;
  uint64_t marked = 0;      ///< CE set
  uint64_t not_ect = 0;     ///< chosen for a mark but not ECN-capable: left alone
  uint64_t already_ce = 0;  ///< chosen for a mark but CE already
  bool operator==(const FaultClassCounters&) const = default;
};

struct FaultCounters {
  std::array<FaultClassCounters, kClasses> classes{};
  uint64_t malformed = 0;  ///< UDP on the fabric port that is no fabric datagram (passed)
  FaultClassCounters total() const;
  bool operator==(const FaultCounters&) const = default;
};

/// A probability as the programs' u32 threshold (p * 2^32; 1 -> 0xffffffff,
/// which the programs treat as "always"). Throws std::invalid_argument
/// outside [0, 1] or for NaN.
uint32_t probability_threshold(double p);

/// Drops or CE-marks the fabric's datagrams arriving on one interface, from
/// XDP (native mode where the driver has it, else generic). Passes everything
/// until set(). XDP is exclusive per interface: with DPDK's af_xdp port (or
/// any other XDP program) on the interface, attach() throws and says so.
class FaultInjector {
 public:
  explicit FaultInjector(BpfOptions options = {});
  ~FaultInjector();
  FaultInjector(FaultInjector&&) noexcept;
  FaultInjector& operator=(FaultInjector&&) noexcept;

  void load();
  void attach(int ifindex);
  void detach() noexcept;

  /// Applies at the next packet. Throws std::invalid_argument for a
  /// probability outside [0, 1], std::runtime_error when not loaded or the
  /// map update fails.
  void set(const FaultSettings& settings);
  /// Back to passing everything (no-op when not loaded).
  void clear() noexcept;
  const FaultSettings& settings() const noexcept;

  bool loaded() const noexcept;
  bool attached() const noexcept;
  int ifindex() const noexcept;
  const std::string& interface_name() const noexcept;
  const std::string& pin_dir() const noexcept;
  const std::vector<std::string>& notes() const noexcept;
  /// "native" or "generic" (XDP mode in use), empty when not attached.
  std::string_view mode() const noexcept;

  FaultCounters counters() const noexcept;
  uint64_t failed_calls() const noexcept;
  int program_fd() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Why eBPF cannot work in this process, or nullopt when it can: checks the
/// kernel version and the effective capabilities (CAP_BPF or CAP_SYS_ADMIN,
/// and CAP_NET_ADMIN). Cheap; loads nothing.
std::optional<std::string> unavailable_reason();

/// Removes what a crashed railyardd in this network namespace left under
/// `pin_root`: for every pin directory of this namespace, the monitor's tc
/// filters and a netlink-attached injector on that interface (if it still
/// exists), then the pins. Returns what was done, for the log. Never throws.
std::vector<std::string> clean_stale(std::string_view pin_root = kDefaultPinRoot);

}  // namespace railyard::ebpf
