// Engine-only figure (issue 16): a sending and a receiving fabric session
// (fabric/peer_session.h: the real Sender, Receiver and packet MAC) back to
// back in memory on one thread, with no sockets and no system calls: packets
// per CPU-second for sender and receiver work together. What it leaves out is
// what a NIC and its driver cost; what it keeps carries over to DPDK on real
// NICs and to verbs.
//
// The "wire" is a ring of datagram buffers per rail: each frame the sender
// emits is gathered into one (a NIC's DMA: timed apart and left out of the
// engine's figure, as a NIC does it without the CPU), parsed by the
// receiving side and handed to its session, which places the payload in the
// destination region (the one copy the fabric makes). ACKs go back the same
// way. Loss drops a DATA datagram at random; reordering swaps neighbours on
// a rail.
//
//   engine_bench [--seconds 3] [--rails 2] [--mtu 1500] [--loss 0] [--reorder 0] [--mac]
//                [--transfers 16] [--transfer-kib 4096] [--table]
//
// --table runs the standard set (MTU 1500 and 9000; clean, 1 % loss, 1 %
// reordering; packet_auth none and mac; then a region that stays in the
// core's L2) and prints the Markdown table kept in bench/README.md.
#include <sys/resource.h>
#include <time.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fabric/peer_session.h"
#include "fabric/tx_batch.h"

using namespace railyard::fabric;

