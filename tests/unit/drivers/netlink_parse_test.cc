// parse_link_messages on crafted rtnetlink messages, and the live LinkMonitor on lo.
#include <linux/if.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "drivers/nic/link_monitor.h"

namespace railyard::nic {
namespace {

/// Builds netlink messages byte by byte, as the kernel lays them out.
class Builder {
 public:
  Builder& link(uint16_t type, int ifindex, uint32_t flags, uint16_t nl_flags = 0) {
    start_ = bytes_.size();
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = nl_flags;
    append(&h, sizeof h);
    ifinfomsg info{};
    info.ifi_index = ifindex;
    info.ifi_flags = flags;
    append(&info, sizeof info);
    return finish();
  }
  Builder& attr(uint16_t type, const void* data, size_t size) {
    rtattr a{};
    a.rta_type = type;
    a.rta_len = static_cast<uint16_t>(sizeof a + size);
    append(&a, sizeof a);
    append(data, size);
    pad();
    return finish();
  }
  Builder& name(const std::string& n) { return attr(IFLA_IFNAME, n.c_str(), n.size() + 1); }
  Builder& operstate(uint8_t state) { return attr(IFLA_OPERSTATE, &state, 1); }
  Builder& control(uint16_t type, int error) {
    start_ = bytes_.size();
    nlmsghdr h{};
    h.nlmsg_type = type;
    append(&h, sizeof h);
    append(&error, sizeof error);
    return finish();
  }
  Builder& raw(const void* data, size_t size) {
    append(data, size);
    return *this;
  }
  /// Overrides the current message's nlmsg_len.
  Builder& set_length(uint32_t length) {
    std::memcpy(bytes_.data() + start_, &length, sizeof length);
    return *this;
  }
  std::vector<std::byte>& bytes() { return bytes_; }

 private:
  void append(const void* data, size_t size) {
    const auto* p = static_cast<const std::byte*>(data);
    bytes_.insert(bytes_.end(), p, p + size);
  }
  void pad() {
    while (bytes_.size() % 4) bytes_.push_back(std::byte{0});
  }
  Builder& finish() {
    const auto length = static_cast<uint32_t>(bytes_.size() - start_);
    std::memcpy(bytes_.data() + start_, &length, sizeof length);
    return *this;
  }
  std::vector<std::byte> bytes_;
  size_t start_ = 0;
};

NetlinkParseResult parse(Builder& b, std::vector<LinkUpdate>& out) { return parse_link_messages(b.bytes(), out); }

TEST(NetlinkParse, NewLinkWithOperstateUp) {
  Builder b;
  b.link(RTM_NEWLINK, 7, IFF_UP | IFF_RUNNING).name("r0a").operstate(IF_OPER_UP);
  std::vector<LinkUpdate> out;
  const auto r = parse(b, out);
  EXPECT_EQ(r.messages, 1u);
  EXPECT_EQ(r.malformed, 0u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ifindex, 7);
  EXPECT_EQ(out[0].name, "r0a");
  EXPECT_EQ(out[0].operstate, IF_OPER_UP);
  EXPECT_FALSE(out[0].deleted);
  EXPECT_EQ(out[0].state, LinkState::up);
}

TEST(NetlinkParse, OperstateDecidesWhenKnown) {
  Builder b;
  b.link(RTM_NEWLINK, 3, IFF_UP).name("veth0").operstate(IF_OPER_LOWERLAYERDOWN);
  b.link(RTM_NEWLINK, 4, 0).name("veth1").operstate(IF_OPER_DOWN);
  b.link(RTM_NEWLINK, 5, IFF_UP | IFF_RUNNING).name("dorm").operstate(IF_OPER_DORMANT);
  std::vector<LinkUpdate> out;
  const auto r = parse(b, out);
  EXPECT_EQ(r.messages, 3u);
  ASSERT_EQ(out.size(), 3u);
  for (const auto& u : out) EXPECT_EQ(u.state, LinkState::down) << u.name;
}

TEST(NetlinkParse, FlagsDecideWhenOperstateUnknownOrAbsent) {
  Builder b;
  b.link(RTM_NEWLINK, 1, IFF_UP | IFF_RUNNING | IFF_LOOPBACK).name("lo").operstate(IF_OPER_UNKNOWN);
  b.link(RTM_NEWLINK, 2, IFF_UP).name("tun0").operstate(IF_OPER_UNKNOWN);
  b.link(RTM_NEWLINK, 3, IFF_UP | IFF_RUNNING).name("old0");  // no IFLA_OPERSTATE
  std::vector<LinkUpdate> out;
  parse(b, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].state, LinkState::up);
  EXPECT_EQ(out[1].state, LinkState::down);  // up but not running
  EXPECT_EQ(out[2].operstate, -1);
  EXPECT_EQ(out[2].state, LinkState::up);
}

TEST(NetlinkParse, AdminDownWinsOverAStaleOperstate) {
  // `ip link set X down`: the first notification clears IFF_UP while
  // IFLA_OPERSTATE still says UP (linkwatch updates it later).
  Builder b;
  b.link(RTM_NEWLINK, 6, 0).name("r0a").operstate(IF_OPER_UP);
  std::vector<LinkUpdate> out;
  parse(b, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].state, LinkState::down);
}

