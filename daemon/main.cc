// railyardd: the per-host railyard daemon.

#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "common/build_info.h"
#include "common/log.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "daemon/protobuf_log.h"

namespace {

constexpr std::string_view kUsage =
    "usage: railyardd [--config FILE] [--check-config] [--version] [--help]\n"
    "\n"
    "  --config FILE    read FILE instead of {} (which is optional:\n"
    "                   without it the embedded defaults apply)\n"
    "  --check-config   validate the configuration and exit (0: valid, 1: not)\n"
    "  --version        print the version and exit\n"
    "\n"
    "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the configuration.\n";

void usage(std::ostream& out) {
  std::string text(kUsage);
  text.replace(text.find("{}"), 2, railyard::kDefaultConfigPath);
  out << text;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace railyard;
  daemon::Options options;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      options.config_path = argv[++i];
    } else if (arg.starts_with("--config=")) {
      options.config_path = std::string(arg.substr(9));
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--version") {
      std::cout << "railyardd " << kVersion << "\n";
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      return 0;
    } else {
      std::cerr << "railyardd: unknown argument '" << arg << "'\n";
      usage(std::cerr);
      return 2;
    }
  }

  daemon::install_protobuf_log();
  config::Located initial;
  try {
    initial = config::locate_and_load(options.config_path, kDefaultConfigPath);
  } catch (const config::ConfigError& e) {
    log::err("configuration refused, railyardd not started:\n{}", e.what());
    return 1;
  }
  if (check_only) {
    std::cout << (initial.from_file ? initial.config.source_path : "embedded defaults") << ": ok\n";
    return 0;
  }

  try {
    daemon::Daemon railyardd(std::move(options), std::move(initial));
    railyardd.run();
  } catch (const std::exception& e) {
    log::err("railyardd failed to start: {}", e.what());
    return 1;
  }
  return 0;
}
