// A Sender and a Receiver connected through a simulated network of several
// rails: per-rail line rate, propagation delay, random jitter (so packets
// reorder, within and across rails), a bounded queue (drop-tail), random loss
// in both directions, and rails that fail mid-run. Every byte of every
// transfer must arrive exactly, and every transfer must complete on both ends.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <queue>
#include <random>
#include <vector>

#include "fabric/receiver.h"
#include "fabric/sender.h"
#include "tests/unit/fabric/test_util.h"

namespace railyard::fabric {
namespace {

using testing::Batches;
using testing::flatten;

constexpr uint64_t kUs = 1000;
constexpr uint64_t kMs = 1000 * kUs;

struct RailModel {
  double bytes_per_us = 125;  // 1 Gbit/s
  uint64_t delay_ns = 20 * kUs;
  uint64_t jitter_ns = 10 * kUs;
  double loss = 0;
  uint64_t queue_ns = 500 * kUs;  // buffer: drop when the queue holds more than this
  bool dead = false;              // drops everything, both directions
};

class Network {
 public:
  Network(std::vector<RailModel> rails, uint64_t seed) : rails_(std::move(rails)), rng_(seed) {
    for (auto& b : busy_) b.assign(rails_.size(), 0);
  }
  RailModel& rail(size_t r) { return rails_[r]; }

  void send(bool to_receiver, uint8_t rail, const nic::TxFrame& f, uint64_t now) {
    ++sent_[rail];
    RailModel& m = rails_[rail];
    uint64_t& busy = busy_[to_receiver][rail];
    if (m.dead || std::uniform_real_distribution<>(0, 1)(rng_) < m.loss) return;
    const uint64_t start = std::max(now, busy);
    if (start - now > m.queue_ns) return;  // queue full
    const std::vector<std::byte> d = flatten(f);
    busy = start + static_cast<uint64_t>(static_cast<double>(d.size()) / m.bytes_per_us * kUs);
    const uint64_t jitter = m.jitter_ns ? std::uniform_int_distribution<uint64_t>(0, m.jitter_ns)(rng_) : 0;
    events_.push({.at = busy + m.delay_ns + jitter, .order = order_++, .to_receiver = to_receiver, .rail = rail,
                  .bytes = d});
  }
  uint64_t next_time() const { return events_.empty() ? UINT64_MAX : events_.top().at; }
  bool pop_due(uint64_t now, bool& to_receiver, uint8_t& rail, std::vector<std::byte>& bytes) {
    if (events_.empty() || events_.top().at > now) return false;
    const Event& e = events_.top();
    to_receiver = e.to_receiver;
    rail = e.rail;
    bytes = e.bytes;
    events_.pop();
    // A rail that died drops what was still on the wire too.
    return true;
  }
  uint64_t sent(size_t r) const { return sent_[r]; }

 private:
  struct Event {
    uint64_t at;
    uint64_t order;
    bool to_receiver;
    uint8_t rail;
    std::vector<std::byte> bytes;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : order > o.order; }
  };
  std::vector<RailModel> rails_;
  std::mt19937_64 rng_;
  std::array<std::vector<uint64_t>, 2> busy_;
  std::array<uint64_t, kMaxRails> sent_{};
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  uint64_t order_ = 0;
};

struct Job {
  std::vector<std::byte> data;
  uint64_t dest = 0;
  TrafficClass cls = TrafficClass::kv;
  uint64_t id = 0;
  bool sent_done = false;
  bool recv_done = false;
};

struct Scenario {
  std::vector<RailModel> rails;
  size_t transfers = 200;
  size_t max_size = 64 * 1024;
  size_t concurrent = 32;
  uint64_t seed = 1;
  /// Rail `fail_rail` fails when this share of the transfers has completed;
  /// `tell_link`: the sender is told (link down) or must notice (ack silence).
  double fail_at = -1;
  uint8_t fail_rail = 1;
  bool tell_link = true;
  double heal_at = -1;  ///< the failed rail comes back at this share
  /// At this simulated time rail `squeeze_rail` drops to squeeze_bytes_per_us
  /// (a tbf rate change under load, as P2 does).
  uint64_t squeeze_at_ns = UINT64_MAX;
  uint8_t squeeze_rail = 1;
  double squeeze_bytes_per_us = 0;
};

struct Outcome {
  size_t sender_ok = 0;
  size_t receiver_done = 0;
  size_t corrupt = 0;
  uint64_t end_ns = 0;
  std::array<uint64_t, kMaxRails> packets{};
  SenderCounters sc;
  ReceiverCounters rc;
  std::array<RailStatus, kMaxRails> status{};
  std::vector<uint64_t> landed_per_ms;  ///< payload bytes landed at the receiver in each simulated ms
  std::array<uint64_t, kMaxRails> packets_after_squeeze{};
};

Outcome run(const Scenario& s) {
  const uint8_t nrails = static_cast<uint8_t>(s.rails.size());
  const uint64_t seed = std::getenv("RAILYARD_SIM_SEED") ? std::strtoull(std::getenv("RAILYARD_SIM_SEED"), nullptr, 10) : s.seed;
  Network net(s.rails, seed);
  SenderConfig sc{.rails = nrails, .chunk_bytes = 1400};
  Sender sender(sc, 77);
  Receiver receiver({.rails = nrails}, 77);
  Batches tx(nrails, 32), acks(nrails, 32);

  std::mt19937_64 rng(seed * 7 + 3);
  std::vector<Job> jobs(s.transfers);
  uint64_t dest = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    // Mostly small, some large, a few empty; a quarter are activation.
    size_t size = std::uniform_int_distribution<size_t>(0, s.max_size)(rng);
    if (i % 10 == 0) size = std::uniform_int_distribution<size_t>(0, 64)(rng);
    jobs[i].data = testing::pattern(size, static_cast<uint32_t>(i + 1));
    jobs[i].cls = i % 4 == 0 ? TrafficClass::activation : TrafficClass::kv;
    jobs[i].dest = dest;
    dest += size + 7;
  }
  std::vector<std::byte> region(dest + 4096);
  auto job_of = [&jobs](uint64_t id) -> Job* {
    for (Job& j : jobs)
      if (j.id == id) return &j;
    return nullptr;
  };

