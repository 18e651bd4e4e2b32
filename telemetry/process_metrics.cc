#include "telemetry/process_metrics.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

namespace railyard::telemetry {

std::optional<ProcStat> parse_proc_stat(std::string_view line) {
  const size_t close = line.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // Fields from 3 (state) on, space-separated.
  std::vector<std::string_view> f;
  for (size_t at = close + 1; at < line.size();) {
    while (at < line.size() && (line[at] == ' ' || line[at] == '\n')) ++at;
    const size_t end = std::min(line.find(' ', at), line.size());
    if (end > at) f.push_back(line.substr(at, end - at));
    at = end;
  }
  // f[0] is field 3; utime 14, stime 15, starttime 22, vsize 23, rss 24.
  if (f.size() < 22) return std::nullopt;
  auto number = [&](size_t field, uint64_t& out) {
    const std::string_view s = f[field - 3];
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
  };
  ProcStat st;
  if (!number(14, st.utime_ticks) || !number(15, st.stime_ticks) || !number(22, st.start_ticks) ||
      !number(23, st.vsize_bytes) || !number(24, st.rss_pages))
    return std::nullopt;
  return st;
}

namespace {

std::optional<ProcStat> read_self() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  return parse_proc_stat(line);
}

// One read of /proc/self/stat serves the three series a sample takes from
// it: a read within the last 100 ms (the same sample) is reused.
class SelfStat {
 public:
  std::optional<ProcStat> get() {
    const auto now = std::chrono::steady_clock::now();
    if (!read_at_ || now - *read_at_ > std::chrono::milliseconds(100)) {
      stat_ = read_self();
      read_at_ = now;
    }
    return stat_;
  }

 private:
  std::optional<ProcStat> stat_;
  std::optional<std::chrono::steady_clock::time_point> read_at_;
};

// Seconds since the epoch when the system booted (/proc/stat's btime).
double boot_time() {
  std::ifstream in("/proc/stat");
  std::string key;
  double value = 0;
  while (in >> key) {
    if (key == "btime" && in >> value) return value;
    in.ignore(1 << 16, '\n');
  }
  return std::nan("");
}

}  // namespace

void add_process_metrics(Registry& registry, const std::string& host) {
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  auto self = std::make_shared<SelfStat>();
  auto spec = [](const char* name, const char* help, Unit unit) {
    return FamilySpec{.name = name, .help = help, .unit = unit, .labels = {"host"}};
  };
  registry.counter_family(spec("process_cpu_seconds", "User and system CPU time spent, in seconds", Unit::seconds))
      .callback({host}, [self, tick] {
        const auto st = self->get();
        return st ? static_cast<double>(st->utime_ticks + st->stime_ticks) / tick : std::nan("");
      });
  registry.gauge_family(spec("process_resident_memory_bytes", "Resident memory size in bytes", Unit::bytes))
      .callback({host}, [self, page] {
        const auto st = self->get();
        return st ? static_cast<double>(st->rss_pages) * page : std::nan("");
      });
  registry.gauge_family(spec("process_virtual_memory_bytes", "Virtual memory size in bytes", Unit::bytes))
      .callback({host}, [self] {
        const auto st = self->get();
        return st ? static_cast<double>(st->vsize_bytes) : std::nan("");
      });
  registry.gauge_family(spec("process_open_fds", "Open file descriptors", Unit::none)).callback({host}, [] {
    std::error_code ec;
    double n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec))
      ++n;
    return ec ? std::nan("") : n - 1;  // less the iterator's own
  });
  registry.gauge_family(spec("process_max_fds", "Limit of open file descriptors", Unit::none)).callback({host}, [] {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::nan("");
    return limit.rlim_cur == RLIM_INFINITY ? std::numeric_limits<double>::infinity()
                                            : static_cast<double>(limit.rlim_cur);
  });
  // Constant for the process: computed once.
  const auto st = read_self();
  const double start = st ? boot_time() + static_cast<double>(st->start_ticks) / tick : std::nan("");
  registry.gauge_family(spec("process_start_time_seconds", "Start time of the process since the Unix epoch, in seconds",
                             Unit::seconds))
      .callback({host}, [start] { return start; });
}

}  // namespace railyard::telemetry
