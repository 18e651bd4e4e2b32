// PeerChannel: two ends joined by an in-memory link that can drop, reorder
// and tamper; messages must arrive whole, once, in order, and only from the
// session's holder of the key.
#include "fabric/peer_channel.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <random>
#include <string>
#include <vector>

namespace railyard::fabric {
namespace {

using Bytes = std::vector<std::byte>;

Bytes psk(char fill) { return Bytes(32, static_cast<std::byte>(fill)); }
Bytes text(const std::string& s) {
  Bytes b(s.size());
  std::memcpy(b.data(), s.data(), s.size());
  return b;
}
std::string str(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

struct End {
  PeerChannel channel;
  std::vector<std::string> delivered;
  std::deque<Bytes> outbox;  // datagrams emitted, waiting for the link
  ChannelReceive last = ChannelReceive::fragment;

  End(const Bytes& key, uint64_t self, uint64_t peer, PeerChannelConfig config) : channel(key, self, peer, config) {}
  void poll(uint64_t now) {
    channel.poll(now, [&](std::span<const std::byte> d) { outbox.emplace_back(d.begin(), d.end()); });
  }
  ChannelReceive receive(const Bytes& datagram, uint64_t now) {
    Packet p;
    EXPECT_EQ(parse(datagram, p), ParseResult::ok);
    last = channel.on_datagram(p, now, [&](std::span<const std::byte> m) { delivered.push_back(str(m)); });
    return last;
  }
};

struct Link {
  End a, b;
  uint64_t now = 1'000'000;
  Link(PeerChannelConfig config = {}, const Bytes& key_a = psk('k'), const Bytes& key_b = psk('k'))
      : a(key_a, 1, 2, config), b(key_b, 2, 1, config) {
    a.channel.reset(77);
    b.channel.reset(77);
  }
  // Moves every queued datagram across; `drop(i)` decides the fate of the i-th.
  template <class Drop>
  void step(Drop drop) {
    a.poll(now);
    b.poll(now);
    size_t i = 0;
    while (!a.outbox.empty()) {
      Bytes d = std::move(a.outbox.front());
      a.outbox.pop_front();
      if (!drop(i++)) b.receive(d, now);
    }
    while (!b.outbox.empty()) {
      Bytes d = std::move(b.outbox.front());
      b.outbox.pop_front();
      if (!drop(i++)) a.receive(d, now);
    }
    now += 5'000'000;
  }
  void step() {
    step([](size_t) { return false; });
  }
};

TEST(PeerChannel, DeliversSmallAndFragmentedMessagesInOrder) {
  PeerChannelConfig config;
  config.max_fragment = 100;
  Link link(config);
  std::string big(1000, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_EQ(link.a.channel.send(text("hello"), link.now), ChannelSend::ok);
  ASSERT_EQ(link.a.channel.send(text(big), link.now), ChannelSend::ok);
  ASSERT_EQ(link.a.channel.send(text("after"), link.now), ChannelSend::ok);
  for (int i = 0; i < 5; ++i) link.step();
  EXPECT_EQ(link.b.delivered, (std::vector<std::string>{"hello", big, "after"}));
  EXPECT_EQ(link.a.channel.backlog(), 0u);
  EXPECT_EQ(link.a.channel.counters().fragments_resent, 0u);
}

TEST(PeerChannel, SurvivesHeavyLossWithoutDuplicates) {
  PeerChannelConfig config;
  config.max_fragment = 64;
  config.window = 8;
  Link link(config);
  std::mt19937 rng(7);
  std::vector<std::string> sent;
  for (int m = 0; m < 50; ++m) {
    sent.push_back(std::string(static_cast<size_t>(1 + (m * 37) % 300), static_cast<char>('A' + m % 26)) +
                   std::to_string(m));
    ASSERT_EQ(link.a.channel.send(text(sent.back()), link.now), ChannelSend::ok);
  }
  for (int i = 0; i < 2000 && link.b.delivered.size() < sent.size(); ++i)
    link.step([&](size_t) { return rng() % 10 < 3; });  // 30 % of datagrams lost, both ways
  EXPECT_EQ(link.b.delivered, sent);
  EXPECT_GT(link.a.channel.counters().fragments_resent, 0u);
}

TEST(PeerChannel, RefusesWrongKeyTamperingAndOtherSessions) {
  Link link({}, psk('k'), psk('z'));
  ASSERT_EQ(link.a.channel.send(text("secret"), link.now), ChannelSend::ok);
  link.a.poll(link.now);
  ASSERT_EQ(link.a.outbox.size(), 1u);
  EXPECT_EQ(link.b.receive(link.a.outbox.front(), link.now), ChannelReceive::bad_tag);

  Link same;
  ASSERT_EQ(same.a.channel.send(text("secret"), same.now), ChannelSend::ok);
  same.a.poll(same.now);
  Bytes tampered = same.a.outbox.front();
  tampered.back() ^= std::byte{1};
  EXPECT_EQ(same.b.receive(tampered, same.now), ChannelReceive::bad_tag);
  Bytes stamped = same.a.outbox.front();  // the header is covered too (send_ts, bytes 24-31)
  stamped[24] ^= std::byte{1};
  EXPECT_EQ(same.b.receive(stamped, same.now), ChannelReceive::bad_tag);
  same.b.channel.reset(78);  // the peer restarted: a new handshake, a new session
  EXPECT_EQ(same.b.receive(same.a.outbox.front(), same.now), ChannelReceive::stale_session);
  EXPECT_TRUE(same.b.delivered.empty());
  EXPECT_EQ(same.b.channel.counters().bad_tag, 2u);
  EXPECT_EQ(same.b.channel.counters().stale_session, 1u);
  EXPECT_EQ(same.b.channel.counters().out_of_order, 0u);
}

TEST(PeerChannel, RefusesItsOwnDatagramsReflectedBack) {
  // Each direction has its own key: a fragment a sent, bounced back to a by
  // someone on the rail, is not a message from b.
  Link link;
  ASSERT_EQ(link.a.channel.send(text("offer"), link.now), ChannelSend::ok);
  link.a.poll(link.now);
  ASSERT_EQ(link.a.outbox.size(), 1u);
  EXPECT_EQ(link.a.receive(link.a.outbox.front(), link.now), ChannelReceive::bad_tag);
  EXPECT_TRUE(link.a.delivered.empty());
  EXPECT_EQ(link.b.receive(link.a.outbox.front(), link.now), ChannelReceive::fragment);
  EXPECT_EQ(link.b.delivered, std::vector<std::string>{"offer"});
}

TEST(PeerChannel, CountsOutOfOrderApartFromRefusals) {
  Link link;
  ASSERT_EQ(link.a.channel.send(text("first"), link.now), ChannelSend::ok);
  ASSERT_EQ(link.a.channel.send(text("second"), link.now), ChannelSend::ok);
  link.a.poll(link.now);
  ASSERT_EQ(link.a.outbox.size(), 2u);
  EXPECT_EQ(link.b.receive(link.a.outbox[1], link.now), ChannelReceive::out_of_order);  // the first was lost
  const auto& c = link.b.channel.counters();
  EXPECT_EQ(c.out_of_order, 1u);
  EXPECT_EQ(c.bad_tag + c.stale_session + c.too_large, 0u) << "a lost fragment is no refusal";
}

TEST(PeerChannel, ReplayedFragmentIsNotDeliveredTwice) {
  Link link;
  ASSERT_EQ(link.a.channel.send(text("once"), link.now), ChannelSend::ok);
  link.a.poll(link.now);
  const Bytes copy = link.a.outbox.front();
  link.step();
  EXPECT_EQ(link.b.receive(copy, link.now), ChannelReceive::duplicate);
  EXPECT_EQ(link.b.delivered, std::vector<std::string>{"once"});
}

TEST(PeerChannel, SessionChangeDropsWhatWasQueued) {
  Link link;
  EXPECT_EQ(PeerChannel(psk('k'), 1, 2).send(text("x"), 0), ChannelSend::no_session);
  ASSERT_EQ(link.a.channel.send(text("one"), link.now), ChannelSend::ok);
  ASSERT_EQ(link.a.channel.send(text("two"), link.now), ChannelSend::ok);
  EXPECT_EQ(link.a.channel.reset(90), 2u);
  EXPECT_EQ(link.a.channel.backlog(), 0u);
  EXPECT_EQ(link.a.channel.counters().dropped, 2u);
}

TEST(PeerChannel, RefusesOversizedAndOverQueuedSends) {
  PeerChannelConfig config;
  config.max_message = 100;
  config.max_queued_bytes = 150;
  Link link(config);
  EXPECT_EQ(link.a.channel.send(Bytes(101), link.now), ChannelSend::too_large);
  EXPECT_EQ(link.a.channel.send(Bytes(), link.now), ChannelSend::too_large);
  EXPECT_EQ(link.a.channel.send(Bytes(100), link.now), ChannelSend::ok);
  EXPECT_EQ(link.a.channel.send(Bytes(60), link.now), ChannelSend::queue_full);
}

TEST(PeerChannel, DeadlineFollowsPendingWork) {
  Link link;
  EXPECT_EQ(link.a.channel.next_deadline(), UINT64_MAX);
  ASSERT_EQ(link.a.channel.send(text("x"), link.now), ChannelSend::ok);
  EXPECT_EQ(link.a.channel.next_deadline(), 0u);
  link.a.poll(link.now);
  link.a.outbox.clear();  // lost
  EXPECT_EQ(link.a.channel.next_deadline(), link.now + PeerChannelConfig{}.retransmit_ns);
  link.a.poll(link.now + PeerChannelConfig{}.retransmit_ns);
  EXPECT_EQ(link.a.outbox.size(), 1u);
}

TEST(PeerChannelWire, ParserChecksMessageShapes) {
  auto datagram = [](uint8_t flags, size_t body) {
    Bytes d(kMessageHeaderSize + body);
    encode_header(Header{.type = PacketType::message, .flags = flags, .session = 1, .seq = 1,
                         .body_len = static_cast<uint32_t>(body)},
                  d);
    return d;
  };
  Packet p;
  EXPECT_EQ(parse(datagram(0, kTagSize + 1), p), ParseResult::ok);
  EXPECT_EQ(parse(datagram(flag::kMore, kTagSize + 1), p), ParseResult::ok);
  EXPECT_EQ(parse(datagram(flag::kMessageAck, kTagSize), p), ParseResult::ok);
  EXPECT_EQ(parse(datagram(0, kTagSize), p), ParseResult::bad_body);             // a fragment without payload
  EXPECT_EQ(parse(datagram(flag::kMessageAck, kTagSize + 1), p), ParseResult::bad_body);  // an ACK with payload
  EXPECT_EQ(parse(datagram(flag::kMessageAck | flag::kMore, kTagSize), p), ParseResult::bad_flags);
  EXPECT_EQ(parse(datagram(0x10, kTagSize + 1), p), ParseResult::bad_flags);
}

}  // namespace
}  // namespace railyard::fabric
