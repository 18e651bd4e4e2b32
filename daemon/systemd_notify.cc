#include "daemon/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <string>

#include <fmt/format.h>

#include "common/clock.h"
#include "common/log.h"

namespace railyard::daemon {

namespace {
void send(const std::string& message) {
  // A return of 0 means "not under systemd"; negative is worth a debug line
  // only: notification is best effort by design.
  const int r = sd_notify(0, message.c_str());
  if (r < 0) log::debug("sd_notify failed: {}", -r);
}

}  // namespace

void notify_ready(std::string_view status) { send(fmt::format("READY=1\nSTATUS={}", status)); }
void notify_status(std::string_view status) { send(fmt::format("STATUS={}", status)); }
void notify_reloading() { send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}", monotonic_ns() / 1000)); }
void notify_stopping() { send("STOPPING=1\nSTATUS=stopping"); }

Watchdog::Watchdog(boost::asio::io_context& io, std::function<bool()> healthy)
    : timer_(io), healthy_(std::move(healthy)) {}

std::chrono::microseconds Watchdog::start() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::chrono::microseconds(0);
  period_ = std::chrono::microseconds(usec / 4);
  schedule();
  return std::chrono::microseconds(usec);
}

void Watchdog::stop() { timer_.cancel(); }

void Watchdog::schedule() {
  timer_.expires_after(period_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    if (healthy_()) {
      send("WATCHDOG=1");
    } else {
      log::err("watchdog: a part of the daemon stopped making progress; withholding the systemd ping");
    }
    schedule();
  });
}

}  // namespace railyard::daemon
