// UdpRail on loopback: two rails (127.0.0.x, ports the kernel picked) trade bursts.
#include "drivers/nic/udp/udp_rail.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include "drivers/nic/link_monitor.h"

namespace railyard::nic {
namespace {

using ::testing::HasSubstr;

/// A plain UDP socket on a loopback address, for probing a rail from outside.
class Probe {
 public:
  explicit Probe(const char* address, int tos = -1) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, address, &a.sin_addr);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t length = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &length);
    port_ = ntohs(a.sin_port);
    if (tos >= 0) ::setsockopt(fd_, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    const int on = 1;
    ::setsockopt(fd_, IPPROTO_IP, IP_RECVTOS, &on, sizeof on);
  }
  ~Probe() { ::close(fd_); }
  uint16_t port() const { return port_; }
  void send_to(const char* address, uint16_t port, std::string_view bytes) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, address, &to.sin_addr);
    ASSERT_EQ(::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
              static_cast<ssize_t>(bytes.size()));
  }
  /// Receives one datagram (1 s at most); returns its TOS byte.
  std::optional<int> receive_tos() {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&p, 1, 1000) != 1) return std::nullopt;
    char data[2048];
    alignas(cmsghdr) char control[64];
    iovec iov{.iov_base = data, .iov_len = sizeof data};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (::recvmsg(fd_, &msg, 0) < 0) return std::nullopt;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) return static_cast<int>(*CMSG_DATA(c));
    }
    return -1;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

uint16_t free_port(const char* address) { return Probe(address).port(); }

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }
std::string text_of(std::span<const std::byte> b) { return std::string(reinterpret_cast<const char*>(b.data()), b.size()); }

/// Receives until `want` frames arrived or 2 s passed; copies them out.
struct Received {
  std::string bytes;
  PeerSlot peer;
  bool ce;
};
std::vector<Received> receive(UdpRail& rail, size_t want) {
  std::vector<Received> got;
  std::array<RxFrame, 64> frames{};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    pollfd p{.fd = rail.wait_fd(), .events = POLLIN, .revents = 0};
    ::poll(&p, 1, 100);
    const size_t n = rail.rx_burst(frames);
    for (size_t i = 0; i < n; ++i) got.push_back({text_of(frames[i].bytes), frames[i].peer, frames[i].ecn_ce});
  }
  return got;
}

constexpr const char* kA = "127.0.0.11";
constexpr const char* kB = "127.0.0.12";
constexpr PeerSlot kSlotOfB = 3;  // A's name for B
constexpr PeerSlot kSlotOfA = 7;  // B's name for A

struct Pair {
  explicit Pair(bool gso = true, UdpSyscalls calls = {}) {
    const uint16_t port_a = free_port(kA), port_b = free_port(kB);
    a.emplace(UdpRailConfig{.name = "ra",
                            .interface = "lo",
                            .address = kA,
                            .port = port_a,
                            .peers = {{.slot = kSlotOfB, .address = kB, .port = port_b}},
                            .burst = 32,
                            .gso = gso},
              nullptr, calls);
    b.emplace(UdpRailConfig{.name = "rb",
                            .interface = "lo",
                            .address = kB,
                            .port = port_b,
                            .peers = {{.slot = kSlotOfA, .address = kA, .port = port_a}},
                            .gso = gso});
  }
  std::optional<UdpRail> a, b;
};

class UdpRailExchange : public ::testing::TestWithParam<bool> {};

