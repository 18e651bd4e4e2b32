#include "drivers/nic/dpdk/dpdk_config.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

#include <fmt/format.h>

#include "drivers/nic/dpdk/frames.h"

namespace railyard::nic {

namespace {

constexpr std::string_view kPortExamples =
    "a PCI address (0000:3b:00.0) or a vdev string (net_af_xdp0,iface=r0 or net_af_packet0,iface=r0)";

bool all_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; });
}

/// "DDDD:BB:DD.F" or "BB:DD.F"; returns the form with the domain.
std::optional<std::string> parse_pci(std::string_view s) {
  std::string_view domain = "0000";
  const size_t colons = static_cast<size_t>(std::count(s.begin(), s.end(), ':'));
  if (colons == 2) {
    domain = s.substr(0, s.find(':'));
    s.remove_prefix(domain.size() + 1);
  } else if (colons != 1) {
    return std::nullopt;
  }
  const size_t colon = s.find(':'), dot = s.find('.');
  if (colon == std::string_view::npos || dot == std::string_view::npos || dot < colon) return std::nullopt;
  const std::string_view bus = s.substr(0, colon), dev = s.substr(colon + 1, dot - colon - 1), fn = s.substr(dot + 1);
  if (!all_hex(domain) || domain.size() > 4 || !all_hex(bus) || bus.size() != 2 || !all_hex(dev) || dev.size() != 2 ||
      fn.size() != 1 || fn[0] < '0' || fn[0] > '7') {
    return std::nullopt;
  }
  std::string out = fmt::format("{:0>4}:{}:{}.{}", domain, bus, dev, fn);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::optional<PortSpec> parse_port_spec(std::string_view text, std::string& error) {
  if (text.empty()) {
    error = fmt::format("the port is empty: give {}", kPortExamples);
    return std::nullopt;
  }
  if (text.find_first_of(" \t\n") != std::string_view::npos) {
    error = fmt::format("port '{}' contains white space: give {}", text, kPortExamples);
    return std::nullopt;
  }
  const size_t comma = text.find(',');
  const std::string_view name = text.substr(0, comma);
  const std::string_view args = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  PortSpec spec;
  spec.args = std::string(args);
  if (auto pci = parse_pci(name)) {
    spec.kind = PortSpec::Kind::pci;
    spec.name = *pci;
    return spec;
  }
  if (!name.starts_with("net_")) {
    error = fmt::format(
        "port '{}' is neither a PCI address (0000:3b:00.0) nor a vdev string (net_af_xdp0,iface=r0 or "
        "net_af_packet0,iface=r0)",
        text);
    return std::nullopt;
  }
  spec.kind = PortSpec::Kind::vdev;
  spec.name = std::string(name);
  size_t end = name.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(name[end - 1]))) --end;
  spec.driver = std::string(name.substr(0, end));
  if (spec.driver.size() <= 4) {
    error = fmt::format("port '{}': '{}' names no driver (write net_af_xdp0, net_af_packet0, ...)", text, name);
    return std::nullopt;
  }
  // Arguments are key=value pairs separated by commas.
  std::string_view rest = args;
  while (!rest.empty()) {
    const size_t next = rest.find(',');
    const std::string_view kv = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
    const size_t eq = kv.find('=');
    if (eq == 0 || eq == std::string_view::npos || eq + 1 == kv.size()) {
      error = fmt::format("port '{}': argument '{}' is not key=value", text, kv);
      return std::nullopt;
    }
    if (kv.substr(0, eq) == "iface") spec.iface = std::string(kv.substr(eq + 1));
  }
  if ((spec.driver == "net_af_xdp" || spec.driver == "net_af_packet") && spec.iface.empty()) {
    error = fmt::format("port '{}': {} needs iface=INTERFACE (e.g. {},iface=r0)", text, spec.driver, spec.name);
    return std::nullopt;
  }
  return spec;
}

std::vector<std::string> check_rail_config(const DpdkRailConfig& c) {
  std::vector<std::string> problems;
  if (c.name.empty()) problems.push_back("name: empty");
  std::string error;
  if (!parse_port_spec(c.device, error)) problems.push_back("device: " + error);
  if (!dpdk::parse_ipv4(c.address)) {
    problems.push_back(fmt::format("address: '{}' is not an IPv4 address (a dotted quad, e.g. 10.0.0.1)", c.address));
  }
  if (c.port == 0) problems.push_back("port: 0 (a DPDK rail needs an explicit UDP port, e.g. the one the peers use)");
  if (c.burst == 0 || c.burst > 512) problems.push_back(fmt::format("burst: {} is out of range 1..512", c.burst));
  if (c.rx_descriptors < 64 || c.tx_descriptors < 64) problems.push_back("rx_descriptors/tx_descriptors: at least 64");
  if (c.mtu != 0 && c.mtu < 576) problems.push_back(fmt::format("mtu: {} is below 576", c.mtu));
  if (c.dscp > 63) problems.push_back(fmt::format("dscp: {} is out of range 0..63", c.dscp));
  if (c.arp_retry_ms == 0 || c.arp_retry_max_ms < c.arp_retry_ms) {
    problems.push_back("arp_retry_ms/arp_retry_max_ms: need 0 < arp_retry_ms <= arp_retry_max_ms");
  }
  if (c.link_poll_ms == 0) problems.push_back("link_poll_ms: 0");
  for (const DpdkPeer& p : c.peers) {
    if (p.slot == kUnknownPeer) problems.push_back(fmt::format("peer {}: no slot", p.address));
    if (!dpdk::parse_ipv4(p.address)) problems.push_back(fmt::format("peer address '{}' is not an IPv4 address", p.address));
    if (p.port == 0) problems.push_back(fmt::format("peer {}: port 0", p.address));
    if (!p.mac.empty()) {
      const auto mac = dpdk::parse_mac(p.mac);
      if (!mac || mac->is_multicast() || mac->is_zero()) {
        problems.push_back(fmt::format("peer {}: mac '{}' is not a unicast MAC (write 02:00:00:00:00:01)", p.address, p.mac));
      }
    }
  }
  return problems;
}

std::vector<std::string> eal_arguments(const DpdkEnvConfig& c) {
  if (c.file_prefix.empty()) {
    throw std::invalid_argument("dpdk: file_prefix is empty: give every daemon on a host its own (e.g. railyard-<host>)");
  }
  if (c.file_prefix.find_first_of("/ \t") != std::string::npos) {
    throw std::invalid_argument(fmt::format("dpdk: file_prefix '{}' must not contain '/' or spaces", c.file_prefix));
  }
  std::vector<std::string> args{"railyardd", "-l", c.cores.empty() ? "0" : c.cores, "--file-prefix", c.file_prefix};
  if (c.memory_mb != 0) {
    args.push_back("-m");
    args.push_back(std::to_string(c.memory_mb));
  }
  if (c.no_huge) args.push_back("--no-huge");
  if (c.no_pci) args.push_back("--no-pci");
  for (const std::string& a : c.allow) {
    args.push_back("-a");
    args.push_back(a);
  }
  for (const std::string& v : c.vdevs) args.push_back("--vdev=" + v);
  if (!c.log_level.empty()) args.push_back("--log-level=" + c.log_level);
  if (!c.telemetry) args.push_back("--no-telemetry");
  args.insert(args.end(), c.extra_args.begin(), c.extra_args.end());
  return args;
}

}  // namespace railyard::nic