  size_t next_post = 0, completed = 0, active = 0;
  bool failed = false, healed = false, squeezed = false;
  std::array<uint64_t, kMaxRails> sent_at_squeeze{};
  uint64_t now = 1 * kMs;
  std::vector<SendCompletion> sdone(64);
  std::vector<RecvCompletion> rdone(64);
  Outcome out;
  const uint64_t limit = 5'000 * kMs;  // simulated; a stuck run ends here and fails
  while (completed < jobs.size() && now < limit) {
    while (next_post < jobs.size() && active < s.concurrent) {
      Job& j = jobs[next_post++];
      EXPECT_EQ(sender.post({.source = j.data, .dest_region = 1, .dest_offset = j.dest, .cls = j.cls}, j.id),
                PostResult::ok);
      ++active;
    }
    const double share = static_cast<double>(completed) / static_cast<double>(jobs.size());
    if (!failed && s.fail_at >= 0 && share >= s.fail_at) {
      failed = true;
      net.rail(s.fail_rail).dead = true;
      if (s.tell_link) sender.set_link(s.fail_rail, nic::LinkState::down, now);
    }
    if (!squeezed && now >= s.squeeze_at_ns) {
      squeezed = true;
      net.rail(s.squeeze_rail).bytes_per_us = s.squeeze_bytes_per_us;
      for (uint8_t r = 0; r < nrails; ++r) sent_at_squeeze[r] = net.sent(r);
    }
    if (failed && !healed && s.heal_at >= 0 && share >= s.heal_at) {
      healed = true;
      net.rail(s.fail_rail).dead = false;
      if (s.tell_link) sender.set_link(s.fail_rail, nic::LinkState::up, now);
    }

    tx.clear();
    sender.poll_tx(now, tx.all());
    for (uint8_t r = 0; r < nrails; ++r)
      for (size_t i = 0; i < tx[r].count; ++i) net.send(true, r, tx[r].frames[i], now);

    bool to_receiver = false;
    uint8_t rail = 0;
    std::vector<std::byte> bytes;
    while (net.pop_due(now, to_receiver, rail, bytes)) {
      Packet p;
      EXPECT_EQ(parse(bytes, p), ParseResult::ok);
      if (to_receiver) {
        if (p.header.type == PacketType::data) {
          const uint64_t before = receiver.counters().bytes_landed;
          const DataResult r = receiver.on_data(p, rail, false, region, now);
          const size_t ms = static_cast<size_t>(now / kMs);
          if (out.landed_per_ms.size() <= ms) out.landed_per_ms.resize(ms + 1);
          out.landed_per_ms[ms] += receiver.counters().bytes_landed - before;
          EXPECT_NE(r, DataResult::rejected);
          EXPECT_NE(r, DataResult::protocol_error);
          EXPECT_NE(r, DataResult::out_of_window);
        } else if (p.header.type == PacketType::probe) {
          receiver.on_probe(p, rail, now);
        }
      } else if (p.header.type == PacketType::ack) {
        sender.on_ack(p, now);
      } else if (p.header.type == PacketType::probe_reply) {
        sender.on_probe_reply(p, now);
      }
    }
    acks.clear();
    // The receiving host's own sender would know which rails are up; its
    // view matches ours here.
    receiver.poll_tx(now, sender.up_mask(), acks.all());
    for (uint8_t r = 0; r < nrails; ++r)
      for (size_t i = 0; i < acks[r].count; ++i) net.send(false, r, acks[r].frames[i], now);

    for (size_t n = receiver.drain_completions(rdone), i = 0; i < n; ++i) {
      Job* j = job_of(rdone[i].transfer);
      EXPECT_NE(j, nullptr);
      if (!j) continue;
      EXPECT_FALSE(j->recv_done) << "completed twice at the receiver";
      j->recv_done = true;
      EXPECT_EQ(rdone[i].length, j->data.size());
      EXPECT_EQ(rdone[i].region_offset, j->dest);
      ++out.receiver_done;
    }
    for (size_t n = sender.drain_completions(sdone), i = 0; i < n; ++i) {
      Job* j = job_of(sdone[i].id);
      EXPECT_NE(j, nullptr);
      if (!j) continue;
      EXPECT_FALSE(j->sent_done) << "completed twice at the sender";
      EXPECT_TRUE(j->recv_done) << "acknowledged before it landed";
      j->sent_done = true;
      if (sdone[i].status == TransferStatus::ok) ++out.sender_ok;
      ++completed;
      --active;
    }
    // Next event: a delivery, a timer, or a short tick while data waits for window.
    const uint64_t next = std::min({net.next_time(), sender.next_deadline(), now + 20 * kUs});
    now = std::max(next, now + 1);
  }
  out.end_ns = now;
  for (const Job& j : jobs)
    if (!std::equal(j.data.begin(), j.data.end(), region.begin() + static_cast<std::ptrdiff_t>(j.dest))) ++out.corrupt;
  for (uint8_t r = 0; r < nrails; ++r) {
    out.packets[r] = net.sent(r);
    out.status[r] = sender.rail_status(r);
    if (squeezed) out.packets_after_squeeze[r] = net.sent(r) - sent_at_squeeze[r];
  }
  out.sc = sender.counters();
  out.rc = receiver.counters();
  return out;
}