TEST(NetlinkParse, CarrierIsFresherThanOperstate) {
  // Before linkwatch runs, operstate still shows the old state; IFLA_CARRIER
  // and IFF_UP are read live.
  uint8_t off = 0, on = 1;
  Builder b;
  b.link(RTM_NEWLINK, 2, IFF_UP | IFF_RUNNING).name("a").operstate(IF_OPER_UP).attr(IFLA_CARRIER, &off, 1);
  b.link(RTM_NEWLINK, 3, IFF_UP).name("b").operstate(IF_OPER_LOWERLAYERDOWN).attr(IFLA_CARRIER, &on, 1);
  b.link(RTM_NEWLINK, 4, IFF_UP).name("c").operstate(IF_OPER_DORMANT).attr(IFLA_CARRIER, &on, 1);
  b.link(RTM_NEWLINK, 5, 0).name("d").operstate(IF_OPER_UP).attr(IFLA_CARRIER, &on, 1);
  std::vector<LinkUpdate> out;
  const auto r = parse(b, out);
  EXPECT_EQ(r.malformed, 0u);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].carrier, 0);
  EXPECT_EQ(out[0].state, LinkState::down);
  EXPECT_EQ(out[1].carrier, 1);
  EXPECT_EQ(out[1].state, LinkState::up);
  EXPECT_EQ(out[2].state, LinkState::down);  // dormant: carrier but not usable
  EXPECT_EQ(out[3].state, LinkState::down);  // admin down
}

TEST(NetlinkParse, DelLinkIsDown) {
  Builder b;
  b.link(RTM_DELLINK, 9, IFF_UP | IFF_RUNNING).name("gone0").operstate(IF_OPER_UP);
  std::vector<LinkUpdate> out;
  parse(b, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].deleted);
  EXPECT_EQ(out[0].state, LinkState::down);
}

TEST(NetlinkParse, DoneErrorAckAndInterruptedDump) {
  Builder b;
  b.link(RTM_NEWLINK, 2, IFF_UP | IFF_RUNNING, NLM_F_MULTI | NLM_F_DUMP_INTR).name("a");
  b.control(NLMSG_ERROR, 0);  // an ack: no error
  b.control(NLMSG_DONE, 0);
  std::vector<LinkUpdate> out;
  auto r = parse(b, out);
  EXPECT_TRUE(r.done);
  EXPECT_TRUE(r.dump_interrupted);
  EXPECT_EQ(r.error, 0);
  EXPECT_EQ(r.messages, 3u);

  Builder e;
  e.control(NLMSG_ERROR, -EBUSY);
  r = parse(e, out);
  EXPECT_EQ(r.error, -EBUSY);
  EXPECT_FALSE(r.done);
}

TEST(NetlinkParse, LengthBeyondBufferStopsParsing) {
  Builder b;
  b.link(RTM_NEWLINK, 2, IFF_UP | IFF_RUNNING).name("a");
  b.link(RTM_NEWLINK, 3, IFF_UP | IFF_RUNNING).name("b").set_length(4096);
  std::vector<LinkUpdate> out;
  const auto r = parse(b, out);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(r.malformed, 1u);
}

