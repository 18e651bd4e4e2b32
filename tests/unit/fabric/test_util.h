#pragma once
// Helpers shared by the fabric tests: batch storage for the engines' output
// and flattening a frame into the datagram a rail would carry.

#include <array>
#include <cstddef>
#include <cstring>
#include <vector>

#include "fabric/tx_batch.h"
#include "fabric/wire.h"

namespace railyard::fabric::testing {

/// Per-rail TxBatch storage.
class Batches {
 public:
  explicit Batches(size_t rails, size_t per_rail = 64) : frames_(rails), room_(rails), batches_(rails) {
    for (size_t r = 0; r < rails; ++r) {
      frames_[r].resize(per_rail);
      room_[r].resize(per_rail * kTxRoom);
    }
    clear();
  }
  void clear() {
    for (size_t r = 0; r < batches_.size(); ++r) batches_[r] = {.frames = frames_[r], .room = room_[r], .count = 0};
  }
  std::span<TxBatch> all() { return batches_; }
  TxBatch& operator[](size_t r) { return batches_[r]; }
  size_t total() const {
    size_t n = 0;
    for (const TxBatch& b : batches_) n += b.count;
    return n;
  }

 private:
  std::vector<std::vector<nic::TxFrame>> frames_;
  std::vector<std::vector<std::byte>> room_;
  std::vector<TxBatch> batches_;
};

inline std::vector<std::byte> flatten(const nic::TxFrame& f) {
  std::vector<std::byte> d(f.header.size() + f.payload.size());
  std::memcpy(d.data(), f.header.data(), f.header.size());
  if (!f.payload.empty()) std::memcpy(d.data() + f.header.size(), f.payload.data(), f.payload.size());
  return d;
}

inline std::vector<std::byte> pattern(size_t n, uint32_t seed) {
  std::vector<std::byte> v(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = std::byte(x);
  }
  return v;
}

}  // namespace railyard::fabric::testing
