// fabric-load: a workload that drives the fabric through librailyard and
// proves every byte. Both ends fill their region with the same deterministic
// bytes, content(x) = f(seed, x); the sender posts random ranges to the same
// offsets in the receiver's region, so every inbound transfer can be checked
// byte for byte against content(x) whatever order or overlap transfers land in.
//
//   fabric-load receive --socket S [--region-id 7] [--region-bytes 64M] --expect N [--timeout SEC]
//                       [--verify on|off]
//   fabric-load send --socket S --peer P [--region-id 7] [--region-bytes 64M] --count N
//                    [--min 1] [--max 16M] [--activation-share 0.2] [--concurrency 16] [--seed 1]
//                    [--checksum on|off]
//
// --verify off (receiver) skips the byte-by-byte check and --checksum off
// (sender) the CRC32C the daemons compute, for goodput figures of the
// workload path alone (the checks cost the receiving host ~12 ms of CPU per
// 4 MiB); the defaults check everything.
//
// Each prints one JSON line with its results and exits 0 only if all is well.

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "client/workload.h"

namespace {

using railyard::Workload;

struct Args {
  std::string role, socket, peer;
  uint32_t region_id = 7;
  uint64_t region_bytes = 64ull << 20;
  uint64_t count = 100, expect = 0, min = 1, max = 16ull << 20, seed = 1;
  double activation_share = 0.2;
  uint32_t concurrency = 16;
  double timeout_s = 120;
  bool verify = true;    // receiver: check every byte
  bool checksum = true;  // sender: have the daemons compute and check a CRC32C
};


[[noreturn]] void usage(const std::string& why) {
  std::cerr << "fabric-load: " << why << "\n"
            << "usage: fabric-load receive|send --socket PATH [options]; see the header of tools/fabric-load/main.cc\n";
  std::exit(2);
}

bool on_off(const std::string& option, const std::string& v) {
  if (v == "on") return true;
  if (v == "off") return false;
  usage(option + " takes on or off, not " + v);
}

uint64_t parse_size(const std::string& v) {
  size_t used = 0;
  uint64_t n = std::stoull(v, &used);
  const std::string suffix = v.substr(used);
  if (suffix == "K") return n << 10;
  if (suffix == "M") return n << 20;
  if (suffix == "G") return n << 30;
  if (!suffix.empty()) usage("bad size " + v);
  return n;
}

Args parse(int argc, char** argv) {
  if (argc < 2) usage("no role");
  Args a;
  a.role = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) usage(k + " needs a value");
    const std::string v = argv[++i];
    try {
      if (k == "--socket") a.socket = v;
      else if (k == "--peer") a.peer = v;
      else if (k == "--region-id") a.region_id = static_cast<uint32_t>(std::stoul(v));
      else if (k == "--region-bytes") a.region_bytes = parse_size(v);
      else if (k == "--count") a.count = std::stoull(v);
      else if (k == "--expect") a.expect = std::stoull(v);
      else if (k == "--min") a.min = parse_size(v);
      else if (k == "--max") a.max = parse_size(v);
      else if (k == "--seed") a.seed = std::stoull(v);
      else if (k == "--activation-share") a.activation_share = std::stod(v);
      else if (k == "--concurrency") a.concurrency = static_cast<uint32_t>(std::stoul(v));
      else if (k == "--timeout") a.timeout_s = std::stod(v);
      else if (k == "--verify") a.verify = on_off(k, v);
      else if (k == "--checksum") a.checksum = on_off(k, v);
      else usage("unknown option " + k);
    } catch (const std::invalid_argument&) {
      usage(k + " takes a number, not " + v);
    }
  }
  if (a.socket.empty()) usage("--socket is required");
  if (a.role != "send" && a.role != "receive") usage("role is send or receive");
  if (a.max > a.region_bytes || a.min > a.max || a.min == 0) usage("need 1 <= --min <= --max <= --region-bytes");
  return a;
}

// content(x): 8 bytes of a 64-bit mix of (seed, x / 8), so any range is cheap to check.
inline uint8_t content(uint64_t seed, uint64_t x) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ull + (x >> 3);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<uint8_t>(z >> ((x & 7) * 8));
}

void fill(std::byte* data, uint64_t length, uint64_t seed) {
  for (uint64_t x = 0; x < length; ++x) data[x] = static_cast<std::byte>(content(seed, x));
}

bool verify(const std::byte* data, uint64_t offset, uint64_t length, uint64_t seed) {
  for (uint64_t x = offset; x < offset + length; ++x) {
    if (data[x] != static_cast<std::byte>(content(seed, x))) return false;
  }
  return true;
}

void wait_events(int fd, int timeout_ms) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  ::poll(&p, 1, timeout_ms);
}

// The sender's region holds content(x); the receiver's starts zeroed (a
// fresh memfd), so a byte that never landed cannot pass as verified.
railyard::Region open_region(Workload& w, const Args& a, bool with_content) {
  auto region = w.register_region(a.region_bytes, a.region_id, "fabric-load");
  if (!region) {
    std::cerr << "fabric-load: cannot register the region: " << region.message() << "\n";
    std::exit(1);
  }
  if (with_content) fill(region.value().data, a.region_bytes, a.seed);
  return region.value();
}

