// Bytes from a peer over the message channel. The input is split into
// datagrams (2-byte big-endian lengths); odd-numbered ones are sent as they
// are (forged: they must be refused), even-numbered ones are first sealed by a
// real sender channel of the same session (so reassembly and the protobuf
// decoding of PeerMessage see arbitrary authenticated content). Nothing may
// crash, and no forged datagram may be delivered.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "fabric/peer_channel.h"
#include "railyard/v1/peer.pb.h"

using namespace railyard::fabric;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::byte> psk(32, std::byte{7});
  PeerChannelConfig config;
  config.max_fragment = 64;
  PeerChannel sender(psk, 1, 2, config), receiver(psk, 2, 1, config);
  sender.reset(42);
  receiver.reset(42);
  uint64_t now = 1;
  size_t delivered = 0, sealed = 0;
  auto deliver = [&](std::span<const std::byte> message) {
    ++delivered;
    railyard::v1::PeerMessage m;
    (void)m.ParseFromArray(message.data(), static_cast<int>(message.size()));
  };
  size_t at = 0;
  for (bool forged = false; at + 2 <= size; forged = !forged) {
    const size_t n = std::min<size_t>((size_t{data[at]} << 8 | data[at + 1]), size - at - 2);
    const std::span<const std::byte> chunk(reinterpret_cast<const std::byte*>(data + at + 2), n);
    at += 2 + n;
    if (forged) {
      Packet p;
      if (parse(chunk, p) != ParseResult::ok || p.header.type != PacketType::message) continue;
      const size_t before = delivered;
      const auto r = receiver.on_datagram(p, now, deliver);
      // A forged datagram can only be refused (or be an exact replay of a sealed one).
      if (delivered != before && r != ChannelReceive::fragment) std::abort();
      continue;
    }
    if (chunk.empty() || sender.send(chunk, now) != ChannelSend::ok) continue;
    ++sealed;
    sender.poll(now, [&](std::span<const std::byte> d) {
      Packet p;
      if (parse(d, p) != ParseResult::ok) std::abort();
      receiver.on_datagram(p, now, deliver);
    });
    receiver.poll(now, [&](std::span<const std::byte> d) {
      Packet p;
      if (parse(d, p) != ParseResult::ok) std::abort();
      sender.on_datagram(p, now, deliver);
    });
    now += 1000;
  }
  if (delivered > sealed) std::abort();  // nothing forged got through
  return 0;
}
