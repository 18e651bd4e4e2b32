#pragma once
// The DPDK EAL, started once per process. The EAL cannot be initialised twice
// in one process, not even after rte_eal_cleanup, so DpdkEnv is a shared
// handle: start() initialises it the first time and returns the same
// environment afterwards; rails hold the handle, and the EAL is cleaned up
// when the last holder lets go. Starting again after that is refused.
//
// Threading: start() and the destructor run on the control thread; no rail
// may be alive when the last handle goes.

#include <memory>
#include <string>
#include <vector>

#include "drivers/nic/dpdk/dpdk_config.h"

namespace railyard::nic {

class DpdkEnv {
 public:
  /// Initialises the EAL from `config`, or returns the running environment
  /// (whose config must then match: a different one is an error). Throws
  /// std::runtime_error with the EAL's reason (rte_strerror(rte_errno)) and
  /// what to fix.
  static std::shared_ptr<DpdkEnv> start(const DpdkEnvConfig& config);

  ~DpdkEnv();
  DpdkEnv(const DpdkEnv&) = delete;
  DpdkEnv& operator=(const DpdkEnv&) = delete;

  const DpdkEnvConfig& config() const { return config_; }
  /// The arguments rte_eal_init was given, for logs.
  const std::vector<std::string>& arguments() const { return arguments_; }
  /// "va" or "pa": whether external buffers can be DMA-mapped with iova = va.
  bool iova_is_va() const;

  /// Gives the calling (non-EAL) thread an lcore id, so mempool per-lcore
  /// caches serve it: call once at the start of a data-plane thread. False
  /// when no lcore id is left (mempools then work without their cache).
  static bool register_thread();
  static void unregister_thread();

  /// What DPDK logged at warning level or worse since the last call (the
  /// EAL's and the PMDs' own reasons), joined with "; " and cleared; empty if
  /// nothing. DPDK's log goes through railyard's (stderr, syslog priority
  /// prefixes, "dpdk: ") from the first start() on; this keeps the last few
  /// problems so a failure's message can quote them.
  static std::string take_log_problems();

 private:
  explicit DpdkEnv(const DpdkEnvConfig& config, std::vector<std::string> arguments);
  DpdkEnvConfig config_;
  std::vector<std::string> arguments_;
};

}  // namespace railyard::nic