int receive(Workload& w, const Args& a) {
  railyard::Region region = open_region(w, a, /*with_content=*/false);
  std::cout << fmt::format("{{\"role\":\"receive\",\"ready\":true,\"region\":{}}}", region.id) << std::endl;
  uint64_t received = 0, bytes = 0, bad = 0, checksum_verified = 0, activation = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(a.timeout_s);
  while (received < a.expect && std::chrono::steady_clock::now() < deadline && w.connected()) {
    wait_events(w.event_fd(), 100);
    while (auto in = w.next_inbound()) {
      ++received;
      bytes += in->length;
      checksum_verified += in->checksum_verified ? 1 : 0;
      activation += in->traffic_class == railyard::TrafficClass::activation ? 1 : 0;
      if (in->region_id != region.id || (a.verify && !verify(region.data, in->offset, in->length, a.seed))) {
        ++bad;
        std::cerr << fmt::format("fabric-load: transfer {} from {} ({} bytes at {}) does not match\n",
                                 in->transfer_id, in->peer, in->length, in->offset);
      }
    }
  }
  const bool ok = received == a.expect && bad == 0;
  std::cout << fmt::format("{{\"role\":\"receive\",\"received\":{},\"expected\":{},\"bytes\":{},\"mismatched\":{},"
                           "\"verified\":{},\"checksum_verified\":{},\"activation\":{},\"ok\":{}}}",
                           received, a.expect, bytes, bad, a.verify, checksum_verified, activation, ok)
            << std::endl;
  return ok ? 0 : 1;
}

int send(Workload& w, const Args& a) {
  railyard::Region region = open_region(w, a, /*with_content=*/true);
  std::mt19937_64 rng(a.seed);
  const double lmin = std::log(static_cast<double>(a.min)), lmax = std::log(static_cast<double>(a.max));
  uint64_t posted = 0, completed = 0, failed = 0, bytes = 0;
  std::map<std::string, uint64_t> errors;
  std::vector<uint64_t> latencies_us;
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::duration<double>(a.timeout_s);
  uint64_t in_flight = 0;
  while ((completed + failed) < a.count && std::chrono::steady_clock::now() < deadline) {
    while (in_flight < a.concurrency && posted < a.count) {
      // Sizes log-uniform between min and max: many small, some large.
      const uint64_t len = std::clamp<uint64_t>(
          static_cast<uint64_t>(std::exp(std::uniform_real_distribution<double>(lmin, lmax)(rng))), a.min, a.max);
      const uint64_t off = std::uniform_int_distribution<uint64_t>(0, a.region_bytes - len)(rng);
      const bool activation = std::uniform_real_distribution<double>(0, 1)(rng) < a.activation_share;
      auto id = w.post({.local_region = region.id, .local_offset = off, .length = len, .peer = a.peer,
                        .remote_region = a.region_id, .remote_offset = off,
                        .traffic_class = activation ? railyard::TrafficClass::activation : railyard::TrafficClass::kv,
                        .checksum = a.checksum, .cookie = posted});
      if (!id) {
        if (id.error() == railyard::Error::busy) break;
        std::cerr << "fabric-load: post refused: " << id.message() << "\n";
        return 1;
      }
      ++posted;
      ++in_flight;
    }
    wait_events(w.event_fd(), 100);
    while (auto c = w.next_completion()) {
      --in_flight;
      if (c->error == railyard::Error::none) {
        ++completed;
        bytes += c->bytes;
        latencies_us.push_back(c->duration_ns / 1000);
      } else {
        ++failed;
        ++errors[railyard::error_name(c->error)];
      }
    }
    if (!w.connected()) break;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double q) { return latencies_us.empty() ? 0 : latencies_us[static_cast<size_t>(q * (latencies_us.size() - 1))]; };
  std::string error_list;
  for (const auto& [name, n] : errors) error_list += fmt::format("{}\"{}\":{}", error_list.empty() ? "" : ",", name, n);
  const bool ok = completed == a.count && failed == 0;
  std::cout << fmt::format("{{\"role\":\"send\",\"posted\":{},\"completed\":{},\"failed\":{},\"bytes\":{},"
                           "\"seconds\":{:.3f},\"goodput_mbps\":{:.1f},\"latency_p50_us\":{},\"latency_p99_us\":{},"
                           "\"errors\":{{{}}},\"ok\":{}}}",
                           posted, completed, failed, bytes, seconds, bytes * 8 / seconds / 1e6, pct(0.5), pct(0.99),
                           error_list, ok)
            << std::endl;
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  auto w = Workload::connect(a.socket, "fabric-load-" + a.role);
  if (!w) {
    std::cerr << "fabric-load: " << w.message() << "\n";
    return 1;
  }
  return a.role == "send" ? send(w.value(), a) : receive(w.value(), a);
}
