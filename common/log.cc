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

std::string format(Level level, std::string_view message) {
  const std::string prefix = fmt::format("<{}>", static_cast<int>(level));
  std::string out;
  out.reserve(message.size() + prefix.size() + 1);
  size_t at = 0;
  while (true) {
    const size_t end = message.find('\n', at);
    out += prefix;
    out += message.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
    out += '\n';
    if (end == std::string_view::npos || end + 1 == message.size()) break;
    at = end + 1;
  }
  return out;
}

void write(Level level, std::string_view message) {
  if (level > threshold()) return;
  // One write(2) per message keeps messages from different threads whole.
  std::string line = format(level, message);
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