TEST_P(UdpRailExchange, GathersHeaderAndPayloadAndMapsPeers) {
  Pair pair(GetParam());
  UdpRail& a = *pair.a;
  UdpRail& b = *pair.b;
  EXPECT_EQ(a.driver(), "udp");
  EXPECT_EQ(a.name(), "ra");
  EXPECT_EQ(a.max_datagram(), 65507u);  // lo: MTU 65536, capped at the largest UDP payload
  EXPECT_EQ(a.link_state(), LinkState::unknown);  // no monitor given

  // Same-size frames (one GSO super-datagram when on), then a shorter last one.
  std::vector<std::string> headers, payloads;
  for (int i = 0; i < 10; ++i) {
    headers.push_back(fmt::format("H{:02}|", i));
    payloads.push_back(i < 9 ? std::string(1000, static_cast<char>('a' + i)) : std::string("tail"));
  }
  std::vector<TxFrame> frames;
  for (int i = 0; i < 10; ++i) frames.push_back({bytes_of(headers[i]), bytes_of(payloads[i]), kSlotOfB});
  ASSERT_EQ(a.tx_burst(frames), 10u);
  EXPECT_EQ(a.counters().tx_frames, 10u);
  EXPECT_EQ(a.counters().tx_bytes, 9u * 1004 + 8);
  EXPECT_EQ(a.stats().tx_syscalls, 1u);
  EXPECT_EQ(a.stats().tx_gso_messages, GetParam() ? 1u : 0u);

  const auto got = receive(b, 10);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(got[i].bytes, headers[i] + payloads[i]) << i;
    EXPECT_EQ(got[i].peer, kSlotOfA);
    EXPECT_FALSE(got[i].ce);
  }
  const auto c = b.counters();
  EXPECT_EQ(c.rx_frames, 10u);
  EXPECT_EQ(c.rx_bytes, 9u * 1004 + 8);
  EXPECT_EQ(c.rx_unknown_source, 0u);
  // On loopback a GSO super-datagram reaches a GRO socket whole: one receive, cut here.
  EXPECT_TRUE(b.stats().gro_active);
  EXPECT_EQ(b.stats().rx_gro_messages, GetParam() ? 1u : 0u);

  // And back: B to A.
  const std::string h = "reply", p = "!";
  const TxFrame back{bytes_of(h), bytes_of(p), kSlotOfA};
  ASSERT_EQ(b.tx_burst(std::span(&back, 1)), 1u);
  const auto reply = receive(a, 1);
  ASSERT_EQ(reply.size(), 1u);
  EXPECT_EQ(reply[0].bytes, "reply!");
  EXPECT_EQ(reply[0].peer, kSlotOfB);
}

TEST(UdpRail, ACoalescedReceiveLargerThanTheCallersBurstComesOutOverSeveralCalls) {
  Pair pair;
  std::vector<std::string> payloads;
  std::vector<TxFrame> frames;
  const std::string header = "H|";
  for (int i = 0; i < 20; ++i) payloads.push_back(std::string(500, static_cast<char>('A' + i)));
  for (const auto& p : payloads) frames.push_back({bytes_of(header), bytes_of(p), kSlotOfB});
  ASSERT_EQ(pair.a->tx_burst(frames), 20u);
  std::vector<std::string> got;
  std::array<RxFrame, 3> small{};  // fewer than one receive holds
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (got.size() < 20 && std::chrono::steady_clock::now() < deadline) {
    pollfd p{.fd = pair.b->wait_fd(), .events = POLLIN, .revents = 0};
    ::poll(&p, 1, 20);
    const size_t n = pair.b->rx_burst(small);
    EXPECT_LE(n, small.size());
    for (size_t i = 0; i < n; ++i) got.push_back(text_of(small[i].bytes));
  }
  ASSERT_EQ(got.size(), 20u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], header + payloads[i]) << i;
  EXPECT_EQ(pair.b->stats().rx_gro_messages, 1u);
  EXPECT_EQ(pair.b->stats().rx_syscalls, 1u) << "one receive for all twenty";
}

INSTANTIATE_TEST_SUITE_P(Gso, UdpRailExchange, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) { return p.param ? "gso" : "no_gso"; });

TEST(UdpRail, UnknownSourcesAreDeliveredAndCounted) {
  Pair pair;
  UdpRail& b = *pair.b;
  Probe stranger("127.0.0.13");
  stranger.send_to(kB, b.local_port(), "who");
  Probe same_address_other_port(kA);  // A's address but not A's port: not A
  same_address_other_port.send_to(kB, b.local_port(), "me?");
  const auto got = receive(b, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].peer, kUnknownPeer);
  EXPECT_EQ(got[1].peer, kUnknownPeer);
  EXPECT_EQ(b.counters().rx_unknown_source, 2u);
}

TEST(UdpRail, ReportsCongestionExperienced) {
  Pair pair;
  UdpRail& b = *pair.b;
  Probe marked("127.0.0.14", /*tos=*/0x03);  // CE
  Probe ect("127.0.0.14", /*tos=*/0x02);     // ECT(0), not marked
  marked.send_to(kB, b.local_port(), "ce");
  ect.send_to(kB, b.local_port(), "ect");
  auto got = receive(b, 2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0].ce);
  EXPECT_FALSE(got[1].ce);
  EXPECT_EQ(b.counters().rx_ecn_ce, 1u);
}

TEST(UdpRail, SendsEct0WithDscp) {
  Probe listener("127.0.0.15");
  UdpRail rail(UdpRailConfig{.name = "r",
                             .interface = "lo",
                             .address = kA,
                             .port = free_port(kA),
                             .peers = {{.slot = 0, .address = "127.0.0.15", .port = listener.port()}},
                             .dscp = 10});
  const std::string h = "x";
  const TxFrame f{bytes_of(h), {}, 0};
  ASSERT_EQ(rail.tx_burst(std::span(&f, 1)), 1u);
  EXPECT_EQ(listener.receive_tos(), (10 << 2) | 0x02);
}

