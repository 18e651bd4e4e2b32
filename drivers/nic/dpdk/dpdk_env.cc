#include "drivers/nic/dpdk/dpdk_env.h"

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include "common/log.h"

namespace railyard::nic {

namespace {

std::mutex g_mutex;
std::weak_ptr<DpdkEnv> g_env;
bool g_cleaned_up = false;

/// What to do about each rte_errno rte_eal_init reports (lib/eal/linux/eal.c).
std::string_view eal_hint(int error) {
  switch (error) {
    case EACCES:
      return "the EAL could not read hugepage information or lacks permission: run as root (or with CAP_SYS_ADMIN, "
             "CAP_IPC_LOCK), or set no_huge = true";
    case EAGAIN:
      return "no usable hugepages or the memory could not be reserved: reserve hugepages "
             "(dpdk-hugepages.py --setup 1G), lower memory_mb, or set no_huge = true";
    case EALREADY:
      return "the EAL was already initialised in this process";
    case EFAULT:
      return "the EAL could not set up its shared memory (tailq/config); another DPDK process may use the same "
             "file_prefix: give this daemon its own";
    case EINVAL:
      return "an EAL argument is invalid (cores, memory_mb, allow, vdevs or extra_args): the EAL's own message above "
             "names it";
    case ENODEV:
      return "the EAL could not initialise memory zones or a bus (check allow-listed PCI devices are bound to "
             "vfio-pci: dpdk-devbind.py --status)";
    case ENOMEM:
      return "not enough memory for the EAL: raise memory_mb, reserve more hugepages, or free memory";
    case ENOTSUP:
      return "a required EAL service is not supported here (interrupt thread, IOVA mode, or hugepages)";
    case ENOEXEC:
      return "a DPDK driver plugin failed to load";
    case EPROTO:
      return "the EAL could not synchronise with a primary process: use a unique file_prefix";
    default:
      return "see the EAL's messages above";
  }
}

}  // namespace

DpdkEnv::DpdkEnv(const DpdkEnvConfig& config, std::vector<std::string> arguments)
    : config_(config), arguments_(std::move(arguments)) {}

std::shared_ptr<DpdkEnv> DpdkEnv::start(const DpdkEnvConfig& config) {
  std::vector<std::string> args;
  try {
    args = eal_arguments(config);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  const std::lock_guard lock(g_mutex);
  if (auto running = g_env.lock()) {
    if (running->arguments_ != args) {
      throw std::runtime_error(fmt::format(
          "dpdk: the EAL is already running in this process with [{}]; it cannot be started again with [{}] "
          "(one [dpdk] configuration per process)",
          fmt::join(running->arguments_, " "), fmt::join(args, " ")));
    }
    return running;
  }
  if (g_cleaned_up) {
    throw std::runtime_error(
        "dpdk: the EAL was cleaned up in this process and cannot be initialised again (a DPDK limitation): restart "
        "the process");
  }

  // rte_eal_init keeps pointers into argv: the strings live as long as the process.
  static std::vector<std::string> storage;
  storage = args;
  std::vector<char*> argv;
  for (std::string& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  cpu_set_t affinity;
  CPU_ZERO(&affinity);
  const bool have_affinity = ::pthread_getaffinity_np(::pthread_self(), sizeof affinity, &affinity) == 0;
  log::info("dpdk: starting the EAL: {}", fmt::join(args, " "));
  const int parsed = ::rte_eal_init(static_cast<int>(storage.size()), argv.data());
  if (parsed < 0) {
    const int error = rte_errno;
    if (error != EALREADY) g_cleaned_up = true;  // a failed init cannot be retried either
    throw std::runtime_error(fmt::format("dpdk: the EAL failed to start ({}: {}): {}; EAL arguments: {}",
                                         std::strerror(error), ::rte_strerror(error), eal_hint(error),
                                         fmt::join(args, " ")));
  }
  if (config.keep_caller_affinity && have_affinity) {
    // The EAL pinned this thread to the main lcore; give it back its CPUs.
    ::pthread_setaffinity_np(::pthread_self(), sizeof affinity, &affinity);
  }
  auto env = std::shared_ptr<DpdkEnv>(new DpdkEnv(config, std::move(args)));
  g_env = env;
  log::info("dpdk: EAL running: {} lcore(s), main lcore {}, IOVA as {}", ::rte_lcore_count(), ::rte_get_main_lcore(),
            env->iova_is_va() ? "VA" : "PA");
  return env;
}

DpdkEnv::~DpdkEnv() {
  const std::lock_guard lock(g_mutex);
  const int r = ::rte_eal_cleanup();
  g_cleaned_up = true;
  if (r != 0) log::warning("dpdk: rte_eal_cleanup: {}", ::rte_strerror(-r));
}

bool DpdkEnv::iova_is_va() const { return ::rte_eal_iova_mode() == RTE_IOVA_VA; }

bool DpdkEnv::register_thread() {
  if (::rte_lcore_id() != LCORE_ID_ANY) return true;
  return ::rte_thread_register() == 0;
}

void DpdkEnv::unregister_thread() { ::rte_thread_unregister(); }

}  // namespace railyard::nic
