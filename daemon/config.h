#pragma once
// railyardd's configuration: a TOML file (default /etc/railyard/railyard.toml)
// laid over embedded defaults. Every key is checked; unknown keys are errors.

#include <sys/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "fabric/packet_auth.h"

namespace railyard::verbs {
struct TransportConfig;
}

namespace railyard::config {

struct DaemonSection {
  std::string host_name;  // this host's name in the rack; default: the kernel's host name
  log::Level log_level = log::Level::info;
};

struct ControlSection {
  std::string socket_path = "/run/railyard/control.sock";
  mode_t socket_mode = 0660;
  std::string group = "railyard";  // members may use the control socket; empty: root only
  std::string read_group;          // members may only read (status, rails, ...); empty: none
  uint32_t max_message_bytes = 1u << 20;
};

struct FabricSection {
  uint16_t port = 7470;  // UDP port of the fabric on every rail
  std::string psk_file;  // pre-shared key authenticating peer daemons; required with peers
  std::string workload_socket = "/run/railyard/workload.sock";
  bool ebpf = true;              // attach the eBPF rail monitor where the kernel allows
  bool fault_injection = false;  // allow `railctl fault` (test racks only)
  // "mac": every packet of a session carries a tag under a per-session key
  // (fabric/packet_auth.h); "none": the session id alone (fabric/README.md, threat model).
  fabric::PacketAuth packet_auth = fabric::PacketAuth::none;

  bool operator==(const FabricSection&) const = default;
};

/// The host's BMC, read over Redfish. Absent url: no BMC telemetry.
struct BmcSection {
  std::string url;               // https://bmc-host[:port]; empty: no BMC
  std::string ca_file;           // CA bundle to verify the BMC's certificate; empty: the system's
  bool insecure = false;         // skip TLS verification (logged as a warning at start)
  std::string credentials_file;  // "user:password", mode 0600
  std::string credential;        // or a systemd credential name ($CREDENTIALS_DIRECTORY/<name>)
  uint32_t poll_interval_ms = 1000;
  uint32_t timeout_ms = 5000;    // per request
  uint32_t max_in_flight = 2;    // requests at once: small BMCs run out of connections

  bool operator==(const BmcSection&) const = default;
};

struct RemoteWriteTarget {
  std::string url;
  std::string bearer_token_file;
  std::string basic_auth_username;
  std::string basic_auth_password_file;
  std::string ca_file;

  bool operator==(const RemoteWriteTarget&) const = default;
};

/// Metrics for collectors: a Prometheus endpoint and remote-write pushes.
struct TelemetrySection {
  std::string listen_address = "127.0.0.1";
  uint16_t listen_port = 9469;        // 0: no HTTP endpoint
  uint32_t rails_interval_ms = 100;   // fabric series
  uint32_t interval_ms = 1000;        // everything else (BMC, host)
  uint32_t buffer_samples = 100000;   // per remote-write target while it is away
  std::vector<RemoteWriteTarget> remote_write;

  bool operator==(const TelemetrySection&) const = default;
};

/// The policy's actuators on this host beyond the workload channel (issue 8).
struct PolicySection {
  /// The decode workload's cgroup, relative to the cgroup hierarchy roots
  /// ("/railyard.slice/decode.service"): the cpu_quota and freeze rungs act
  /// on it (cgroup v2 cpu.max/cgroup.freeze, or v1 cpu.cfs_quota_us/freezer).
  /// Empty: no such rungs.
  std::string workload_cgroup;
  double cpu_quota_cpus = 1.0;        // CPUs' worth of time the workload keeps at cpu_quota
  bool nvml = true;                   // power_cap rungs through NVML when the driver is there
  uint32_t power_cap_percent = 80;    // of each GPU's default power limit, at power_cap
  uint32_t power_cap_deep_percent = 60;
  bool operator==(const PolicySection&) const = default;
};

/// DPDK's EAL, for rails with driver "dpdk" (started once per daemon).
struct DpdkSection {
  std::string cores = "0";  // EAL lcore list; the data plane runs on railyard's own thread
  uint32_t memory_mb = 0;   // 0: the EAL's default
  bool no_huge = false;     // anonymous memory instead of hugepages (tests, veth only)
  bool no_pci = false;      // vdevs only
  std::string file_prefix;  // unique per daemon on a host; empty: see dpdk_file_prefix()
  std::vector<std::string> extra_args;

