// Hardware test of the verbs rail (suite hw): two VerbsTransports in one
// process ("hosts" A and B), connected over real RC QPs through the device's
// loopback, exchange their connection data exactly as two daemons would, and
// run transfers of 1 B .. 64 MiB over 1 or 2 rails, checking every byte, the
// IMM completion at the receiver, and that a rail taken down mid-transfer
// moves its slices to the other one.
//
// Without an RDMA device (or without libibverbs at build time) it prints why
// and exits 77, which meson reports as SKIP: it never claims to have run.
//
//   RAILYARD_VERBS_DEVICES=mlx5_0,mlx5_1   devices to use as rails (default: the first two found)
//   RAILYARD_VERBS_PORT=1                  port on each
//   RAILYARD_VERBS_GID_INDEX=3             GID index (default: the first RoCE v2 IPv4 GID)
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/build_info.h"
#include "drivers/nic/verbs/transport.h"
#if RAILYARD_HAVE_VERBS
#include "drivers/nic/verbs/ibv_ops.h"
#endif

namespace {

using namespace railyard::verbs;

constexpr int kSkip = 77;
constexpr uint64_t kNodeA = 0xa1, kNodeB = 0xb2;

[[noreturn]] void skip(const std::string& why) {
  std::printf("SKIP: %s\n", why.c_str());
  std::fflush(stdout);
  std::exit(kSkip);
}

[[noreturn]] void fail(const std::string& why) {
  std::printf("FAIL: %s\n", why.c_str());
  std::fflush(stdout);
  std::exit(1);
}

std::vector<std::string> split(const char* s) {
  std::vector<std::string> out;
  std::string cur;
  for (; s && *s; ++s) {
    if (*s == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += *s;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Shared memory like a workload's region: a memfd mapped into the process.
struct Region {
  explicit Region(size_t n) : size(n) {
    const int fd = memfd_create("railyard-verbs-hw", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, static_cast<off_t>(n)) != 0) fail("memfd_create/ftruncate failed");
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) fail("mmap failed");
    base = static_cast<std::byte*>(p);
  }
  ~Region() { munmap(base, size); }
  std::byte* base;
  size_t size;
};

struct Host {
  std::unique_ptr<VerbsTransport> t;
  std::vector<VerbsEvent> events;
};

void exchange(Host& a, Host& b, size_t rail) {
  std::vector<std::byte> m1, m2, m3, m4;
  if (int rc = a.t->open_path(0, rail, m1); rc != 0) fail("open_path: " + std::string(std::strerror(rc)));
  auto o = b.t->on_message(0, rail, m1, m2);
  if (o.error != ConnError::ok)
    fail("B refused A's connect: " + std::string(conn_error_name(o.error)) + " " + std::strerror(o.verbs_errno));
  o = a.t->on_message(0, rail, m2, m3);
  if (o.error != ConnError::ok)
    fail("A refused B's answer: " + std::string(conn_error_name(o.error)) + " " + std::strerror(o.verbs_errno));
  o = b.t->on_message(0, rail, m3, m4);
  if (o.error != ConnError::ok) fail("B refused A's confirmation: " + std::string(conn_error_name(o.error)));
  if (!a.t->path_sendable(0, rail) || !b.t->path_sendable(0, rail)) fail("path not sendable after the exchange");
}

// Runs both hosts until A reports `id` sent and B reports it received, sleeping
// on the completion channels when idle (the daemon's ppoll path).
void run_until_done(Host& a, Host& b, uint32_t id, std::chrono::seconds limit, const std::function<void()>& midway = {}) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool sent = false, received = false, mid_done = !midway;
  size_t rounds = 0;
  while (!(sent && received)) {
    if (std::chrono::steady_clock::now() > deadline)
      fail("transfer " + std::to_string(id) + " did not complete in " + std::to_string(limit.count()) + " s");
    a.events.clear();
    b.events.clear();
    a.t->poll(a.events);
    b.t->poll(b.events);
    for (const VerbsEvent& e : a.events) {
      if (e.kind == VerbsEvent::Kind::sent && e.id == id) sent = true;
      if (e.kind == VerbsEvent::Kind::send_failed) fail("send_failed: " + std::string(wc_status_name(e.status)));
      if (e.kind == VerbsEvent::Kind::path_down)
        std::printf("  rail %u down (%s), slices reposted\n", e.rail, std::string(wc_status_name(e.status)).c_str());
    }
    for (const VerbsEvent& e : b.events)
      if (e.kind == VerbsEvent::Kind::received && e.id == id) received = true;
    if (!mid_done && ++rounds == 3) {
      midway();
      mid_done = true;
    }
    if (a.events.empty() && b.events.empty()) {
      const bool a_busy = a.t->arm(a.events);  // both arm, whatever the first says
      const bool b_busy = b.t->arm(b.events);
      const bool busy = a_busy || b_busy;
      if (!busy && a.events.empty() && b.events.empty()) {
        std::vector<pollfd> fds;
        for (size_t r = 0; r < a.t->rail_count(); ++r) {
          fds.push_back({a.t->wait_fd(r), POLLIN, 0});
          fds.push_back({b.t->wait_fd(r), POLLIN, 0});
        }
        ::poll(fds.data(), fds.size(), 1);
        for (size_t r = 0; r < a.t->rail_count(); ++r) {
          a.t->on_wakeup(r);
          b.t->on_wakeup(r);
        }
      }
      for (const VerbsEvent& e : b.events)
        if (e.kind == VerbsEvent::Kind::received && e.id == id) received = true;
      for (const VerbsEvent& e : a.events)
        if (e.kind == VerbsEvent::Kind::sent && e.id == id) sent = true;
    }
  }
}

// Everything through the VerbsOps interface, so it compiles without libibverbs.
[[maybe_unused]] int run(VerbsOps& ops) {
  std::vector<DeviceInfo> devs;
  if (int rc = ops.devices(devs); rc != 0)
    skip(std::string("no RDMA device: ibv_get_device_list failed: ") + std::strerror(rc) +
         " (no kernel RDMA support); see docs/VERBS.md for soft-RoCE");
  if (devs.empty())
    skip("no RDMA device: ibv_get_device_list returned 0 devices; see docs/VERBS.md for soft-RoCE");

  std::vector<std::string> names = split(std::getenv("RAILYARD_VERBS_DEVICES"));
  if (names.empty())
    for (size_t i = 0; i < devs.size() && i < 2; ++i) names.push_back(devs[i].name);
  const char* port_env = std::getenv("RAILYARD_VERBS_PORT");
  const char* gid_env = std::getenv("RAILYARD_VERBS_GID_INDEX");
  const uint8_t port = static_cast<uint8_t>(port_env ? std::atoi(port_env) : 1);
  const int gid_index = gid_env ? std::atoi(gid_env) : -1;

  TransportConfig cfg;
  cfg.slice_bytes = 256 * 1024;
  cfg.max_peers = 1;
  cfg.qp.send_depth = 64;
  cfg.qp.recv_depth = 64;
  cfg.qp.timeout = 14;
  cfg.qp.retry_cnt = 7;
  if (std::string why = check_config(cfg); !why.empty()) fail(why);
  Host a, b;
  cfg.node_id = kNodeA;
  a.t = std::make_unique<VerbsTransport>(ops, cfg);
  cfg.node_id = kNodeB;
  b.t = std::make_unique<VerbsTransport>(ops, cfg);
  for (const std::string& n : names) {
    std::string why;
    const RailDeviceConfig rc{.name = n, .device = n, .port = port, .gid_index = gid_index};
    if (a.t->add_rail(rc, why) < 0 || b.t->add_rail(rc, why) < 0) fail(why);
    std::printf("rail %s port %u\n", n.c_str(), port);
  }
  a.t->set_peer(0, kNodeB);
  b.t->set_peer(0, kNodeA);

  constexpr size_t kBytes = 64 << 20;
  Region src(kBytes), dst(kBytes);
  for (size_t i = 0; i < kBytes; ++i) src.base[i] = static_cast<std::byte>((i * 2654435761u) >> 13);
  std::string why;
  if (!a.t->register_region(1, src.base, kBytes, why)) fail(why);
  if (!b.t->register_region(2, dst.base, kBytes, why)) fail(why);
  for (size_t r = 0; r < a.t->rail_count(); ++r) exchange(a, b, r);

  struct Case {
    uint64_t offset, length;
  };
  const Case cases[] = {{0, 1}, {17, 64 * 1024}, {4096, (1 << 20) + 123}, {0, kBytes}};
  uint32_t id = 0;
  for (const Case& c : cases) {
    std::memset(dst.base, 0, kBytes);
    ++id;
    const auto t0 = std::chrono::steady_clock::now();
    if (PostError e = a.t->post({.id = id, .peer = 0, .local_region = 1, .local_offset = c.offset,
                                 .length = c.length, .remote_region = 2, .remote_offset = c.offset});
        e != PostError::ok)
      fail("post: " + std::string(post_error_name(e)));
    run_until_done(a, b, id, std::chrono::seconds(30));
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (std::memcmp(src.base + c.offset, dst.base + c.offset, c.length) != 0)
      fail("transfer " + std::to_string(id) + ": destination bytes differ");
    std::printf("ok: %llu bytes in %.3f ms (%.2f Gbit/s)\n", static_cast<unsigned long long>(c.length), s * 1e3,
                static_cast<double>(c.length) * 8 / s / 1e9);
  }

  if (a.t->rail_count() >= 2) {
    std::memset(dst.base, 0, kBytes);
    ++id;
    if (a.t->post({.id = id, .peer = 0, .local_region = 1, .length = kBytes, .remote_region = 2}) != PostError::ok)
      fail("post");
    run_until_done(a, b, id, std::chrono::seconds(60), [&a] { a.t->set_link(1, false); });
    if (std::memcmp(src.base, dst.base, kBytes) != 0) fail("rail-down transfer: destination bytes differ");
    std::printf("ok: %u MiB with rail 1 taken down midway (reposted slices: %llu)\n", unsigned(kBytes >> 20),
                static_cast<unsigned long long>(a.t->counters(1).reposted_slices));
  } else {
    std::printf("note: one rail only; the rail-down case needs two devices (RAILYARD_VERBS_DEVICES=a,b)\n");
  }
  for (size_t r = 0; r < a.t->rail_count(); ++r) {
    const VerbsRailCounters c = a.t->counters(r);
    std::printf("rail %zu: tx_bytes %llu slices %llu imm %llu errors %llu\n", r,
                static_cast<unsigned long long>(c.tx_bytes), static_cast<unsigned long long>(c.tx_slices),
                static_cast<unsigned long long>(c.tx_imm), static_cast<unsigned long long>(c.wc_errors));
  }
  std::printf("PASS\n");
  return 0;
}

}  // namespace

int main() {
  if constexpr (!railyard::kHaveVerbs)
    skip("built without libibverbs (rdma-core not found or -Dverbs=disabled); see docs/VERBS.md");
#if RAILYARD_HAVE_VERBS
  IbvOps ops;
  return run(ops);
#else
  return kSkip;
#endif
}
