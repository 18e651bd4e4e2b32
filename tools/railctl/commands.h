#pragma once
// railctl's commands and options, the one source of its usage, of each
// command's help, of the railctl(8) man page and of its shell completion
// (tools/railctl/gen_docs.cc writes those two at build time).

#include <string_view>

#include "common/control_limits.h"

namespace railyard::railctl {

struct CommandHelp {
  std::string_view name;
  std::string_view synopsis;  // what follows the name
  std::string_view summary;   // one or more lines
};

// The help below states these bounds in words: change both together.
static_assert(railyard::control::kMaxProbeTransfers == 1'000'000 && railyard::control::kMaxProbeConcurrency == 1024 &&
              railyard::control::kMinWatchIntervalMs == 50 && railyard::control::kMaxWatchIntervalMs == 60'000);

constexpr CommandHelp kCommands[] = {
    {"status", "", "the daemon's version, uptime, configuration, rails and peers"},
    {"rails", "", "each rail: state, link, goodput, RTT, window, retransmits, counters\n"
                  "(verbs rails: device, GID, queue pairs per peer, slices, errors, CQ depth)"},
    {"peers", "", "each peer: session, rails, bytes, handshakes; refused datagrams"},
    {"transfers", "", "transfers in flight, and totals"},
    {"send", "--peer P --size N[K|M|G] [--count N] [--class kv|activation] [--checksum] [--concurrency N]",
     "a bandwidth/latency probe through the real path to peer P: --size 1 byte to 256 MiB,\n"
     "--count 1 to 1000000 transfers (default 1), --concurrency 1 to 1024 at once (default 4)"},
    {"bmc", "", "the BMC's sensors: reading, unit, thresholds, age, status"},
    {"policy", "", "the policy: level, binding signal, prediction per signal, last decisions and why"},
    {"throttle", "LEVEL|auto",
     "hold a throttle level (normal, admission, batch, power_cap, power_cap_deep,\n"
     "cpu_quota, freeze, or 0-6) until `throttle auto` gives control back to the policy"},
    {"drain", "", "drain this host's workloads (held until `throttle auto`)"},
    {"workload", "", "the decode workload: sequences, tokens/s, migrations, peers' headroom"},
    {"migrate", "[--to HOST] [--sequences ID,ID,...] [--no-wait]",
     "move decode sequences live to HOST (default: the peer with the most headroom);\n"
     "waits until they serve there, or until the migration fails and they serve on here"},
    {"fault", "rail R --drop P | --ecn P [--class kv|activation] | --clear",
     "eBPF fault injector on this host's rail R (fabric.fault_injection must be on);\n"
     "P is a probability from 0 to 1"},
    {"watch", "[--filter TEXT]... [--interval MS] [--count N]",
     "live telemetry values (metric names containing TEXT), every MS (50 to 60000,\n"
     "default 1000), N times or until interrupted"},
    {"version", "", "railctl's version, and the daemon's when it runs (also -V, --version)"},
    {"config", "check FILE", "validate a railyard.toml exactly as railyardd would"},
    {"help", "[COMMAND]", "this text, or one command's"},
};

struct OptionHelp {
  std::string_view flags;    // "-j, --json"
  std::string_view value;    // "PATH", or empty
  std::string_view summary;
};

constexpr OptionHelp kGlobalOptions[] = {
    {"--socket", "PATH", "the daemon's control socket (default /run/railyard/control.sock)"},
    {"-j, --json", "", "machine-readable output (protobuf JSON mapping: 64-bit numbers are strings)"},
    {"--timeout", "MS", "how long to wait for the daemon (default 5000; send, migrate: 600000)"},
    {"-h, --help", "", "this text; after a command, that command's"},
    {"-V, --version", "", "the versions (railctl version)"},
};

constexpr std::string_view kExitCodes = "exit codes: 0 ok, 1 failure, 2 usage";


}  // namespace railyard::railctl
