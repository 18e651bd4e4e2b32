#include "daemon/config.h"

#include "common/build_info.h"
#include "drivers/nic/dpdk/dpdk_config.h"
#include "drivers/nic/verbs/transport.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <net/if.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>

namespace railyard::config {
namespace {

// Reads one TOML table: each take_* marks its key as known, and finish()
// reports every key nobody took, so a typo never passes silently.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, std::string file, std::vector<Problem>& problems)
      : table_(table), prefix_(std::move(prefix)), file_(std::move(file)), problems_(problems) {}

  // Calls `apply` with the string value of `key` if present; `apply` returns
  // an error message (saying what is allowed) or nullopt.
  void take_string(std::string_view key, const std::function<std::optional<std::string>(const std::string&)>& apply) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (!node->is_string()) {
      report(*node, key, fmt::format("{} is {}, expected a string", show(*node), type_name(*node)));
      return;
    }
    const std::string value = node->value<std::string>().value_or("");
    if (auto error = apply(value)) report(*node, key, fmt::format("{}: {}", show(*node), *error));
  }

  /// The array of tables at `key` (marked known), or nullptr with a problem
  /// reported when it is something else.
  const toml::array* take_array_of_tables(std::string_view key) {
    const toml::node* node = take(key);
    if (node == nullptr) return nullptr;
    if (!node->is_array_of_tables()) {
      report(*node, key, fmt::format("must be written as [[{}.{}]] tables", prefix_, key));
      return nullptr;
    }
    return node->as_array();
  }

  /// A string that `check` accepts (else its message is the problem) into `out`.
  void take_checked(std::string_view key, std::string& out, std::optional<std::string> (*check)(const std::string&)) {
    take_string(key, [&](const std::string& v) {
      auto error = check(v);
      if (!error) out = v;
      return error;
    });
  }

  void take_string_array(std::string_view key, std::vector<std::string>& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    const toml::array* list = node->as_array();
    if (list == nullptr || (!list->empty() && !list->is_homogeneous(toml::node_type::string))) {
      report(*node, key, fmt::format("{} must be an array of strings, e.g. [\"--log-level=8\"]", show(*node)));
      return;
    }
    for (const auto& item : *list) out.push_back(item.value_or(std::string()));
  }

  void take_bool(std::string_view key, bool& out) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (!node->is_boolean()) {
      report(*node, key, fmt::format("{} is {}, expected true or false", show(*node), type_name(*node)));
      return;
    }
    out = node->value<bool>().value_or(false);
  }

  void take_integer(std::string_view key, int64_t min, int64_t max, const std::function<void(int64_t)>& apply) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (!node->is_integer()) {
      report(*node, key,
             fmt::format("{} is {}, expected an integer from {} to {}", show(*node), type_name(*node), min, max));
      return;
    }
    const int64_t value = node->value<int64_t>().value_or(0);
    if (value < min || value > max) {
      report(*node, key, fmt::format("{} is out of range; allowed: {} to {}", value, min, max));
      return;
    }
    apply(value);
  }

  /// A number (integer or float) from `min` to `max`.
  void take_number(std::string_view key, double min, double max, const std::function<void(double)>& apply) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (!node->is_number()) {
      report(*node, key,
             fmt::format("{} is {}, expected a number from {} to {}", show(*node), type_name(*node), min, max));
      return;
    }
    const double value = node->value<double>().value_or(0.0);
    if (!(value >= min && value <= max)) {
      report(*node, key, fmt::format("{} is out of range; allowed: {} to {}", value, min, max));
      return;
    }
    apply(value);
  }

  /// The sub-table at `key` (marked known), or nullptr with a problem
  /// reported when it is something else.
  const toml::table* take_table(std::string_view key) {
    const toml::node* node = take(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) {
      report(
          *node, key,
          fmt::format("{} is {}, expected a table such as {{ r0 = \"198.18.0.2\" }}", show(*node), type_name(*node)));
      return nullptr;
    }
    return node->as_table();
  }

  /// Reports a problem about `key`: at its value when present, else at the
  /// table (for a required key that is missing).
  void problem(std::string_view key, std::string message) {
    const toml::node* node = table_.get(key);
    report_at(node != nullptr ? *node : static_cast<const toml::node&>(table_), join(key), std::move(message));
  }

  void report_at(const toml::node& node, std::string full_key, std::string message) {
    problems_.push_back(Problem{.file = file_,
                                .line = node.source().begin.line,
                                .column = node.source().begin.column,
                                .key = std::move(full_key),
                                .message = std::move(message)});
  }

  bool has(std::string_view key) const { return table_.contains(key); }

  std::string join(std::string_view key) const { return prefix_ + "." + std::string(key); }

  void finish() {
    for (auto&& [key, node] : table_) {
      if (taken_.count(std::string(key.str())) != 0) continue;
      std::string allowed;
      for (const auto& k : taken_order_) allowed += (allowed.empty() ? "" : ", ") + k;
      problems_.push_back(Problem{.file = file_,
                                  .line = key.source().begin.line,
                                  .column = key.source().begin.column,
                                  .key = join(key.str()),
                                  .message = fmt::format("unknown key; allowed keys in [{}]: {}", prefix_, allowed)});
    }
  }

  // Values as the operator wrote them: strings in double quotes.
  static std::string show(const toml::node& node) {
    if (const auto* s = node.as_string()) return fmt::format("\"{}\"", s->get());
    std::ostringstream out;
    node.visit([&out](auto&& v) { out << v; });
    return out.str();
  }

 private:
  const toml::node* take(std::string_view key) {
    taken_.insert(std::string(key));
    taken_order_.emplace_back(key);
    return table_.get(key);
  }

  void report(const toml::node& node, std::string_view key, std::string message) {
    report_at(node, join(key), std::move(message));
  }

  static std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
      case toml::node_type::string:
        return "a string";
      case toml::node_type::integer:
        return "an integer";
      case toml::node_type::floating_point:
        return "a float";
      case toml::node_type::boolean:
        return "a boolean";
      case toml::node_type::table:
        return "a table";
      case toml::node_type::array:
        return "an array";
      default:
        return "a date/time";
    }
  }

  const toml::table& table_;
  std::string prefix_;
  std::string file_;
  std::vector<Problem>& problems_;
  std::set<std::string> taken_;
  std::vector<std::string> taken_order_;
};