TEST(UdpRail, UnsendableFramesAreDroppedAtTheHeadOnly) {
  Pair pair(/*gso=*/false);
  UdpRail& a = *pair.a;
  const std::string h = "h";
  const std::string huge(70000, 'x');
  const std::vector<TxFrame> frames = {
      {bytes_of(h), {}, 99},                // no such peer
      {bytes_of(h), bytes_of(huge), kSlotOfB},  // larger than max_datagram
      {bytes_of(h), {}, kSlotOfB},
      {bytes_of(h), {}, kUnknownPeer},  // not at the head: left for the next call
      {bytes_of(h), {}, kSlotOfB},
  };
  EXPECT_EQ(a.tx_burst(frames), 3u);
  EXPECT_EQ(a.counters().tx_errors, 2u);
  EXPECT_EQ(a.counters().tx_frames, 1u);
  EXPECT_EQ(a.tx_burst(std::span(frames).subspan(3)), 2u);
  EXPECT_EQ(a.counters().tx_errors, 3u);
  EXPECT_EQ(a.counters().tx_frames, 2u);
}

TEST(UdpRail, BurstIsCappedByConfig) {
  Pair pair;
  UdpRail& a = *pair.a;  // burst 32
  const std::string h = "h";
  std::vector<TxFrame> frames(50, TxFrame{bytes_of(h), {}, kSlotOfB});
  EXPECT_EQ(a.tx_burst(frames), 32u);
  EXPECT_EQ(receive(*pair.b, 32).size(), 32u);
}

// A scripted sendmmsg: loopback never pushes back on a sender (skbs are
// orphaned at once, see the integration test for a real full queue), so the
// would-block and error paths are driven here. It also checks the gather:
// the payload iovec must point at the caller's payload, never a copy.
struct Script {
  int accept = 0;      // messages the next call takes
  int error = EAGAIN;  // errno when it takes none
  std::vector<const void*> payload_bases;
  std::vector<size_t> iov_counts;
  int calls = 0;
};
Script script;
int scripted_sendmmsg(int, mmsghdr* msgs, unsigned count, int) {
  ++script.calls;
  for (unsigned i = 0; i < count; ++i) {
    script.iov_counts.push_back(msgs[i].msg_hdr.msg_iovlen);
    for (size_t k = 1; k < msgs[i].msg_hdr.msg_iovlen; k += 2) script.payload_bases.push_back(msgs[i].msg_hdr.msg_iov[k].iov_base);
  }
  const int take = std::min<int>(script.accept, static_cast<int>(count));
  if (take == 0) {
    errno = script.error;
    return -1;
  }
  return take;
}

TEST(UdpRail, WouldBlockIsCountedAndNothingIsTaken) {
  script = {};
  Pair pair(/*gso=*/false, UdpSyscalls{.sendmmsg = &scripted_sendmmsg});
  UdpRail& a = *pair.a;
  const std::string h = "hdr";
  const std::string payload(100, 'p');
  std::vector<TxFrame> frames(8, TxFrame{bytes_of(h), bytes_of(payload), kSlotOfB});

  script.accept = 5;  // the socket buffer fills after five
  EXPECT_EQ(a.tx_burst(frames), 5u);
  EXPECT_EQ(a.counters().tx_frames, 5u);
  EXPECT_EQ(a.counters().tx_would_block, 0u);
  ASSERT_EQ(script.payload_bases.size(), 8u);
  for (const void* base : script.payload_bases) EXPECT_EQ(base, payload.data());
  for (size_t n : script.iov_counts) EXPECT_EQ(n, 2u);

  script.accept = 0;  // full: EAGAIN
  EXPECT_EQ(a.tx_burst(std::span(frames).subspan(5)), 0u);
  EXPECT_EQ(a.counters().tx_would_block, 3u);
  script.error = ENOBUFS;  // qdisc full: the same
  EXPECT_EQ(a.tx_burst(std::span(frames).subspan(5)), 0u);
  EXPECT_EQ(a.counters().tx_would_block, 6u);
  EXPECT_EQ(a.counters().tx_errors, 0u);
  EXPECT_EQ(script.calls, 3);  // one syscall per burst
}

TEST(UdpRail, HardErrorDropsTheFirstDatagramOnly) {
  script = {};
  Pair pair(/*gso=*/false, UdpSyscalls{.sendmmsg = &scripted_sendmmsg});
  const std::string h = "hdr";
  std::vector<TxFrame> frames(4, TxFrame{bytes_of(h), {}, kSlotOfB});
  script.error = EMSGSIZE;
  EXPECT_EQ(pair.a->tx_burst(frames), 1u);
  EXPECT_EQ(pair.a->counters().tx_errors, 1u);
  EXPECT_EQ(pair.a->counters().tx_would_block, 0u);
}

