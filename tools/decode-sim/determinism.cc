#include "tools/decode-sim/determinism.h"

#include <algorithm>
#include <cstring>

namespace railyard::decode_sim {
namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;

// splitmix64's finaliser: a bijection that spreads every input bit.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The KV bytes of one token are a splitmix64 stream seeded by (sequence,
// index): word k is mix(seed + (k + 1) * kGolden), so any word is computed
// on its own, without a buffer.
uint64_t kv_seed(uint64_t sequence, uint64_t index) {
  return mix(mix(sequence + kGolden) ^ (index * kGolden + 0x632be59bd9b4e019ull));
}

uint64_t kv_word(uint64_t seed, uint64_t k) { return mix(seed + (k + 1) * kGolden); }

}  // namespace

uint64_t next_token(uint64_t sequence, uint64_t index, uint64_t previous) {
  return mix(mix(mix(sequence * kGolden + 1) ^ index) ^ previous);
}

uint64_t chain_value(uint64_t sequence, uint64_t index) {
  uint64_t token = kChainStart;
  for (uint64_t i = 0; i <= index; ++i) token = next_token(sequence, i, token);
  return token;
}

uint64_t last_token_after(uint64_t sequence, uint64_t tokens) {
  return tokens == 0 ? kChainStart : chain_value(sequence, tokens - 1);
}

void write_kv(std::span<std::byte> slot, uint64_t sequence, uint64_t first, uint64_t count, uint64_t bytes_per_token) {
  for (uint64_t t = first; t < first + count; ++t) {
    const uint64_t seed = kv_seed(sequence, t);
    std::byte* out = slot.data() + t * bytes_per_token;
    for (uint64_t k = 0; k * 8 < bytes_per_token; ++k) {
      const uint64_t word = kv_word(seed, k);
      std::memcpy(out + k * 8, &word, std::min<uint64_t>(8, bytes_per_token - k * 8));
    }
  }
}

std::optional<uint64_t> first_wrong_kv_token(std::span<const std::byte> slot, uint64_t sequence, uint64_t tokens,
                                             uint64_t bytes_per_token, uint64_t first) {
  for (uint64_t t = first; t < tokens; ++t) {
    const uint64_t seed = kv_seed(sequence, t);
    const std::byte* in = slot.data() + t * bytes_per_token;
    for (uint64_t k = 0; k * 8 < bytes_per_token; ++k) {
      const uint64_t word = kv_word(seed, k);
      if (std::memcmp(in + k * 8, &word, std::min<uint64_t>(8, bytes_per_token - k * 8)) != 0) return t;
    }
  }
  return std::nullopt;
}

}  // namespace railyard::decode_sim