std::string kernel_host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::optional<std::string> check_host_name(const std::string& v) {
  if (v.empty() || v.size() > 64) return "allowed: 1 to 64 characters of letters, digits, '.', '-', '_'";
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
      return fmt::format("character '{}' is not allowed; allowed: letters, digits, '.', '-', '_'", c);
  }
  return std::nullopt;
}

std::optional<std::string> check_socket_path(const std::string& v) {
  // sun_path holds 108 bytes including the terminating NUL.
  if (v.empty() || v.front() != '/') return "allowed: an absolute path such as \"/run/railyard/control.sock\"";
  if (v.size() > 107) return fmt::format("is {} bytes long; a Unix socket path allows at most 107", v.size());
  return std::nullopt;
}

std::optional<mode_t> parse_mode(const std::string& v) {
  if (v.empty() || v.size() > 4) return std::nullopt;
  mode_t mode = 0;
  for (char c : v) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = static_cast<mode_t>(mode * 8 + static_cast<mode_t>(c - '0'));
  }
  if (mode > 0777) return std::nullopt;
  return mode;
}

void read_daemon(const toml::table& t, const std::string& file, DaemonSection& out, std::vector<Problem>& problems) {
  TableReader r(t, "daemon", file, problems);
  r.take_checked("host_name", out.host_name, check_host_name);
  r.take_string("log_level", [&](const std::string& v) -> std::optional<std::string> {
    if (!log::parse_level(v, out.log_level)) return "allowed: \"err\", \"warning\", \"notice\", \"info\", \"debug\"";
    return std::nullopt;
  });
  r.finish();
}

void read_control(const toml::table& t, const std::string& file, ControlSection& out, std::vector<Problem>& problems) {
  TableReader r(t, "control", file, problems);
  r.take_checked("socket", out.socket_path, check_socket_path);
  r.take_string("socket_mode", [&](const std::string& v) -> std::optional<std::string> {
    auto mode = parse_mode(v);
    if (!mode) return "allowed: octal permission digits such as \"0660\", at most \"0777\"";
    if ((*mode & 0600) != 0600) return "the owner (root) needs read and write (0600 at least)";
    out.socket_mode = *mode;
    return std::nullopt;
  });
  r.take_string("group", [&](const std::string& v) -> std::optional<std::string> {
    if (v.size() > 32) return "allowed: a group name of at most 32 characters, or \"\" for root only";
    out.group = v;
    return std::nullopt;
  });
  r.take_string("read_group", [&](const std::string& v) -> std::optional<std::string> {
    if (v.size() > 32) return "allowed: a group name of at most 32 characters, or \"\" for none";
    out.read_group = v;
    return std::nullopt;
  });
  r.take_integer("max_message_bytes", 64, 64 << 20,
                 [&](int64_t v) { out.max_message_bytes = static_cast<uint32_t>(v); });
  r.finish();
}

