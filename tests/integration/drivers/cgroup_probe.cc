// cgroup_probe: drives drivers/cgroup's CpuActuator from the command line for
// cgroup_cpu.sh (the real-cgroup test).
//   cgroup_probe detect              prints "v1 CPU_ROOT FREEZER_ROOT" or "v2 ROOT"
//   cgroup_probe quota CGROUP CPUS   (CPUS <= 0: no limit)
//   cgroup_probe freeze|thaw CGROUP
#include <cstdio>
#include <cstdlib>
#include <string>

#include "drivers/cgroup/cgroup_cpu.h"

int main(int argc, char** argv) {
  using namespace railyard::cgroup;
  const Mounts m = detect();
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "detect") {
    const auto v = m.version();
    if (!v) return std::puts("none"), 1;
    if (*v == Version::v1)
      std::printf("v1 %s %s\n", m.v1_cpu->c_str(), m.v1_freezer ? m.v1_freezer->c_str() : "-");
    else
      std::printf("v2 %s\n", m.v2->c_str());
    return 0;
  }
  if (argc < 3) return std::fputs("usage: cgroup_probe detect | quota CGROUP CPUS | freeze CGROUP | thaw CGROUP\n", stderr), 2;
  std::string error;
  auto a = CpuActuator::open(m, argv[2], error);
  if (!a) return std::fprintf(stderr, "cgroup_probe: %s\n", error.c_str()), 1;
  bool ok = false;
  if (cmd == "quota" && argc == 4) ok = a->set_quota(std::atof(argv[3]), error);
  else if (cmd == "freeze") ok = a->set_frozen(true, error);
  else if (cmd == "thaw") ok = a->set_frozen(false, error);
  else return std::fputs("cgroup_probe: bad command\n", stderr), 2;
  if (!ok) std::fprintf(stderr, "cgroup_probe: %s\n", error.c_str());
  return ok ? 0 : 1;
}
