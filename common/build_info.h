#pragma once
// What this build contains, as constexpr values for `if constexpr`.

#include <string_view>

#include "build_config.h"

namespace railyard {
inline constexpr std::string_view kVersion = RAILYARD_VERSION;
inline constexpr std::string_view kDefaultConfigPath = RAILYARD_DEFAULT_CONFIG;
inline constexpr bool kHaveDpdk = RAILYARD_HAVE_DPDK;
inline constexpr bool kHaveVerbs = RAILYARD_HAVE_VERBS;
inline constexpr bool kHaveEbpf = RAILYARD_HAVE_EBPF;
}  // namespace railyard