std::optional<std::string> check_absolute_path(const std::string& v) {
  if (v.empty() || v.front() != '/') return "allowed: an absolute path";
  return std::nullopt;
}

std::optional<std::string> check_ipv4(const std::string& v) {
  in_addr parsed{};
  if (::inet_pton(AF_INET, v.c_str(), &parsed) != 1) return "allowed: an IPv4 address such as \"198.18.0.1\"";
  return std::nullopt;
}

std::optional<std::string> check_rail_name(const std::string& v) {
  if (v.empty() || v.size() > 15) return "allowed: 1 to 15 characters of a-z, 0-9, '-', '_'";
  for (char c : v) {
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' ||
          c == '_'))
      return fmt::format("character '{}' is not allowed; allowed: a-z, 0-9, '-', '_'", c);
  }
  return std::nullopt;
}

std::optional<std::string> check_interface(const std::string& v) {
  if (v.empty() || v.size() >= IFNAMSIZ)
    return fmt::format("allowed: a network interface name of 1 to {} characters", IFNAMSIZ - 1);
  for (char c : v) {
    if (c == '/' || std::isspace(static_cast<unsigned char>(c)) || c == ':')
      return fmt::format("character '{}' cannot be in an interface name", c);
  }
  return std::nullopt;
}

// A string key that must be present: reads it through `check`, or reports it missing.
void take_required(TableReader& r, std::string_view key, std::string& out, std::string_view example,
                   std::optional<std::string> (*check)(const std::string&)) {
  if (!r.has(key)) {
    r.problem(key, fmt::format("missing; add {} = {}", key, example));
    return;
  }
  r.take_checked(key, out, check);
}

void read_fabric(const toml::table& t, const std::string& file, FabricSection& out, std::vector<Problem>& problems) {
  TableReader r(t, "fabric", file, problems);
  r.take_integer("port", 1, 65535, [&](int64_t v) { out.port = static_cast<uint16_t>(v); });
  r.take_checked("psk_file", out.psk_file, check_absolute_path);
  r.take_checked("workload_socket", out.workload_socket, check_socket_path);
  r.take_bool("ebpf", out.ebpf);
  r.take_bool("fault_injection", out.fault_injection);
  r.take_string("packet_auth", [&](const std::string& v) -> std::optional<std::string> {
    if (v == "none") {
      out.packet_auth = fabric::PacketAuth::none;
    } else if (v == "mac") {
      out.packet_auth = fabric::PacketAuth::mac;
    } else {
      return "allowed: \"none\" or \"mac\" (the same on every host of the rack)";
    }
    return std::nullopt;
  });
  r.finish();
}

