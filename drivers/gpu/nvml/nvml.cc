#include "drivers/gpu/nvml/nvml.h"

#include <dlfcn.h>

#include <fmt/format.h>

namespace railyard::nvml {

namespace {
// The few NVML types and entry points used, from the public nvml.h ABI
// (the header is not needed to build).
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr nvmlReturn_t NVML_SUCCESS = 0;
}  // namespace

struct Nvml::Api {
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  const char* (*error_string)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*count)(unsigned*) = nullptr;
  nvmlReturn_t (*handle_by_index)(unsigned, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*limit_constraints)(nvmlDevice_t, unsigned*, unsigned*) = nullptr;
  nvmlReturn_t (*default_limit)(nvmlDevice_t, unsigned*) = nullptr;
  nvmlReturn_t (*set_limit)(nvmlDevice_t, unsigned) = nullptr;

  std::string describe(nvmlReturn_t r) const {
    return error_string ? fmt::format("{} ({})", error_string(r), r) : fmt::format("NVML error {}", r);
  }
};

std::unique_ptr<Nvml> Nvml::load(std::string& error, const std::string& library) {
  void* handle = ::dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    error = fmt::format("NVML not found: no NVIDIA driver on this host (dlopen {}: {})", library,
                        why ? why : "unknown error");
    return nullptr;
  }
  std::unique_ptr<Nvml> n(new Nvml());
  n->handle_ = handle;
  n->api_ = std::make_unique<Api>();
  auto& a = *n->api_;
  bool missing = false;
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(handle, name));
    if (!fn && !missing) {
      missing = true;
      error = fmt::format("{} has no {}: driver too old for railyard", library, name);
    }
  };
  sym(a.init, "nvmlInit_v2");
  sym(a.shutdown, "nvmlShutdown");
  sym(a.error_string, "nvmlErrorString");
  sym(a.count, "nvmlDeviceGetCount_v2");
  sym(a.handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
  sym(a.limit_constraints, "nvmlDeviceGetPowerManagementLimitConstraints");
  sym(a.default_limit, "nvmlDeviceGetPowerManagementDefaultLimit");
  sym(a.set_limit, "nvmlDeviceSetPowerManagementLimit");
  if (missing) {
    a.init = nullptr;  // nothing to shut down
    return nullptr;
  }
  if (const auto r = a.init(); r != NVML_SUCCESS) {
    error = fmt::format("NVML present but nvmlInit failed: {}", a.describe(r));
    a.init = nullptr;
    return nullptr;
  }
  if (const auto r = a.count(&n->count_); r != NVML_SUCCESS) {
    error = fmt::format("NVML: cannot count GPUs: {}", a.describe(r));
    return nullptr;
  }
  return n;
}

Nvml::~Nvml() {
  if (api_ && api_->init && api_->shutdown) api_->shutdown();
  if (handle_) ::dlclose(handle_);
}

namespace {
template <class F>
std::optional<unsigned> query(const Nvml::Api& a, unsigned device, unsigned count, std::string& error, const char* what,
                              F&& call) {
  if (device >= count) {
    error = fmt::format("GPU {} does not exist ({} GPUs)", device, count);
    return std::nullopt;
  }
  nvmlDevice_t d = nullptr;
  if (const auto r = a.handle_by_index(device, &d); r != NVML_SUCCESS) {
    error = fmt::format("GPU {}: {}", device, a.describe(r));
    return std::nullopt;
  }
  unsigned v = 0;
  if (const auto r = call(d, &v); r != NVML_SUCCESS) {
    error = fmt::format("GPU {}: {}: {}", device, what, a.describe(r));
    return std::nullopt;
  }
  return v;
}
}  // namespace

std::optional<PowerLimits> Nvml::power_limits(unsigned device, std::string& error) const {
  unsigned lo = 0, hi = 0;
  const auto def = query(*api_, device, count_, error, "power limits", [&](nvmlDevice_t d, unsigned* v) {
    const auto r = api_->limit_constraints(d, &lo, &hi);
    return r != NVML_SUCCESS ? r : api_->default_limit(d, v);
  });
  if (!def) return std::nullopt;
  return PowerLimits{.min_mw = lo, .max_mw = hi, .default_mw = *def};
}

bool Nvml::set_power_limit(unsigned device, uint32_t milliwatts, std::string& error) {
  return query(*api_, device, count_, error, "setting the power limit (needs root)", [&](nvmlDevice_t d, unsigned* v) {
           *v = milliwatts;
           return api_->set_limit(d, milliwatts);
         })
      .has_value();
}

}  // namespace railyard::nvml
