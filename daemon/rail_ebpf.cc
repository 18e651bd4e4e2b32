#include "daemon/rail_ebpf.h"

#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "common/log.h"
#include "ebpf/rail_bpf.h"

namespace railyard::daemon {

struct RailEbpf::State {
  uint16_t port = 0;
  std::vector<Rail> rails;
  std::vector<std::optional<ebpf::RailMonitor>> monitors;
  std::vector<std::string> unavailable;
  std::vector<std::optional<ebpf::FaultInjector>> injectors;
};

RailEbpf::RailEbpf(uint16_t fabric_port, std::vector<Rail> rails, bool monitor) : state_(std::make_unique<State>()) {
  state_->port = fabric_port;
  state_->rails = std::move(rails);
  const size_t n = state_->rails.size();
  state_->monitors.resize(n);
  state_->injectors.resize(n);
  state_->unavailable.assign(n, monitor ? "" : "off in the configuration (fabric.ebpf = false)");
  if (!monitor) return;
  const auto reason = ebpf::unavailable_reason();
  for (size_t r = 0; r < n; ++r) {
    if (!state_->rails[r].skip.empty()) {
      state_->unavailable[r] = state_->rails[r].skip;
      continue;
    }
    if (reason) {
      state_->unavailable[r] = *reason;
      continue;
    }
    try {
      state_->monitors[r].emplace(ebpf::BpfOptions{.fabric_port = fabric_port});
      state_->monitors[r]->attach(state_->rails[r].ifindex);
      for (const auto& note : state_->monitors[r]->notes()) log::info("ebpf: rail {}: {}", state_->rails[r].name, note);
    } catch (const std::exception& e) {
      state_->monitors[r].reset();
      state_->unavailable[r] = e.what();
    }
  }
  for (size_t r = 0; r < n; ++r) {
    if (state_->monitors[r])
      log::info("ebpf: rail monitor attached to rail {}", state_->rails[r].name);
    else
      log::warning("ebpf: no rail monitor on rail {}: {}; the fabric runs on without it", state_->rails[r].name,
                   state_->unavailable[r]);
  }
}

RailEbpf::~RailEbpf() = default;

void RailEbpf::fill(size_t r, v1::EbpfRail& out) const {
  const auto& monitor = state_->monitors[r];
  out.set_monitored(monitor.has_value());
  out.set_unavailable(state_->unavailable[r]);
  if (monitor) {
    const ebpf::MonitorCounters c = monitor->counters();
    for (auto direction : {ebpf::Direction::ingress, ebpf::Direction::egress}) {
      for (size_t k = 0; k < ebpf::kClasses; ++k) {
        const auto& cc = c[direction].classes[k];
        auto* x = out.add_classes();
        x->set_direction(direction == ebpf::Direction::ingress ? "rx" : "tx");
        x->set_traffic_class(k == 0 ? "activation" : "kv");
        x->set_packets(cc.packets);
        x->set_bytes(cc.bytes);
        x->set_ecn_ce(cc.ecn_ce);
      }
    }
    out.set_malformed(c.ingress.malformed + c.egress.malformed);
  }
  const auto& injector = state_->injectors[r];
  if (injector && injector->attached()) {
    const auto& s = injector->settings();
    std::string what;
    if (s.drop > 0) what += fmt::format("drop {:g}%", s.drop * 100);
    if (s.ecn > 0) what += fmt::format("{}ecn {:g}%", what.empty() ? "" : ", ", s.ecn * 100);
    if (!what.empty() && s.only != ebpf::FaultClass::all)
      what += s.only == ebpf::FaultClass::kv ? " of kv" : " of activation";
    out.set_fault(what);
    out.set_fault_mode(std::string(injector->mode()));
    const auto t = injector->counters().total();
    out.set_fault_matched(t.matched);
    out.set_fault_dropped(t.dropped);
    out.set_fault_marked(t.marked);
  }
}

std::string RailEbpf::set_fault(size_t r, const v1::FaultRequest& request) {
  auto& injector = state_->injectors[r];
  if (request.clear()) {
    if (injector) injector->clear();
    return "";
  }
  try {
    if (!injector) {
      if (!state_->rails[r].skip.empty()) return state_->rails[r].skip;
      if (const auto reason = ebpf::unavailable_reason()) return *reason;
      injector.emplace(ebpf::BpfOptions{.fabric_port = state_->port});
      injector->attach(state_->rails[r].ifindex);
    }
    const ebpf::FaultClass only = request.traffic_class() == "kv"           ? ebpf::FaultClass::kv
                                  : request.traffic_class() == "activation" ? ebpf::FaultClass::activation
                                                                            : ebpf::FaultClass::all;
    injector->set({.drop = request.drop(), .ecn = request.ecn(), .only = only});
    log::notice("ebpf: fault injector on rail {}: drop {:g}, ecn {:g}{}", state_->rails[r].name, request.drop(),
                request.ecn(), request.traffic_class().empty() ? "" : " of " + request.traffic_class());
    return "";
  } catch (const std::exception& e) {
    injector.reset();
    return fmt::format("cannot inject faults on rail {}: {}", state_->rails[r].name, e.what());
  }
}

}  // namespace railyard::daemon