void expect_all_delivered(const Scenario& s, const Outcome& o) {
  // The run's figures, for reading when a test fails or is tuned.
  std::string rails;
  for (size_t r = 0; r < s.rails.size(); ++r)
    rails += " rail" + std::to_string(r) + ": pkts=" + std::to_string(o.packets[r]) +
             " win=" + std::to_string(o.status[r].window_bytes) + " srtt_us=" + std::to_string(o.status[r].srtt_ns / kUs) +
             " up=" + std::to_string(o.status[r].up) + ";";
  ::testing::Test::RecordProperty("summary", rails);
  std::printf("sim %.1f ms, data=%lu retx=%lu lost_sack=%lu lost_rto=%lu requeued=%lu down=%lu up=%lu dup=%lu stale=%lu\n%s\n",
              static_cast<double>(o.end_ns) / kMs, (unsigned long)o.sc.data_packets, (unsigned long)o.sc.retransmits,
              (unsigned long)o.sc.lost_sack, (unsigned long)o.sc.lost_timeout, (unsigned long)o.sc.requeued_rail_down,
              (unsigned long)o.sc.rail_down, (unsigned long)o.sc.rail_up, (unsigned long)o.rc.duplicates,
              (unsigned long)o.rc.stale_transfer, rails.c_str());
  EXPECT_EQ(o.sender_ok, s.transfers);
  EXPECT_EQ(o.receiver_done, s.transfers);
  EXPECT_EQ(o.corrupt, 0u);
}

TEST(Simulation, FourRailsLossReorderingAndALinkDown) {
  Scenario s;
  s.rails.assign(4, RailModel{.jitter_ns = 15 * kUs, .loss = 0.05});
  s.rails[2].delay_ns = 60 * kUs;  // an uneven path: more cross-rail reordering
  s.fail_at = 0.4;
  s.fail_rail = 1;
  const Outcome o = run(s);
  expect_all_delivered(s, o);
  EXPECT_GT(o.sc.lost_sack + o.sc.lost_timeout, 0u);
  EXPECT_GT(o.sc.requeued_rail_down + o.sc.lost_timeout, 0u);
  EXPECT_FALSE(o.status[1].up);
  EXPECT_EQ(o.status[1].reason, DownReason::link);
  // 5 % loss each way: resending should cost about that much, not a storm of
  // spurious retransmissions from cross-rail reordering.
  EXPECT_LT(o.sc.retransmits, o.sc.data_packets / 10);
  for (uint8_t r = 0; r < 4; ++r) EXPECT_GT(o.packets[r], 100u) << "rail " << int{r} << " carried no load";
}

