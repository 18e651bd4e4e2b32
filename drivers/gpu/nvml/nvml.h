#pragma once
// NVML loaded at run time with dlopen("libnvidia-ml.so.1"): railyardd runs
// (and is built) on hosts without the NVIDIA driver. Absent NVML is reported
// ("NVML not found: no NVIDIA driver on this host"), never faked.
//
// What the policy needs: the GPUs' power limits (set and restored) for the
// power_cap rungs. GPU temperatures come from the BMC.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace railyard::nvml {

struct PowerLimits {
  uint32_t min_mw = 0;
  uint32_t max_mw = 0;
  uint32_t default_mw = 0;
};

class Nvml {
 public:
  /// Loads `library` and initialises NVML; nullptr with `error` saying why
  /// (for the default library: "NVML not found: no NVIDIA driver on this host
  /// (dlopen ...)"), or which symbol or call failed.
  static std::unique_ptr<Nvml> load(std::string& error, const std::string& library = "libnvidia-ml.so.1");
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  unsigned devices() const { return count_; }
  std::optional<PowerLimits> power_limits(unsigned device, std::string& error) const;
  /// Needs root (or the capability NVML asks for); the error says so.
  bool set_power_limit(unsigned device, uint32_t milliwatts, std::string& error);

  struct Api;  ///< the entry points (defined in nvml.cc)

 private:
  Nvml() = default;
  void* handle_ = nullptr;
  std::unique_ptr<Api> api_;
  unsigned count_ = 0;
};

}  // namespace railyard::nvml