void read_bmc(const toml::table& t, const std::string& file, BmcSection& out, std::vector<Problem>& problems) {
  TableReader r(t, "bmc", file, problems);
  r.take_string("url", [&](const std::string& v) -> std::optional<std::string> {
    if (!(v.starts_with("https://") || v.starts_with("http://")) || v.size() < 9)
      return "allowed: an http(s) URL of the BMC such as \"https://10.0.0.5\" (Redfish lives under /redfish/v1)";
    out.url = v;
    return std::nullopt;
  });
  r.take_checked("ca_file", out.ca_file, check_absolute_path);
  r.take_bool("insecure", out.insecure);
  r.take_checked("credentials_file", out.credentials_file, check_absolute_path);
  r.take_string("credential", [&](const std::string& v) -> std::optional<std::string> {
    if (v.empty() || v.find('/') != std::string::npos) return "allowed: a systemd credential name (LoadCredential=NAME:...)";
    out.credential = v;
    return std::nullopt;
  });
  r.take_integer("poll_interval_ms", 100, 3'600'000, [&](int64_t v) { out.poll_interval_ms = static_cast<uint32_t>(v); });
  r.take_integer("timeout_ms", 100, 120'000, [&](int64_t v) { out.timeout_ms = static_cast<uint32_t>(v); });
  r.take_integer("max_in_flight", 1, 16, [&](int64_t v) { out.max_in_flight = static_cast<uint32_t>(v); });
  if (!out.url.empty() && out.credentials_file.empty() && out.credential.empty())
    r.problem("url", "a BMC needs credentials: set credentials_file (a 0600 file \"user:password\") or credential "
                     "(a systemd credential name)");
  if (!out.credentials_file.empty() && !out.credential.empty())
    r.problem("credential", "set credentials_file or credential, not both");
  r.finish();
}

std::optional<std::string> check_cgroup_path(const std::string& v) {
  if (v.empty()) return std::nullopt;  // no cgroup rungs
  if (v.front() != '/' || v == "/")
    return "allowed: the workload's cgroup relative to the hierarchy roots, such as "
           "\"/railyard.slice/decode.service\" (see /proc/PID/cgroup), not the root cgroup; \"\" for none";
  if (v.starts_with("/sys/fs/cgroup"))
    return "give the path under the hierarchy root (\"/railyard.slice/decode.service\"), not under /sys/fs/cgroup: "
           "railyardd finds the cgroup v2 or v1 mounts itself";
  if (v.find("/../") != std::string::npos || v.ends_with("/..") || v.find("/./") != std::string::npos)
    return "'.' and '..' are not allowed in the cgroup path";
  return std::nullopt;
}

void read_policy(const toml::table& t, const std::string& file, PolicySection& out, std::vector<Problem>& problems) {
  TableReader r(t, "policy", file, problems);
  r.take_checked("workload_cgroup", out.workload_cgroup, check_cgroup_path);
  // The CPUs' worth of time the workload keeps at the cpu_quota level (0.5 = half a core).
  r.take_number("cpu_quota_cpus", 0.01, 4096.0, [&](double v) { out.cpu_quota_cpus = v; });
  r.take_bool("nvml", out.nvml);
  r.take_integer("power_cap_percent", 10, 100, [&](int64_t v) { out.power_cap_percent = static_cast<uint32_t>(v); });
  r.take_integer("power_cap_deep_percent", 10, 100,
                 [&](int64_t v) { out.power_cap_deep_percent = static_cast<uint32_t>(v); });
  if (out.power_cap_deep_percent >= out.power_cap_percent)
    r.problem("power_cap_deep_percent",
              fmt::format("{} must be under power_cap_percent ({}): the deep cap is the lower one",
                          out.power_cap_deep_percent, out.power_cap_percent));
  r.finish();
}

void read_dpdk(const toml::table& t, const std::string& file, DpdkSection& out, std::vector<Problem>& problems) {
  TableReader r(t, "dpdk", file, problems);
  r.take_string("cores", [&](const std::string& v) -> std::optional<std::string> {
    if (v.empty() || v.find_first_not_of("0123456789,-") != std::string::npos)
      return "allowed: an EAL lcore list such as \"0\" or \"2-3\"";
    out.cores = v;
    return std::nullopt;
  });
  r.take_integer("memory_mb", 0, 1 << 20, [&](int64_t v) { out.memory_mb = static_cast<uint32_t>(v); });
  r.take_bool("no_huge", out.no_huge);
  r.take_bool("no_pci", out.no_pci);
  r.take_string("file_prefix", [&](const std::string& v) -> std::optional<std::string> {
    if (v.empty() || v.find_first_of("/ \t") != std::string::npos)
      return "allowed: a name without '/' or spaces, unique per daemon on the host";
    out.file_prefix = v;
    return std::nullopt;
  });
  r.take_string_array("extra_args", out.extra_args);
  r.finish();
}

void read_verbs(const toml::table& t, const std::string& file, VerbsSection& out, std::vector<Problem>& problems) {
  TableReader r(t, "verbs", file, problems);
  r.take_integer("slice_bytes", verbs::kMinSliceBytes, verbs::kMaxSliceBytes,
                 [&](int64_t v) { out.slice_bytes = static_cast<uint32_t>(v); });
  r.take_integer("qp_budget_bytes", verbs::kMinSliceBytes, int64_t{1} << 32,
                 [&](int64_t v) { out.qp_budget_bytes = static_cast<uint64_t>(v); });
  r.take_integer("send_depth", 1, 16384, [&](int64_t v) { out.send_depth = static_cast<uint32_t>(v); });
  r.take_integer("recv_depth", 1, 16384, [&](int64_t v) { out.recv_depth = static_cast<uint32_t>(v); });
  r.take_integer("timeout", 0, 31, [&](int64_t v) { out.timeout = static_cast<uint32_t>(v); });
  r.take_integer("retry_cnt", 0, 7, [&](int64_t v) { out.retry_cnt = static_cast<uint32_t>(v); });
  r.take_integer("rnr_retry", 0, 7, [&](int64_t v) { out.rnr_retry = static_cast<uint32_t>(v); });
  r.take_integer("traffic_class", 0, 255, [&](int64_t v) { out.traffic_class = static_cast<uint32_t>(v); });
  if (const std::string why = verbs::check_config(verbs_transport_config(out)); !why.empty())
    r.problem(out.qp_budget_bytes < out.slice_bytes ? "qp_budget_bytes" : "slice_bytes", why);
  r.finish();
}

void read_telemetry(const toml::table& t, const std::string& file, TelemetrySection& out,
                    std::vector<Problem>& problems) {
  TableReader r(t, "telemetry", file, problems);
  r.take_string("listen_address", [&](const std::string& v) -> std::optional<std::string> {
    in_addr a4{};
    in6_addr a6{};
    if (::inet_pton(AF_INET, v.c_str(), &a4) != 1 && ::inet_pton(AF_INET6, v.c_str(), &a6) != 1)
      return "allowed: an IP address such as \"127.0.0.1\" (loopback keeps the endpoint private)";
    out.listen_address = v;
    return std::nullopt;
  });
  r.take_integer("listen_port", 0, 65535, [&](int64_t v) { out.listen_port = static_cast<uint16_t>(v); });
  r.take_integer("rails_interval_ms", 10, 60'000, [&](int64_t v) { out.rails_interval_ms = static_cast<uint32_t>(v); });
  r.take_integer("interval_ms", 100, 3'600'000, [&](int64_t v) { out.interval_ms = static_cast<uint32_t>(v); });
  r.take_integer("buffer_samples", 1000, 100'000'000, [&](int64_t v) { out.buffer_samples = static_cast<uint32_t>(v); });
  if (const toml::array* targets = r.take_array_of_tables("remote_write")) {
    for (size_t i = 0; i < targets->size(); ++i) {
      TableReader w(*targets->get(i)->as_table(), fmt::format("telemetry.remote_write[{}]", i), file, problems);
      RemoteWriteTarget target;
      take_required(w, "url", target.url, "\"http://127.0.0.1:9090/api/v1/write\"",
                    [](const std::string& v) -> std::optional<std::string> {
                      if (!(v.starts_with("https://") || v.starts_with("http://")))
                        return "allowed: the collector's http(s) remote-write URL";
                      return std::nullopt;
                    });
      for (const auto& entry : {std::pair{"bearer_token_file", &target.bearer_token_file},
                                std::pair{"basic_auth_password_file", &target.basic_auth_password_file},
                                std::pair{"ca_file", &target.ca_file}}) {
        std::string* field = entry.second;
        w.take_checked(entry.first, *field, check_absolute_path);
      }
      w.take_string("basic_auth_username", [&](const std::string& v) -> std::optional<std::string> {
        target.basic_auth_username = v;
        return std::nullopt;
      });
      if (!target.bearer_token_file.empty() && !target.basic_auth_username.empty())
        w.problem("bearer_token_file", "use a bearer token or basic auth, not both");
      if (target.basic_auth_username.empty() != target.basic_auth_password_file.empty())
        w.problem("basic_auth_username", "basic auth needs both basic_auth_username and basic_auth_password_file");
      w.finish();
      out.remote_write.push_back(std::move(target));
    }
  }
  r.finish();
}

void read_rail(const toml::table& t, size_t index, const std::string& file, RailConfig& out,
               std::vector<Problem>& problems) {
  TableReader r(t, fmt::format("rail[{}]", index), file, problems);
  take_required(r, "name", out.name, "\"r0\"", check_rail_name);
  r.take_string("driver", [&](const std::string& v) -> std::optional<std::string> {
    if (v == "dpdk" && !kHaveDpdk)
      return "this railyardd was built without DPDK (libdpdk-dev at build time, meson -Ddpdk=enabled); use \"udp\"";
    if (v == "verbs" && !kHaveVerbs)
      return "this railyardd was built without verbs (libibverbs-dev at build time, meson -Dverbs=enabled); use "
             "\"udp\"";
    if (v != "udp" && v != "dpdk" && v != "verbs")
      return "allowed: \"udp\" (kernel UDP sockets), \"dpdk\" or \"verbs\" (RDMA: RoCE or InfiniBand)";
    out.driver = v;
    return std::nullopt;
  });
  if (out.driver == "verbs") {
    take_required(r, "interface", out.interface, "\"ens1f0np0\" (the RDMA device's netdev)", check_interface);
    r.take_string("device", [&](const std::string& v) -> std::optional<std::string> {
      if (v.empty() || v.size() >= 64 || v.find_first_of("/ \t") != std::string::npos)
        return "allowed: an RDMA device name as ibv_devices lists it, such as \"mlx5_0\" or \"rxe0\"";
      out.device = v;
      return std::nullopt;
    });
    r.take_integer("port", 1, 255, [&](int64_t v) { out.port = static_cast<uint32_t>(v); });
    r.take_integer("gid_index", -1, 255, [&](int64_t v) { out.gid_index = static_cast<int32_t>(v); });
  } else if (out.driver == "dpdk") {
    take_required(r, "device", out.device, "\"0000:3b:00.0\" or \"net_af_xdp0,iface=eth1\"",
                  [](const std::string& v) -> std::optional<std::string> {
                    std::string error;
                    if (!nic::parse_port_spec(v, error)) return error;
                    return std::nullopt;
                  });
    r.take_checked("interface", out.interface, check_interface);
  } else {
    take_required(r, "interface", out.interface, "\"eth1\"", check_interface);
    r.take_string("device", [](const std::string&) -> std::optional<std::string> {
      return "only rails with driver = \"dpdk\" or \"verbs\" take a device";
    });
  }
  if (out.driver != "verbs") {
    for (const char* key : {"port", "gid_index"}) {
      r.take_integer(key, INT64_MIN, INT64_MAX,
                     [&](int64_t) { r.problem(key, "only rails with driver = \"verbs\" take it"); });
    }
  }
  take_required(r, "address", out.address, "\"198.18.0.1\"", check_ipv4);
  r.finish();
}

void read_peer(const toml::table& t, size_t index, const std::string& file, const std::vector<RailConfig>& rails,
               PeerConfig& out, std::vector<Problem>& problems) {
  TableReader r(t, fmt::format("peer[{}]", index), file, problems);
  take_required(r, "name", out.name, "\"gpu-08\"", check_host_name);
  if (!r.has("addresses")) {
    r.problem("addresses", "missing; add addresses = { RAIL = \"IPv4\", ... } with the peer's address on each rail");
  }
  if (const toml::table* addresses = r.take_table("addresses")) {
    std::string configured;
    for (const auto& rail : rails) configured += (configured.empty() ? "" : ", ") + rail.name;
    for (auto&& [rail_key, node] : *addresses) {
      const std::string rail_name(rail_key.str());
      const std::string key = r.join("addresses." + rail_name);
      if (std::none_of(rails.begin(), rails.end(), [&](const RailConfig& c) { return c.name == rail_name; })) {
        r.report_at(node, key,
                    fmt::format("rail '{}' is not configured here; configured rails: {}", rail_name,
                                configured.empty() ? "none (add [[rail]] tables)" : configured));
        continue;
      }
      const std::string* value = node.is_string() ? &node.as_string()->get() : nullptr;
      if (value == nullptr || check_ipv4(*value)) {
        r.report_at(node, key,
                    fmt::format("{}: allowed: an IPv4 address such as \"198.18.0.2\"", TableReader::show(node)));
        continue;
      }
      out.addresses.emplace_back(rail_name, *value);
    }
    if (addresses->empty()) r.problem("addresses", "is empty; give the peer's address on at least one rail");
  }
  r.finish();
}

// Checks that need the whole file: uniqueness, and the key file itself.
void cross_check(const Config& c, const toml::table& root, const std::string& file, std::vector<Problem>& problems) {
  auto at = [&](const toml::node* node, std::string key, std::string message) {
    const toml::source_region where = node != nullptr ? node->source() : root.source();
    problems.push_back(Problem{.file = file,
                               .line = where.begin.line,
                               .column = where.begin.column,
                               .key = std::move(key),
                               .message = std::move(message)});
  };
  const toml::array* rail_nodes = root["rail"].as_array();
  for (size_t i = 0; i < c.rails.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const toml::node* here = rail_nodes ? rail_nodes->get(i) : nullptr;
      if (!c.rails[i].name.empty() && c.rails[i].name == c.rails[j].name)
        at(here, fmt::format("rail[{}].name", i),
           fmt::format("\"{}\" is already the name of rail[{}]; rail names must be unique", c.rails[i].name, j));
      if (!c.rails[i].address.empty() && c.rails[i].address == c.rails[j].address)
        at(here, fmt::format("rail[{}].address", i),
           fmt::format("\"{}\" is already the address of rail[{}]; each rail needs its own address", c.rails[i].address,
                       j));
    }
  }
  const auto is_verbs = [](const RailConfig& r) { return r.driver == "verbs"; };
  if (std::any_of(c.rails.begin(), c.rails.end(), is_verbs) && !std::all_of(c.rails.begin(), c.rails.end(), is_verbs)) {
    const size_t other = static_cast<size_t>(
        std::find_if_not(c.rails.begin(), c.rails.end(), is_verbs) - c.rails.begin());
    at(rail_nodes ? rail_nodes->get(other) : nullptr, fmt::format("rail[{}].driver", other),
       fmt::format("\"{}\" beside verbs rails: a host's transfers go either over RDMA or over the fabric's packet "
                   "rails, so every rail of a host with a verbs rail must be verbs",
                   c.rails[other].driver));
  }
  const toml::array* peer_nodes = root["peer"].as_array();
  for (size_t i = 0; i < c.peers.size(); ++i) {
    const toml::node* here = peer_nodes ? peer_nodes->get(i) : nullptr;
    if (c.peers[i].name == c.daemon.host_name)
      at(here, fmt::format("peer[{}].name", i),
         fmt::format("\"{}\" is this host's own name (daemon.host_name); a host is not its own peer", c.peers[i].name));
    for (size_t j = 0; j < i; ++j) {
      if (!c.peers[i].name.empty() && c.peers[i].name == c.peers[j].name)
        at(here, fmt::format("peer[{}].name", i),
           fmt::format("\"{}\" is already the name of peer[{}]; peer names must be unique", c.peers[i].name, j));
    }
  }
  if (c.peers.empty()) return;
  const toml::node* psk_node = root.at_path("fabric.psk_file").node();
  if (c.fabric.psk_file.empty()) {
    at(root["fabric"].node(), "fabric.psk_file",
       "missing, and peers are configured: peers authenticate with a pre-shared key; create one with "
       "`head -c 32 /dev/urandom > /etc/railyard/fabric.psk && chmod 0600 /etc/railyard/fabric.psk`, copy it to "
       "every host, and set psk_file");
    return;
  }
  struct stat st {};
  if (::stat(c.fabric.psk_file.c_str(), &st) != 0) {
    at(psk_node, "fabric.psk_file",
       fmt::format("\"{}\": cannot read it ({}); create it or fix the path", c.fabric.psk_file, std::strerror(errno)));
  } else if (!S_ISREG(st.st_mode)) {
    at(psk_node, "fabric.psk_file", fmt::format("\"{}\" is not a regular file", c.fabric.psk_file));
  } else if ((st.st_mode & 077) != 0) {
    at(psk_node, "fabric.psk_file",
       fmt::format("\"{}\" has mode {:04o}, so other users can read the key; run chmod 0600 {}", c.fabric.psk_file,
                   st.st_mode & 0777, c.fabric.psk_file));
  } else if (st.st_size < 32) {
    at(psk_node, "fabric.psk_file",
       fmt::format("\"{}\" holds {} bytes; a key needs at least 32 (head -c 32 /dev/urandom)", c.fabric.psk_file,
                   st.st_size));
  }
}

}  // namespace

