#pragma once
// Logging to stderr with syslog priority prefixes ("<3>", "<6>", ...), which
// journald turns into message priorities, so levels survive under systemd.

#include <fmt/format.h>
#include <string>
#include <string_view>

namespace railyard::log {

/// syslog priorities (sd-daemon.h SD_ERR ... SD_DEBUG use the same numbers).
enum class Level : int { err = 3, warning = 4, notice = 5, info = 6, debug = 7 };

/// Messages less severe than this are dropped. Thread-safe.
void set_threshold(Level level);
Level threshold();

/// Parses "err", "warning", "notice", "info", "debug"; false when unknown.
bool parse_level(std::string_view name, Level& out);
std::string_view level_name(Level level);

/// What write() puts out for `message`: every line of it with the priority
/// prefix (journald reads each line of stderr on its own: an unprefixed
/// second line would be filed at info), ending with a newline.
std::string format(Level level, std::string_view message);
/// Writes the message, atomically with respect to other threads' messages.
void write(Level level, std::string_view message);

template <class... Args>
void err(fmt::format_string<Args...> fmt, Args&&... args) {
  write(Level::err, fmt::format(fmt, std::forward<Args>(args)...));
}
template <class... Args>
void warning(fmt::format_string<Args...> fmt, Args&&... args) {
  write(Level::warning, fmt::format(fmt, std::forward<Args>(args)...));
}
template <class... Args>
void notice(fmt::format_string<Args...> fmt, Args&&... args) {
  write(Level::notice, fmt::format(fmt, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> fmt, Args&&... args) {
  write(Level::info, fmt::format(fmt, std::forward<Args>(args)...));
}
template <class... Args>
void debug(fmt::format_string<Args...> fmt, Args&&... args) {
  if (threshold() >= Level::debug) write(Level::debug, fmt::format(fmt, std::forward<Args>(args)...));
}

}  // namespace railyard::log
