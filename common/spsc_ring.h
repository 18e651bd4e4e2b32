#pragma once
// Bounded lock-free single-producer single-consumer ring: how the control
// thread and a data-plane thread hand each other work without locks.
// Capacity is a power of two fixed at construction; push/pop never allocate.

#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <utility>

namespace railyard {

template <class T>
class SpscRing {
 public:
  explicit SpscRing(size_t capacity_pow2)
      : mask_(capacity_pow2 - 1), slots_(std::make_unique<std::optional<T>[]>(capacity_pow2)) {
    if (capacity_pow2 == 0 || (capacity_pow2 & mask_) != 0)
      throw std::invalid_argument("SpscRing capacity must be a power of two");
  }

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  /// Producer side. False when full (the caller decides: retry, count, drop).
  bool push(T value) {
    const size_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_cache_ > mask_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head - tail_cache_ > mask_) return false;
    }
    slots_[head & mask_].emplace(std::move(value));
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  /// Consumer side. Empty optional when nothing is queued.
  std::optional<T> pop() {
    const size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_cache_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail == head_cache_) return std::nullopt;
    }
    std::optional<T> out = std::move(slots_[tail & mask_]);
    slots_[tail & mask_].reset();
    tail_.store(tail + 1, std::memory_order_release);
    return out;
  }

  size_t capacity() const { return mask_ + 1; }

 private:
  static constexpr size_t kLine = 64;
  const size_t mask_;
  std::unique_ptr<std::optional<T>[]> slots_;
  alignas(kLine) std::atomic<size_t> head_{0};
  size_t tail_cache_ = 0;  // producer's view of tail
  alignas(kLine) std::atomic<size_t> tail_{0};
  size_t head_cache_ = 0;  // consumer's view of head
};

}  // namespace railyard