  bool operator==(const DpdkSection&) const = default;
};

/// RDMA verbs rails (driver "verbs", docs/VERBS.md): how transfers are cut
/// and how each RC queue pair behaves.
struct VerbsSection {
  uint32_t slice_bytes = 256 * 1024;        // 64 KiB .. 1 MiB per RDMA WRITE
  uint64_t qp_budget_bytes = 8ull << 20;    // in-flight bytes per queue pair
  uint32_t send_depth = 128;                // work requests per send queue
  uint32_t recv_depth = 128;                // receives kept posted for WRITE_WITH_IMM
  uint32_t timeout = 14;                    // 4.096 us << timeout per retry
  uint32_t retry_cnt = 7;
  uint32_t rnr_retry = 7;                   // 7: forever
  uint32_t traffic_class = 0;               // DSCP << 2 on RoCE (match the switch's lossless class)

  bool operator==(const VerbsSection&) const = default;
};

/// One NIC rail of this host.
struct RailConfig {
  std::string name;  // e.g. "r0"; peers name their addresses by it
  std::string driver = "udp";
  std::string interface;  // udp, verbs: the netdev (verbs: the RoCE netdev; it carries the peer session)
  std::string device;     // dpdk: PCI address or vdev ("net_af_packet0,iface=r0"); verbs: "mlx5_0" (empty: the only one)
  std::string address;    // this host's IPv4 address on the rail
  uint32_t port = 1;      // verbs: the device's port
  int32_t gid_index = -1; // verbs: -1 picks the RoCE v2 GID of the interface's IPv4 address

  bool operator==(const RailConfig&) const = default;
};

/// Another host's daemon and its address on each rail it shares with us.
struct PeerConfig {
  std::string name;
  std::vector<std::pair<std::string, std::string>> addresses;  // rail name -> IPv4, in file order

  bool operator==(const PeerConfig&) const = default;
};

struct Config {
  DaemonSection daemon;
  ControlSection control;
  FabricSection fabric;
  BmcSection bmc;
  TelemetrySection telemetry;
  DpdkSection dpdk;
  VerbsSection verbs;
  PolicySection policy;
  std::vector<RailConfig> rails;
  std::vector<PeerConfig> peers;
  std::string source_path;  // file it came from; empty for embedded defaults
};

/// One thing wrong with a config file, located as precisely as the file allows.
struct Problem {
  std::string file;
  uint32_t line = 0;  // 1-based; 0 when it concerns the whole file
  uint32_t column = 0;
  std::string key;      // dotted path such as "control.socket_mode"; empty for syntax errors
  std::string message;  // what is wrong and what is allowed

  std::string to_string() const;
};

/// Thrown by the loaders; what() lists every problem, one per line.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<Problem> problems);
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

/// The verbs transport's settings from [verbs] (node id and peers are the daemon's).
verbs::TransportConfig verbs_transport_config(const VerbsSection& v);

/// The EAL file prefix: dpdk.file_prefix, or "railyard-<host_name>".
std::string dpdk_file_prefix(const Config& c);

/// The embedded defaults, used when no file exists at the default path.
Config defaults();

/// Parses TOML text named `source_name` (for messages) over the defaults.
/// Throws ConfigError listing every problem found.
Config parse(std::string_view text, std::string_view source_name);

/// Reads and parses a file. Throws ConfigError (unreadable file included).
Config load_file(const std::string& path);

/// The file the daemon would read without --config, and what it means if absent.
struct Located {
  Config config;
  bool from_file = false;
};
/// Loads `explicit_path` if given (it must exist); otherwise the default path
/// if it exists; otherwise the embedded defaults.
Located locate_and_load(const std::string& explicit_path, std::string_view default_path);

}  // namespace railyard::config
