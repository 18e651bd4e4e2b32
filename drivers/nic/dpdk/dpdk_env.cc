#include "drivers/nic/dpdk/dpdk_env.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_log.h>

#include "common/log.h"

namespace railyard::nic {

namespace {

std::mutex g_mutex;
std::weak_ptr<DpdkEnv> g_env;
bool g_cleaned_up = false;

// DPDK's log, routed into railyard's: one line per message line, with the
// syslog priority DPDK gives it (RTE_LOG_ERR is 4, syslog's err is 3), and
// the last few warnings and errors kept for error messages.
std::mutex g_log_mutex;
std::deque<std::string> g_log_problems;  // guarded by g_log_mutex
constexpr size_t kLogProblemsKept = 6;

ssize_t dpdk_log_write(void* /*cookie*/, const char* buffer, size_t size) {
  const int dpdk_level = ::rte_log_cur_msg_loglevel();
  const int syslog_level = std::clamp(dpdk_level - 1, static_cast<int>(log::Level::err), static_cast<int>(log::Level::debug));
  std::string_view text(buffer, size);
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty()) continue;
    log::write(static_cast<log::Level>(syslog_level), fmt::format("dpdk: {}", line));
    if (dpdk_level <= static_cast<int>(RTE_LOG_WARNING)) {
      const std::lock_guard lock(g_log_mutex);
      g_log_problems.emplace_back(line);
      if (g_log_problems.size() > kLogProblemsKept) g_log_problems.pop_front();
    }
  }
  return static_cast<ssize_t>(size);
}

void route_dpdk_log() {
  static FILE* stream = [] {
    FILE* f = ::fopencookie(nullptr, "w", cookie_io_functions_t{.read = nullptr, .write = &dpdk_log_write,
                                                                 .seek = nullptr, .close = nullptr});
    // Line buffering would split a message without a newline; rte_vlog flushes after each message.
    if (f != nullptr) ::setvbuf(f, nullptr, _IOFBF, 8192);
    return f;
  }();
  if (stream != nullptr) ::rte_openlog_stream(stream);
}

/// The process holding the EAL's lock on a file prefix's config file, or 0.
/// The EAL locks <runtime dir>/config with fcntl (a process lock), so
/// F_GETLK names the holder.
pid_t prefix_holder(const std::string& file_prefix) {
  const std::string base = ::geteuid() == 0 ? "/var/run/dpdk" : fmt::format("/run/user/{}/dpdk", ::geteuid());
  const std::string path = fmt::format("{}/{}/config", base, file_prefix);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 0;
  const int r = ::fcntl(fd, F_GETLK, &lock);
  ::close(fd);
  return r == 0 && lock.l_type != F_UNLCK ? lock.l_pid : 0;
}

std::string process_name(pid_t pid) {
  std::ifstream comm(fmt::format("/proc/{}/comm", pid));
  std::string name;
  std::getline(comm, name);
  return name.empty() ? "?" : name;
}

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
      return "an EAL argument is invalid: correct the one the EAL names, in [dpdk] (cores: CPUs this host has, "
             "memory_mb, no_huge, no_pci, extra_args)";
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
      return "see what the EAL said, and the EAL's log lines before this message";
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
  route_dpdk_log();
  take_log_problems();
  log::info("dpdk: starting the EAL: {}", fmt::join(args, " "));
  // On bad arguments the EAL prints its whole usage text to stdout (a hundred
  // lines in the journal); its errors come through the log, so stdout is
  // parked on /dev/null while it parses. Nothing else writes to stdout then:
  // start() runs on the control thread before any data-plane thread exists.
  std::fflush(stdout);
  const int saved_stdout = ::dup(STDOUT_FILENO);
  const int null_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved_stdout >= 0 && null_fd >= 0) ::dup2(null_fd, STDOUT_FILENO);
  const int parsed = ::rte_eal_init(static_cast<int>(storage.size()), argv.data());
  std::fflush(stdout);
  if (saved_stdout >= 0 && null_fd >= 0) ::dup2(saved_stdout, STDOUT_FILENO);
  if (saved_stdout >= 0) ::close(saved_stdout);
  if (null_fd >= 0) ::close(null_fd);
  if (parsed < 0) {
    const int error = rte_errno;
    if (error != EALREADY) g_cleaned_up = true;  // a failed init cannot be retried either
    std::string said = take_log_problems();
    while (!said.empty() && said.back() == '.') said.pop_back();
    said = said.empty() ? std::string() : fmt::format(" The EAL said: {}.", said);
    // The EAL reports a file prefix locked by another process with no
    // particular rte_errno: look for the holder.
    if (const pid_t holder = prefix_holder(config.file_prefix); holder != 0 && holder != ::getpid()) {
      throw std::runtime_error(fmt::format(
          "dpdk: the EAL failed to start: file prefix '{}' is in use by another DPDK process (pid {}, {}).{} To fix: "
          "give each daemon on a host its own file_prefix ([dpdk] file_prefix; the default is "
          "railyard-<host_name>), or stop that process. EAL arguments: {}",
          config.file_prefix, holder, process_name(holder), said, fmt::join(args, " ")));
    }
    throw std::runtime_error(fmt::format("dpdk: the EAL failed to start (rte_errno {}: {}).{} To fix: {}. EAL arguments: {}",
                                         error, ::rte_strerror(error), said, eal_hint(error), fmt::join(args, " ")));
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

std::string DpdkEnv::take_log_problems() {
  const std::lock_guard lock(g_log_mutex);
  std::string out = fmt::format("{}", fmt::join(g_log_problems, "; "));
  g_log_problems.clear();
  return out;
}

}  // namespace railyard::nic