TEST(NetlinkParse, LengthShorterThanHeaderStopsParsing) {
  Builder b;
  b.link(RTM_NEWLINK, 2, IFF_UP | IFF_RUNNING).set_length(8);
  b.link(RTM_NEWLINK, 3, IFF_UP | IFF_RUNNING);
  std::vector<LinkUpdate> out;
  const auto r = parse(b, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(r.malformed, 1u);
}

TEST(NetlinkParse, BadAttributeSkipsOnlyThatMessage) {
  Builder b;
  b.link(RTM_NEWLINK, 2, IFF_UP | IFF_RUNNING);
  rtattr overlong{.rta_len = 200, .rta_type = IFLA_IFNAME};
  b.raw(&overlong, sizeof overlong).raw("abcd", 4);
  b.set_length(static_cast<uint32_t>(b.bytes().size()));
  b.link(RTM_NEWLINK, 3, IFF_UP | IFF_RUNNING).name("ok");
  std::vector<LinkUpdate> out;
  const auto r = parse(b, out);
  EXPECT_EQ(r.malformed, 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name, "ok");
}

TEST(NetlinkParse, RejectsBadNamesShortBodiesAndBadIndexes) {
  Builder b;
  b.link(RTM_NEWLINK, 2, IFF_UP).attr(IFLA_IFNAME, "0123456789abcdefXYZ", 19);  // >= IFNAMSIZ, no NUL
  b.link(RTM_NEWLINK, 2, IFF_UP).attr(IFLA_IFNAME, "", 1);                     // empty name
  b.link(RTM_NEWLINK, 2, IFF_UP).attr(IFLA_OPERSTATE, nullptr, 0);             // empty operstate
  b.link(RTM_NEWLINK, 0, IFF_UP);                                              // ifindex 0
  b.control(RTM_NEWLINK, 5);                                                   // body shorter than ifinfomsg
  b.control(NLMSG_ERROR, 0).set_length(NLMSG_HDRLEN + 2);                      // error without its code
  b.raw("\x01\x02\x03", 3);                                                    // trailing fragment
  std::vector<LinkUpdate> out;
  const auto r = parse(b, out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(r.malformed, 7u);
}

TEST(NetlinkParse, NameWithoutNulUsesAttributeLength) {
  Builder b;
  b.link(RTM_NEWLINK, 2, IFF_UP | IFF_RUNNING).attr(IFLA_IFNAME, "eth1", 4);
  std::vector<LinkUpdate> out;
  parse(b, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name, "eth1");
}

TEST(NetlinkParse, UnalignedBufferAndIgnoredTypes) {
  Builder b;
  b.control(NLMSG_NOOP, 0);
  b.link(RTM_NEWLINK, 11, IFF_UP | IFF_RUNNING).name("r1b").operstate(IF_OPER_UP);
  std::vector<std::byte> shifted(b.bytes().size() + 1);
  std::memcpy(shifted.data() + 1, b.bytes().data(), b.bytes().size());
  std::vector<LinkUpdate> out;
  const auto r = parse_link_messages(std::span(shifted).subspan(1), out);
  EXPECT_EQ(r.messages, 2u);
  EXPECT_EQ(r.malformed, 0u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].name, "r1b");
}

TEST(NetlinkParse, EmptyBufferIsNothing) {
  std::vector<LinkUpdate> out;
  const auto r = parse_link_messages({}, out);
  EXPECT_EQ(r.messages, 0u);
  EXPECT_EQ(r.malformed, 0u);
}

TEST(LinkMonitor, SeesLoopbackUpAtStartAndPollDoesNotBlock) {
  LinkMonitor monitor;
  EXPECT_GE(monitor.fd(), 0);
  EXPECT_EQ(monitor.state_of("lo"), LinkState::up);
  EXPECT_EQ(monitor.state_of("no-such-if"), LinkState::unknown);
  EXPECT_EQ(monitor.state(1).load(), LinkState::up);  // lo is ifindex 1 in every namespace
  EXPECT_EQ(monitor.state(999999).load(), LinkState::unknown);
  EXPECT_EQ(monitor.poll(), 0u);
  EXPECT_GE(monitor.stats().dumps, 1u);

  // refresh() asks about watched interfaces only (lo, and 999999, which the
  // kernel answers with ENODEV, quietly); the answers come through poll().
  EXPECT_EQ(monitor.refresh(), 2u);
  const auto before = monitor.stats().messages;
  for (int i = 0; i < 100 && monitor.stats().messages < before + 2; ++i) {
    pollfd p{.fd = monitor.fd(), .events = POLLIN, .revents = 0};
    ::poll(&p, 1, 10);
    monitor.poll();
  }
  EXPECT_GE(monitor.stats().messages, before + 2);
  EXPECT_EQ(monitor.state(1).load(), LinkState::up);
  EXPECT_EQ(monitor.stats().malformed, 0u);
}

}  // namespace
}  // namespace railyard::nic