namespace {

constexpr uint64_t kSession = 0x5e55'1011'2233'4455;
constexpr uint32_t kRegion = 1;
constexpr size_t kBurst = 64;          // frames per rail per poll, as the daemon's kBurst

struct Settings {
  double seconds = 3;
  uint8_t rails = 2;
  uint32_t mtu = 1500;
  double loss = 0;
  double reorder = 0;
  bool mac = false;
  // 16 x 4 MiB kv transfers kept posted, as P1: the region (64 MiB) is out
  // of the core's caches. --transfers 1 --transfer-kib 1024 keeps it in L2,
  // which shows the engine's own work apart from the placement's memory.
  size_t transfer = 4 << 20;
  size_t outstanding = 16;
};

struct Result {
  uint64_t packets = 0;      // DATA packets the receiver took (landed or duplicate)
  uint64_t payload = 0;      // bytes landed
  uint64_t acks = 0;
  uint64_t transfers = 0;    // completed at the sender
  double cpu_seconds = 0;    // the thread's, the wire's gathering taken out
  double wire_seconds = 0;   // gathering frames onto the wire (the NIC's DMA), loss and reordering
};

double thread_cpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

/// One side's output: per-rail batches in preallocated room.
struct Out {
  explicit Out(size_t rails) : frames(rails), room(rails), batches(rails) {
    for (size_t r = 0; r < rails; ++r) {
      frames[r].resize(kBurst);
      room[r].resize(kBurst * kTxRoom);
    }
  }
  std::span<TxBatch> clear() {
    for (size_t r = 0; r < batches.size(); ++r) batches[r] = {.frames = frames[r], .room = room[r], .count = 0};
    return batches;
  }
  std::vector<std::vector<railyard::nic::TxFrame>> frames;
  std::vector<std::vector<std::byte>> room;
  std::vector<TxBatch> batches;
};

/// A rail's datagrams in flight: gathered frames, in order (or neighbours swapped).
struct Wire {
  explicit Wire(size_t mtu) : buf(kBurst * 2, std::vector<std::byte>(mtu + kTxRoom)), len(kBurst * 2) {}
  std::vector<std::vector<std::byte>> buf;
  std::vector<size_t> len;
  size_t count = 0;
};

Result run(const Settings& s) {
  const uint32_t header = static_cast<uint32_t>(kDataHeaderSize + (s.mac ? kMacSize : 0));
  const uint32_t chunk = s.mtu - 28 - header;  // IPv4 + UDP, then the fabric's
  SessionConfig config{.auth = s.mac ? PacketAuth::mac : PacketAuth::none};
  config.sender.rails = config.receiver.rails = s.rails;
  config.sender.chunk_bytes = chunk;
  const std::vector<std::byte> psk(32, std::byte{7});
  PeerSession a(config, kSession, psk, 1, 2), b(config, kSession, psk, 2, 1);
  std::vector<std::byte> source(s.transfer * s.outstanding, std::byte{0x5a});
  std::vector<std::byte> region(s.transfer * s.outstanding);
  Out out_a(s.rails), out_b(s.rails);
  std::vector<Wire> wire(s.rails, Wire(s.mtu));
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<double> coin(0, 1);
  std::array<SendCompletion, 64> done{};
  std::array<RecvCompletion, 64> landed{};
  uint64_t next_slot = 0;
  size_t outstanding = 0;
  uint64_t wire_ns = 0;
  Packet packet;

  auto post = [&] {
    while (outstanding < s.outstanding) {
      const size_t i = next_slot++ % s.outstanding;
      uint64_t id = 0;
      const OutboundTransfer t{.source = std::span(source).subspan(i * s.transfer, s.transfer),
                               .dest_region = kRegion,
                               .dest_offset = i * s.transfer,
                               .cls = TrafficClass::kv};
      if (a.sender().post(t, id) != PostResult::ok) break;
      ++outstanding;
    }
  };
  // Gathers `from`'s frames onto the wire and hands them to `to`.
  auto cross = [&](Out& from, PeerSession& to, bool data_side, uint64_t now) {
    for (size_t r = 0; r < s.rails; ++r) {
      const TxBatch& batch = from.batches[r];
      Wire& w = wire[r];
      const uint64_t gather_start = now_ns();
      w.count = 0;
      for (size_t i = 0; i < batch.count; ++i) {
        const railyard::nic::TxFrame& f = batch.frames[i];
        if (data_side && s.loss > 0 && coin(rng) < s.loss) continue;
        std::byte* d = w.buf[w.count].data();
        std::memcpy(d, f.header.data(), f.header.size());
        if (!f.payload.empty()) std::memcpy(d + f.header.size(), f.payload.data(), f.payload.size());
        w.len[w.count++] = f.header.size() + f.payload.size();
      }
      if (data_side && s.reorder > 0)
        for (size_t i = 0; i + 1 < w.count; ++i)
          if (coin(rng) < s.reorder) std::swap(w.buf[i], w.buf[i + 1]), std::swap(w.len[i], w.len[i + 1]);
      wire_ns += now_ns() - gather_start;
      for (size_t i = 0; i < w.count; ++i) {
        Packet& p = packet;  // one for every datagram, as the daemon's data plane keeps
        if (parse(std::span(w.buf[i]).first(w.len[i]), p) != ParseResult::ok) continue;
        to.on_packet(p, static_cast<uint8_t>(r), false,
                     p.header.type == PacketType::data ? std::span<std::byte>(region) : std::span<std::byte>(), now);
      }
    }
  };

  Result res;
  const double cpu0 = thread_cpu();
  const uint64_t end = now_ns() + static_cast<uint64_t>(s.seconds * 1e9);
  for (uint64_t now = now_ns(); now < end; now = now_ns()) {
    post();
    a.poll_tx(now, out_a.clear());
    cross(out_a, b, true, now);
    b.poll_tx(now, out_b.clear());
    cross(out_b, a, false, now);
    while (size_t n = a.sender().drain_completions(done)) {
      res.transfers += n;
      outstanding -= n;
    }
    while (b.receiver().drain_completions(landed) != 0) {
    }
  }
  res.wire_seconds = static_cast<double>(wire_ns) / 1e9;
  res.cpu_seconds = thread_cpu() - cpu0 - res.wire_seconds;
  const ReceiverCounters& rc = b.receiver().counters();
  res.packets = rc.data_packets;
  res.payload = rc.bytes_landed;
  res.acks = a.sender().counters().acks;
  return res;
}

std::string row(const Settings& s, const Result& r) {
  const double pps = static_cast<double>(r.packets) / r.cpu_seconds;
  const double packets = static_cast<double>(r.packets);
  return fmt::format("| {} | {} | {} | {:.1f} % | {:.1f} % | {} x {} KiB | {:.2f} | {:.0f} | {:.2f} | {:.1f} | {:.0f} |",
                     s.mtu, s.rails, s.mac ? "mac" : "none", s.loss * 100, s.reorder * 100, s.outstanding,
                     s.transfer >> 10, pps / 1e6, 1e9 / pps,
                     static_cast<double>(r.payload) * 8 / r.cpu_seconds / 1e9,
                     packets / static_cast<double>(r.acks ? r.acks : 1), r.wire_seconds * 1e9 / packets);
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  bool table = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "engine_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--seconds") s.seconds = std::stod(value());
    else if (a == "--rails") s.rails = static_cast<uint8_t>(std::stoi(value()));
    else if (a == "--mtu") s.mtu = static_cast<uint32_t>(std::stoi(value()));
    else if (a == "--loss") s.loss = std::stod(value()) / 100;
    else if (a == "--reorder") s.reorder = std::stod(value()) / 100;
    else if (a == "--mac") s.mac = true;
    else if (a == "--transfers") s.outstanding = std::stoul(value());
    else if (a == "--transfer-kib") s.transfer = std::stoul(value()) << 10;
    else if (a == "--table") table = true;
    else {
      std::fprintf(stderr, "usage: engine_bench [--seconds 3] [--rails 2] [--mtu 1500] [--loss PCT] [--reorder PCT] [--mac]\n"
                           "                    [--transfers 16] [--transfer-kib 4096] [--table]\n");
      return 2;
    }
  }
  if (s.rails < 1 || s.rails > kMaxRails || s.mtu < 576 || s.mtu > 9000 || s.outstanding < 1 ||
      s.outstanding > 64 || s.transfer < 1024 || s.transfer > (size_t{64} << 20)) {
    std::fprintf(stderr, "engine_bench: --rails 1..8, --mtu 576..9000, --transfers 1..64, --transfer-kib 1..65536\n");
    return 2;
  }
  std::puts("| MTU | rails | packet_auth | loss | reordering | transfers posted | Mpps per core (sender + receiver) | ns per packet | payload Gbit/s per core | DATA per ACK | wire ns per packet (left out) |");
  std::puts("|---|---|---|---|---|---|---|---|---|---|---|");
  if (!table) {
    std::puts(row(s, run(s)).c_str());
    return 0;
  }
  for (uint32_t mtu : {1500u, 9000u}) {
    for (bool mac : {false, true}) {
      for (auto [loss, reorder] : {std::pair{0.0, 0.0}, std::pair{0.01, 0.0}, std::pair{0.0, 0.01}}) {
        Settings t = s;
        t.mtu = mtu;
        t.mac = mac;
        t.loss = loss;
        t.reorder = reorder;
        std::puts(row(t, run(t)).c_str());
        std::fflush(stdout);
      }
    }
  }
  for (uint32_t mtu : {1500u, 9000u}) {
    Settings t = s;
    t.mtu = mtu;
    t.outstanding = 1;
    t.transfer = 1 << 20;
    std::puts(row(t, run(t)).c_str());
    std::fflush(stdout);
  }
  return 0;
}
