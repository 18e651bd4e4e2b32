#include "fabric/congestion.h"

#include <gtest/gtest.h>

#include "fabric/rtt.h"

namespace railyard::fabric {
namespace {

constexpr uint64_t kUs = 1000;

TEST(Rtt, Rfc6298EstimatorFloorAndBackoff) {
  RttEstimator r;
  EXPECT_FALSE(r.has_sample());
  EXPECT_EQ(r.rto_ns(), RttConfig{}.initial_rto_ns);
  r.sample(100 * kUs);
  EXPECT_EQ(r.srtt_ns(), 100 * kUs);
  EXPECT_EQ(r.rttvar_ns(), 50 * kUs);
  EXPECT_EQ(r.rto_ns(), 5'000'000u);  // 100 + 4*50 = 300 µs, raised to the 5 ms floor
  r.sample(200 * kUs);
  EXPECT_EQ(r.rttvar_ns(), (3 * 50 * kUs + 100 * kUs) / 4);
  EXPECT_EQ(r.srtt_ns(), (7 * 100 * kUs + 200 * kUs) / 8);
  EXPECT_EQ(r.min_rtt_ns(), 100 * kUs);
  RttEstimator slow;
  slow.sample(2'000 * kUs);
  EXPECT_EQ(slow.rto_ns(), 2'000 * kUs + 4 * 1'000 * kUs);  // above the floor
  slow.backoff();
  EXPECT_EQ(slow.rto_ns(), 12'000 * kUs);
  EXPECT_EQ(slow.base_rto_ns(), 6'000 * kUs);
  for (int i = 0; i < 20; ++i) slow.backoff();
  EXPECT_EQ(slow.rto_ns(), RttConfig{}.max_rto_ns);
  slow.sample(2'000 * kUs);  // a fresh sample clears the backoff
  EXPECT_LT(slow.rto_ns(), 12'000 * kUs);
}

CongestionConfig config() {
  return CongestionConfig{.packet_bytes = 1000, .initial_window_bytes = 20'000, .max_window_bytes = 1'000'000};
}

TEST(Congestion, GrowsAdditivelyUnderTarget) {
  CongestionControl cc(config());
  const uint64_t w0 = cc.window_bytes();
  uint64_t now = 0;
  // One window's worth of ACKs at the base RTT: about one packet more per RTT.
  for (int i = 0; i < 20; ++i) {
    cc.on_sent(1000);
    cc.on_acked(1000, 50 * kUs, false, now += 2 * kUs);
  }
  EXPECT_GT(cc.window_bytes(), w0 + 900);
  EXPECT_LT(cc.window_bytes(), w0 + 1100);
  EXPECT_EQ(cc.inflight_bytes(), 0u);
  EXPECT_EQ(cc.decreases(), 0u);
}

TEST(Congestion, ShrinksInProportionToDelayOvershootOncePerRtt) {
  CongestionControl cc(config());
  uint64_t now = 1'000'000;
  cc.on_acked(0, 50 * kUs, false, now);  // base RTT 50 µs -> target 150 µs
  EXPECT_EQ(cc.target_delay_ns(), 150 * kUs);
  const double w0 = static_cast<double>(cc.window_bytes());
  cc.on_acked(1000, 300 * kUs, false, now += kUs);  // overshoot (300-150)/300 = 0.5 -> ×(1-0.8·0.5) = 0.6
  EXPECT_NEAR(static_cast<double>(cc.window_bytes()), w0 * 0.6, 2);
  const uint64_t w1 = cc.window_bytes();
  cc.on_acked(1000, 300 * kUs, false, now += kUs);  // within the same RTT: no second cut
  EXPECT_EQ(cc.window_bytes(), w1);
  cc.on_acked(1000, 1'000 * kUs, false, now += 400 * kUs);  // huge overshoot: capped at max_mdf 0.5
  EXPECT_NEAR(static_cast<double>(cc.window_bytes()), static_cast<double>(w1) * 0.5, 2);
  EXPECT_EQ(cc.decreases(), 2u);
  // A slightly high delay cuts little.
  const uint64_t w2 = cc.window_bytes();
  cc.on_acked(1000, 160 * kUs, false, now += 2'000 * kUs);
  EXPECT_GT(cc.window_bytes(), w2 * 9 / 10);
  EXPECT_LT(cc.window_bytes(), w2);
}

TEST(Congestion, EcnLossAndTimeout) {
  CongestionControl cc(config());
  uint64_t now = 1'000'000;
  cc.on_acked(0, 50 * kUs, false, now);
  const double w0 = static_cast<double>(cc.window_bytes());
  cc.on_acked(1000, 50 * kUs, true, now += kUs);  // delay fine, but marked
  EXPECT_NEAR(static_cast<double>(cc.window_bytes()), w0 * 0.7, 2);
  const uint64_t w1 = cc.window_bytes();
  cc.on_sent(5000);
  cc.on_loss(1000, now += 100 * kUs);
  EXPECT_EQ(cc.window_bytes(), w1 / 2);
  EXPECT_EQ(cc.inflight_bytes(), 4000u);
  cc.on_timeout(1000, now += 1);
  EXPECT_EQ(cc.window_bytes(), 1000u);  // one packet
  EXPECT_EQ(cc.inflight_bytes(), 3000u);
  cc.release(5000);
  EXPECT_EQ(cc.inflight_bytes(), 0u);
  EXPECT_TRUE(cc.can_send(1000));
  cc.on_sent(1000);
  EXPECT_FALSE(cc.can_send(1000));
  cc.reset_window();
  EXPECT_EQ(cc.window_bytes(), 20'000u);
}

TEST(Congestion, WindowBoundsAndCanSendWhenEmpty) {
  CongestionControl cc(config());
  cc.on_sent(19'500);
  EXPECT_TRUE(cc.can_send(500));
  EXPECT_FALSE(cc.can_send(501));
  cc.release(19'500);
  EXPECT_TRUE(cc.can_send(1'000'000'000));  // an idle rail always sends one packet
  uint64_t now = 0;
  for (int i = 0; i < 600'000; ++i) cc.on_acked(1000, 10 * kUs, false, now += kUs);
  EXPECT_EQ(cc.window_bytes(), 1'000'000u);
  EXPECT_GT(cc.delivery_rate_Bps(), 900'000'000u);  // 1000 B per µs
  EXPECT_LT(cc.delivery_rate_Bps(), 1'100'000'000u);
}

}  // namespace
}  // namespace railyard::fabric
