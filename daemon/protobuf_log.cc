#include "daemon/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <chrono>
#include <string>

#include "common/log.h"

namespace railyard::daemon {

std::optional<std::uint64_t> LogGate::admit(std::int64_t now_s) {
  std::int64_t last = last_s_.load(std::memory_order_relaxed);
  if (now_s - last < period_s_ || !last_s_.compare_exchange_strong(last, now_s, std::memory_order_relaxed)) {
    held_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  return held_.exchange(0, std::memory_order_relaxed);
}

namespace {

LogGate g_protobuf_gate(60);

void protobuf_log(google::protobuf::LogLevel level, const char* file, int line, const std::string& message) {
  if (level == google::protobuf::LOGLEVEL_FATAL) {
    log::err("protobuf: {} ({}:{})", message, file, line);
    return;
  }
  const auto now_s =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  const auto held = g_protobuf_gate.admit(now_s);
  if (!held) return;
  const auto lvl = level == google::protobuf::LOGLEVEL_INFO ? log::Level::info : log::Level::warning;
  log::write(lvl, *held == 0 ? fmt::format("protobuf: {} (at most one such line a minute)", message)
                             : fmt::format("protobuf: {} ({} more in the last minute not logged)", message, *held));
}

}  // namespace

void install_protobuf_log() { google::protobuf::SetLogHandler(&protobuf_log); }

}  // namespace railyard::daemon