TEST(UdpRail, GsoRefusedFallsBackToSingleDatagrams) {
  script = {};
  Pair pair(/*gso=*/true, UdpSyscalls{.sendmmsg = &scripted_sendmmsg});
  UdpRail& a = *pair.a;
  const std::string h = "hdr";
  const std::string payload(500, 'p');
  std::vector<TxFrame> frames(6, TxFrame{bytes_of(h), bytes_of(payload), kSlotOfB});
  EXPECT_TRUE(a.stats().gso_active);
  script.error = EIO;  // a device without checksum offload
  EXPECT_EQ(a.tx_burst(frames), 0u);
  EXPECT_EQ(script.iov_counts.back(), 12u);  // one message, six segments
  EXPECT_FALSE(a.stats().gso_active);
  EXPECT_EQ(a.counters().tx_errors, 0u);
  script.accept = 64;
  EXPECT_EQ(a.tx_burst(frames), 6u);
  EXPECT_EQ(script.iov_counts.back(), 2u);
  EXPECT_EQ(a.counters().tx_frames, 6u);
}

TEST(UdpRail, GsoGroupsOnlySameSizeFramesToOnePeer) {
  script = {};
  script.accept = 64;
  const uint16_t port_c = free_port("127.0.0.16");
  UdpRail a(UdpRailConfig{.name = "ra",
                          .interface = "lo",
                          .address = kA,
                          .port = free_port(kA),
                          .peers = {{.slot = 1, .address = kB, .port = 9},
                                    {.slot = 2, .address = "127.0.0.16", .port = port_c}}},
            nullptr, UdpSyscalls{.sendmmsg = &scripted_sendmmsg});
  const std::string h = "hdr", big(100, 'b'), small(10, 's');
  const std::vector<TxFrame> frames = {
      {bytes_of(h), bytes_of(big), 1}, {bytes_of(h), bytes_of(big), 1}, {bytes_of(h), bytes_of(small), 1},
      {bytes_of(h), bytes_of(big), 1},  // after a short one: a new message
      {bytes_of(h), bytes_of(big), 2},  // other peer: a new message
  };
  EXPECT_EQ(a.tx_burst(frames), 5u);
  EXPECT_EQ(script.iov_counts, (std::vector<size_t>{6, 2, 2}));
  EXPECT_EQ(a.stats().tx_gso_messages, 1u);
  EXPECT_EQ(a.counters().tx_frames, 5u);
}

std::string open_error(const UdpRailConfig& config) {
  try {
    UdpRail rail(config);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(UdpRail, OpenErrorsSayWhatWhereAndWhatToDo) {
  EXPECT_THAT(open_error({.name = "r0", .interface = "nosuch0", .address = "10.0.0.1", .port = 4791}),
              AllOf(HasSubstr("udp rail r0 (interface nosuch0, address 10.0.0.1:4791)"),
                    HasSubstr("interface nosuch0 does not exist")));
  EXPECT_THAT(open_error({.name = "r0", .interface = "lo", .address = "10.255.0.1", .port = 4791}),
              AllOf(HasSubstr("address 10.255.0.1 is not on lo"), HasSubstr("ip address add 10.255.0.1")));
  EXPECT_THAT(open_error({.name = "r0", .interface = "lo", .address = "not-an-ip"}),
              HasSubstr("address 'not-an-ip' is not an IPv4 address"));
  EXPECT_THAT(open_error({.name = "r0", .interface = "lo", .address = kA, .burst = 0}), HasSubstr("burst 0"));
  EXPECT_THAT(open_error({.name = "r0",
                          .interface = "lo",
                          .address = kA,
                          .peers = {{.slot = 1, .address = kB, .port = 5}, {.slot = 1, .address = kB, .port = 6}}}),
              HasSubstr("peer slot 1 is listed twice"));
  EXPECT_THAT(open_error({.name = "r0",
                          .interface = "lo",
                          .address = kA,
                          .peers = {{.slot = 1, .address = kB, .port = 5}, {.slot = 2, .address = kB, .port = 5}}}),
              HasSubstr("the same address and port"));

  Probe holder(kA);
  EXPECT_THAT(open_error({.name = "r0", .interface = "lo", .address = kA, .port = holder.port()}),
              AllOf(HasSubstr(fmt::format("port {} is in use on {}", holder.port(), kA)), HasSubstr("ss -ulpn")));
}

TEST(UdpRail, LinkStateComesFromTheMonitor) {
  LinkMonitor monitor;
  UdpRail rail(UdpRailConfig{.name = "r", .interface = "lo", .address = kA}, &monitor);
  EXPECT_EQ(rail.link_state(), LinkState::up);
  EXPECT_NE(rail.local_port(), 0);
  EXPECT_EQ(rail.ifindex(), 1);
}

}  // namespace
}  // namespace railyard::nic