verbs::TransportConfig verbs_transport_config(const VerbsSection& v) {
  verbs::TransportConfig t;
  t.slice_bytes = v.slice_bytes;
  t.qp_budget_bytes = v.qp_budget_bytes;
  t.qp.send_depth = v.send_depth;
  t.qp.recv_depth = v.recv_depth;
  t.qp.timeout = static_cast<uint8_t>(v.timeout);
  t.qp.retry_cnt = static_cast<uint8_t>(v.retry_cnt);
  t.qp.rnr_retry = static_cast<uint8_t>(v.rnr_retry);
  t.qp.traffic_class = static_cast<uint8_t>(v.traffic_class);
  return t;
}

std::string dpdk_file_prefix(const Config& c) {
  return c.dpdk.file_prefix.empty() ? "railyard-" + c.daemon.host_name : c.dpdk.file_prefix;
}

std::string Problem::to_string() const {
  std::string where = file;
  if (line != 0) where += fmt::format(":{}:{}", line, column);
  if (key.empty()) return fmt::format("{}: {}", where, message);
  return fmt::format("{}: {}: {}", where, key, message);
}

namespace {
std::string join_problems(const std::vector<Problem>& problems) {
  std::string text;
  for (const auto& p : problems) text += (text.empty() ? "" : "\n") + p.to_string();
  return text;
}
}  // namespace

