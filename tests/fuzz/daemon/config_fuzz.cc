// Arbitrary bytes as a railyard.toml: the parser must either accept them or
// refuse them with problems that each name the file; never crash or hang.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "daemon/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    railyard::config::parse(text, "fuzz.toml");
  } catch (const railyard::config::ConfigError& e) {
    if (e.problems().empty()) std::abort();
    for (const auto& p : e.problems()) {
      if (p.file != "fuzz.toml" || p.message.empty()) std::abort();
    }
  }
  return 0;
}
