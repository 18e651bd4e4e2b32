#include "fabric/checksum.h"

#include <array>

namespace railyard::fabric {
namespace {

// Slicing-by-8 tables, built at compile time (reflected polynomial 0x82F63B78).
constexpr std::array<std::array<uint32_t, 256>, 8> make_tables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i)
    for (size_t s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xff];
  return t;
}
constexpr auto kTables = make_tables();

}  // namespace

uint32_t crc32c(std::span<const std::byte> data, uint32_t crc) {
  uint32_t c = ~crc;
  const std::byte* p = data.data();
  size_t n = data.size();
  while (n >= 8) {
    const uint32_t lo = c ^ (std::to_integer<uint32_t>(p[0]) | std::to_integer<uint32_t>(p[1]) << 8 |
                             std::to_integer<uint32_t>(p[2]) << 16 | std::to_integer<uint32_t>(p[3]) << 24);
    c = kTables[7][lo & 0xff] ^ kTables[6][(lo >> 8) & 0xff] ^ kTables[5][(lo >> 16) & 0xff] ^ kTables[4][lo >> 24] ^
        kTables[3][std::to_integer<uint32_t>(p[4])] ^ kTables[2][std::to_integer<uint32_t>(p[5])] ^
        kTables[1][std::to_integer<uint32_t>(p[6])] ^ kTables[0][std::to_integer<uint32_t>(p[7])];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ kTables[0][(c ^ std::to_integer<uint32_t>(*p++)) & 0xff];
  return ~c;
}

}  // namespace railyard::fabric