ConfigError::ConfigError(std::vector<Problem> problems)
    : std::runtime_error(join_problems(problems)), problems_(std::move(problems)) {}

Config defaults() {
  Config c;
  c.daemon.host_name = kernel_host_name();
  return c;
}

Config parse(std::string_view text, std::string_view source_name) {
  const std::string file(source_name);
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    throw ConfigError({Problem{.file = file,
                               .line = e.source().begin.line,
                               .column = e.source().begin.column,
                               .message = fmt::format("TOML syntax error: {}", e.description())}});
  }

  Config config = defaults();
  config.source_path = file;
  std::vector<Problem> problems;
  auto at_key = [&](const toml::key& key, std::string message) {
    problems.push_back(Problem{.file = file,
                               .line = key.source().begin.line,
                               .column = key.source().begin.column,
                               .key = std::string(key.str()),
                               .message = std::move(message)});
  };
  constexpr std::array<std::string_view, 8> kTables{"daemon", "control", "fabric", "bmc", "telemetry", "dpdk",
                                                    "verbs", "policy"};
  constexpr std::array<std::string_view, 2> kArrays{"rail", "peer"};
  for (auto&& [key, node] : root) {
    const std::string_view name = key.str();
    if (std::find(kTables.begin(), kTables.end(), name) != kTables.end()) {
      if (!node.is_table()) at_key(key, fmt::format("must be a table ([{}]), not a value", name));
    } else if (std::find(kArrays.begin(), kArrays.end(), name) != kArrays.end()) {
      if (!node.is_array_of_tables()) at_key(key, fmt::format("must be written as [[{}]] tables", name));
    } else {
      at_key(key, "unknown table; allowed: [daemon], [control], [fabric], [bmc], [telemetry], [dpdk], [verbs], "
                  "[policy], [[rail]], [[peer]]");
    }
  }
  if (const auto* t = root["daemon"].as_table()) read_daemon(*t, file, config.daemon, problems);
  if (const auto* t = root["control"].as_table()) read_control(*t, file, config.control, problems);
  if (const auto* t = root["fabric"].as_table()) read_fabric(*t, file, config.fabric, problems);
  if (const auto* t = root["bmc"].as_table()) read_bmc(*t, file, config.bmc, problems);
  if (const auto* t = root["telemetry"].as_table()) read_telemetry(*t, file, config.telemetry, problems);
  if (const auto* t = root["dpdk"].as_table()) read_dpdk(*t, file, config.dpdk, problems);
  if (const auto* t = root["verbs"].as_table()) read_verbs(*t, file, config.verbs, problems);
  if (const auto* t = root["policy"].as_table()) read_policy(*t, file, config.policy, problems);
  if (const auto* a = root["rail"].as_array(); a != nullptr && a->is_array_of_tables()) {
    for (size_t i = 0; i < a->size(); ++i)
      read_rail(*a->get(i)->as_table(), i, file, config.rails.emplace_back(), problems);
  }
  if (const auto* a = root["peer"].as_array(); a != nullptr && a->is_array_of_tables()) {
    for (size_t i = 0; i < a->size(); ++i)
      read_peer(*a->get(i)->as_table(), i, file, config.rails, config.peers.emplace_back(), problems);
  }
  cross_check(config, root, file, problems);
  if (!problems.empty()) throw ConfigError(std::move(problems));
  return config;
}

Config load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(
        {Problem{.file = path,
                 .message = fmt::format("cannot read the config file ({}); check the path and its permissions",
                                        std::strerror(errno))}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

Located locate_and_load(const std::string& explicit_path, std::string_view default_path) {
  if (!explicit_path.empty()) return {load_file(explicit_path), true};
  const std::string path(default_path);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return {load_file(path), true};
  return {defaults(), false};
}

}  // namespace railyard::config
