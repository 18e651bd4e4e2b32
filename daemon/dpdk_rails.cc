#include "daemon/dpdk_rails.h"

#include <map>
#include <stdexcept>

#include <fmt/format.h>

#include "common/log.h"
#include "drivers/nic/dpdk/dpdk_env.h"
#include "drivers/nic/dpdk/dpdk_rail.h"

namespace railyard::daemon {

struct DpdkRails::State {
  config::DpdkSection eal;
  std::string file_prefix;
  std::shared_ptr<nic::DpdkEnv> env;
  std::map<std::string, const nic::DpdkRail*> rails;  // owned by the data plane, alive as long as this
};

DpdkRails::DpdkRails(config::DpdkSection eal, std::string file_prefix) : state_(std::make_unique<State>()) {
  state_->eal = std::move(eal);
  state_->file_prefix = std::move(file_prefix);
}

DpdkRails::~DpdkRails() = default;

std::unique_ptr<nic::Rail> DpdkRails::open(const config::RailConfig& rail, uint16_t udp_port,
                                           std::vector<nic::DpdkPeer> peers, nic::LinkMonitor* links) {
  if (!state_->env) {
    const auto& e = state_->eal;
    try {
      state_->env = nic::DpdkEnv::start(nic::DpdkEnvConfig{.cores = e.cores,
                                                           .memory_mb = e.memory_mb,
                                                           .no_huge = e.no_huge,
                                                           .file_prefix = state_->file_prefix,
                                                           .no_pci = e.no_pci,
                                                           .extra_args = e.extra_args});
    } catch (const std::runtime_error& error) {
      // The EAL starts with the first DPDK rail: say which one needed it.
      throw std::runtime_error(fmt::format("rail {} (device {}) needs DPDK, which could not start. {}", rail.name,
                                           rail.device, error.what()));
    }
    log::info("dpdk: EAL started (file prefix {}{})", state_->file_prefix, e.no_huge ? ", no hugepages" : "");
  }
  auto dpdk = std::make_unique<nic::DpdkRail>(state_->env, nic::DpdkRailConfig{.name = rail.name,
                                                                                .device = rail.device,
                                                                                .address = rail.address,
                                                                                .port = udp_port,
                                                                                .peers = std::move(peers)},
                                              links);
  log::info("dpdk: rail {} on {} ({}, MAC {})", rail.name, rail.device, dpdk->pmd(), nic::dpdk::format_mac(dpdk->mac()));
  state_->rails[rail.name] = dpdk.get();
  return dpdk;
}

void DpdkRails::describe(const std::string& rail, v1::RailStatus& out) const {
  auto it = state_->rails.find(rail);
  if (it == state_->rails.end()) return;
  const nic::DpdkRail& r = *it->second;
  out.set_pmd(std::string(r.pmd()));
  out.set_mac(nic::dpdk::format_mac(r.mac()));
  for (const auto& x : r.xstats()) {
    const bool notable = x.name.find("error") != std::string::npos || x.name.find("missed") != std::string::npos ||
                         x.name.find("good_") != std::string::npos || x.name.find("nombuf") != std::string::npos;
    if (notable && x.value != 0) (*out.mutable_xstats())[x.name] = x.value;
  }
}

void DpdkRails::register_thread() { nic::DpdkEnv::register_thread(); }

}  // namespace railyard::daemon
