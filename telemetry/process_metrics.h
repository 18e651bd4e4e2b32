#pragma once
// The process_* series every Prometheus client library exports (CPU,
// memory, file descriptors, start time), read from /proc/self at each
// sample, so railyardd looks like any other process on a dashboard.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "telemetry/registry.h"

namespace railyard::telemetry {

/// The fields of /proc/PID/stat the process_* series need.
struct ProcStat {
  uint64_t utime_ticks = 0, stime_ticks = 0, start_ticks = 0;  // clock ticks (since boot, for start)
  uint64_t vsize_bytes = 0, rss_pages = 0;
};
/// Parses one /proc/PID/stat line; nullopt when it is not one. The command
/// name (field 2) may hold spaces and parentheses: fields are counted from
/// the last ')'.
std::optional<ProcStat> parse_proc_stat(std::string_view line);

/// Registers process_cpu_seconds_total, process_resident_memory_bytes,
/// process_virtual_memory_bytes, process_open_fds, process_max_fds and
/// process_start_time_seconds, each labelled with `host`.
void add_process_metrics(Registry& registry, const std::string& host);

}  // namespace railyard::telemetry
