// RailEbpf in a build without libbpf (meson -Debpf=disabled, or libbpf
// missing): every rail reports why there is no monitor, and faults are refused.
#include "daemon/rail_ebpf.h"

namespace railyard::daemon {

namespace {
constexpr const char* kAbsent =
    "this railyardd was built without eBPF (libbpf, clang and bpftool at build time; meson -Debpf=enabled)";
}

struct RailEbpf::State {};

RailEbpf::RailEbpf(uint16_t, std::vector<Rail>, bool) : state_(std::make_unique<State>()) {}
RailEbpf::~RailEbpf() = default;

void RailEbpf::fill(size_t, v1::EbpfRail& out) const {
  out.set_monitored(false);
  out.set_unavailable(kAbsent);
}

std::string RailEbpf::set_fault(size_t, const v1::FaultRequest&) { return kAbsent; }

}  // namespace railyard::daemon
