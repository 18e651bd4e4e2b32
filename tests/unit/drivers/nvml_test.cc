// drivers/gpu/nvml: without the NVIDIA driver NVML is reported absent, never faked.
#include <gtest/gtest.h>

#include <dlfcn.h>

#include "drivers/gpu/nvml/nvml.h"

namespace railyard::nvml {
namespace {

TEST(Nvml, AbsentLibraryIsReported) {
  std::string error;
  auto n = Nvml::load(error, "libnvidia-ml-does-not-exist.so.1");
  EXPECT_EQ(n, nullptr);
  EXPECT_NE(error.find("NVML not found: no NVIDIA driver on this host"), std::string::npos) << error;
  EXPECT_NE(error.find("libnvidia-ml-does-not-exist.so.1"), std::string::npos) << error;
}

TEST(Nvml, LibraryWithoutNvmlSymbolsIsRefused) {
  std::string error;
  auto n = Nvml::load(error, "libm.so.6");  // present everywhere, no NVML in it
  EXPECT_EQ(n, nullptr);
  EXPECT_NE(error.find("has no nvmlInit_v2"), std::string::npos) << error;
}

TEST(Nvml, ThisHost) {
  std::string error;
  auto n = Nvml::load(error);
  if (!n) {
    EXPECT_NE(error.find("NVML not found"), std::string::npos) << error;
    GTEST_SKIP() << error;
  }
  EXPECT_GE(n->devices(), 0u);
}

}  // namespace
}  // namespace railyard::nvml
