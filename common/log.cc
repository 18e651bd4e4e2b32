#include "common/log.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <string>

namespace railyard::log {
namespace {
std::atomic<Level> g_threshold{Level::info};

constexpr std::array<std::pair<std::string_view, Level>, 5> kLevels{{
    {"err", Level::err},
    {"warning", Level::warning},
    {"notice", Level::notice},
    {"info", Level::info},
    {"debug", Level::debug},
}};
}  // namespace

void set_threshold(Level level) { g_threshold.store(level, std::memory_order_relaxed); }
Level threshold() { return g_threshold.load(std::memory_order_relaxed); }

bool parse_level(std::string_view name, Level& out) {
  for (const auto& [n, l] : kLevels) {
    if (n == name) {
      out = l;
      return true;
    }
  }
  return false;
}

std::string_view level_name(Level level) {
  for (const auto& [n, l] : kLevels) {
    if (l == level) return n;
  }
  return "?";
}

void write(Level level, std::string_view message) {
  if (level > threshold()) return;
  // One write(2) per line keeps lines from different threads whole.
  std::string line = fmt::format("<{}>{}\n", static_cast<int>(level), message);
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) return;  // nowhere left to report it
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace railyard::log
