#include "telemetry/process_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <string>

#include "telemetry/prometheus_text.h"

namespace railyard::telemetry {
namespace {

TEST(ProcStat, FieldsAreCountedFromTheLastParenthesis) {
  // A command name with spaces and a ')' of its own.
  const std::string line =
      "4242 (rail yard) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 150 75 0 0 20 0 9 0 123456 987654321 2048 "
      "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
  const auto st = parse_proc_stat(line);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->utime_ticks, 150u);
  EXPECT_EQ(st->stime_ticks, 75u);
  EXPECT_EQ(st->start_ticks, 123456u);
  EXPECT_EQ(st->vsize_bytes, 987654321u);
  EXPECT_EQ(st->rss_pages, 2048u);
  EXPECT_FALSE(parse_proc_stat("4242 no parenthesis"));
  EXPECT_FALSE(parse_proc_stat("4242 (short) S 1 2 3"));
  EXPECT_FALSE(parse_proc_stat(line.substr(0, line.find("150")) + "x5 75 0 0 20 0 9 0 1 2 3 4"));
}

TEST(ProcessMetrics, ThisProcessIsExportedAsClientLibrariesDo) {
  // A few ticks of CPU first, so that the CPU counter has something to show.
  volatile double x = 0;
  while (std::clock() < CLOCKS_PER_SEC / 20) x = x + 1;
  Registry registry;
  add_process_metrics(registry, "h1");
  const std::string text = render_text(registry.collect(1));
  for (const char* name : {"process_cpu_seconds_total{host=\"h1\"} ", "process_resident_memory_bytes{host=\"h1\"} ",
                           "process_virtual_memory_bytes{host=\"h1\"} ", "process_open_fds{host=\"h1\"} ",
                           "process_max_fds{host=\"h1\"} ", "process_start_time_seconds{host=\"h1\"} "}) {
    const size_t at = text.find(name);
    ASSERT_NE(at, std::string::npos) << name << " in\n" << text;
    const double v = std::stod(text.substr(at + std::string(name).size()));
    EXPECT_TRUE(std::isfinite(v) && v > 0) << name << v;
  }
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  ASSERT_TRUE(parse_proc_stat(line));
}

}  // namespace
}  // namespace railyard::telemetry