TEST(Simulation, SilentRailFailureDetectedByAckSilenceThenHealed) {
  Scenario s;
  s.rails.assign(3, RailModel{.loss = 0.05});
  s.fail_at = 0.3;
  s.heal_at = 0.6;
  s.fail_rail = 2;
  s.tell_link = false;
  const Outcome o = run(s);
  expect_all_delivered(s, o);
  EXPECT_GE(o.sc.rail_down, 1u);
  EXPECT_GE(o.sc.rail_up, 1u);
  EXPECT_GE(o.sc.probes_sent, 1u);
}

TEST(Simulation, SpraysInProportionToRailCapacity) {
  Scenario s;
  s.rails = {RailModel{.bytes_per_us = 375, .jitter_ns = 2 * kUs}, RailModel{.bytes_per_us = 125, .jitter_ns = 2 * kUs}};
  s.transfers = 60;
  s.max_size = 1 << 20;
  s.concurrent = 8;
  const Outcome o = run(s);
  expect_all_delivered(s, o);
  const double ratio = static_cast<double>(o.packets[0]) / static_cast<double>(o.packets[1]);
  EXPECT_GT(ratio, 2.0);
  EXPECT_LT(ratio, 4.5);
  // Delay-based control keeps the queues short: little loss at the 500 µs buffers.
  EXPECT_LT(o.sc.lost_sack + o.sc.lost_timeout, o.sc.data_packets / 50);
}

TEST(Simulation, LoadLeavesASqueezedRailWithin100ms) {
  // P2 at 1 Gbit/s: two rails behind tbf-like queues (20 ms of buffer), a
  // stream of 4 MiB kv transfers; at 300 ms rail 1 drops to 100 Mbit/s. The
  // goodput must be back to 90 % of what the rails can still carry within
  // 100 ms, and rail 1 must not keep more than its share of the packets.
  Scenario s;
  s.rails.assign(2, RailModel{.bytes_per_us = 125, .delay_ns = 30 * kUs, .jitter_ns = 20 * kUs,
                              .queue_ns = 20 * kMs});
  s.transfers = 120;
  s.max_size = 4 << 20;
  s.concurrent = 8;
  s.squeeze_at_ns = 300 * kMs;
  s.squeeze_rail = 1;
  s.squeeze_bytes_per_us = 12.5;
  const Outcome o = run(s);
  expect_all_delivered(s, o);
  // Payload a packet carries over what the line spends on it (1400 of 1400 + 92 + 28): the most goodput can be.
  const double efficiency = 1400.0 / (1400 + kDataHeaderSize + 28);
  const double left_bytes_per_ms = (125 + 12.5) * 1000 * efficiency;
  size_t reached = 0;
  const size_t from = static_cast<size_t>(s.squeeze_at_ns / kMs);
  std::string timeline;
  for (size_t ms = from; ms + 10 <= o.landed_per_ms.size(); ms += 10) {
    uint64_t bytes = 0;
    for (size_t k = ms; k < ms + 10; ++k) bytes += o.landed_per_ms[k];
    const double share = static_cast<double>(bytes) / 10 / left_bytes_per_ms;
    timeline += std::to_string(static_cast<int>(share * 100)) + " ";
    if (reached == 0 && share >= 0.9) reached = ms - from + 10;
  }
  std::printf("after the squeeze, %% of what is left per 10 ms: %s\nreached 90 %% after %zu ms; rail 1 carried %.1f %% "
              "of the packets after it\n",
              timeline.c_str(), reached,
              100.0 * static_cast<double>(o.packets_after_squeeze[1]) /
                  static_cast<double>(o.packets_after_squeeze[0] + o.packets_after_squeeze[1]));
  EXPECT_GT(reached, 0u) << "never reached 90 % of the remaining capacity";
  EXPECT_LE(reached, 100u);
  EXPECT_LT(static_cast<double>(o.packets_after_squeeze[1]) /
                static_cast<double>(o.packets_after_squeeze[0] + o.packets_after_squeeze[1]),
            0.15)
      << "the squeezed rail has 9 % of the capacity";
}

}  // namespace
}  // namespace railyard::fabric
