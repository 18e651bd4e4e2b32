#pragma once
// sd_notify(3) messages and the watchdog; all no-ops when not run by systemd
// (no NOTIFY_SOCKET / WATCHDOG_USEC in the environment).

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <string_view>

namespace railyard::daemon {

void notify_ready(std::string_view status);
void notify_status(std::string_view status);
void notify_reloading();
void notify_stopping();

/// Pings WATCHDOG=1 at a quarter of WatchdogSec while `healthy()` holds, so a
/// stalled part of the daemon stops the pings and systemd restarts it.
class Watchdog {
 public:
  Watchdog(boost::asio::io_context& io, std::function<bool()> healthy);
  /// Starts pinging if systemd asked for a watchdog; returns the period used (0: none).
  std::chrono::microseconds start();
  void stop();

 private:
  void schedule();

  boost::asio::steady_timer timer_;
  std::function<bool()> healthy_;
  std::chrono::microseconds period_{0};
};

}  // namespace railyard::daemon
