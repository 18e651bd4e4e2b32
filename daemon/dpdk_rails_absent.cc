// DpdkRails in a build without DPDK (libdpdk-dev missing, or meson
// -Ddpdk=disabled): config validation refuses driver = "dpdk" there, so
// open() is only reached through a bug, and says what is missing.
#include <stdexcept>

#include "daemon/dpdk_rails.h"

namespace railyard::daemon {

struct DpdkRails::State {};

DpdkRails::DpdkRails(config::DpdkSection, std::string) : state_(std::make_unique<State>()) {}
DpdkRails::~DpdkRails() = default;

std::unique_ptr<nic::Rail> DpdkRails::open(const config::RailConfig& rail, uint16_t, std::vector<nic::DpdkPeer>,
                                           nic::LinkMonitor*) {
  throw std::runtime_error("rail " + rail.name + ": this railyardd was built without DPDK (meson -Ddpdk=enabled)");
}

void DpdkRails::register_thread() {}

void DpdkRails::describe(const std::string&, v1::RailStatus&) const {}

}  // namespace railyard::daemon
