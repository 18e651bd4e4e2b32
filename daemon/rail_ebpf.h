#pragma once
// The eBPF rail monitor and fault injector on this host's rails, as the
// daemon uses them: monitors attached at start where the kernel allows (the
// daemon runs on without them otherwise, saying why), injectors attached on
// the first `railctl fault`. Control thread only. Built from rail_ebpf.cc
// with libbpf, or rail_ebpf_absent.cc in a build without eBPF.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "railyard/v1/control.pb.h"

namespace railyard::daemon {

class RailEbpf {
 public:
  struct Rail {
    std::string name;
    int ifindex = 0;
    std::string skip;  // why the kernel cannot see this rail (e.g. DPDK owns it); empty: attach
  };
  /// Attaches a monitor to every rail (when `monitor`); failures are logged.
  RailEbpf(uint16_t fabric_port, std::vector<Rail> rails, bool monitor);
  ~RailEbpf();

  /// Fills what the monitor and the injector see on rail `r`.
  void fill(size_t r, v1::EbpfRail& out) const;

  /// Sets (or clears) the injector on rail `r`; returns an error message
  /// saying what to do, or "" on success.
  std::string set_fault(size_t r, const v1::FaultRequest& request);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace railyard::daemon
