#pragma once
// Workloads' shared-memory regions, mapped into the daemon. The control
// thread registers and retires regions; data-plane threads look them up per
// packet without locks. A retired region stays mapped until every data-plane
// thread has passed a quiescent point after the retirement (epoch-based
// reclamation), so a packet being placed never writes into unmapped memory.

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace railyard::daemon {

struct RegionView {
  std::byte* base = nullptr;
  uint64_t length = 0;
  explicit operator bool() const { return base != nullptr; }
};

class RegionTable {
 public:
  /// Region ids are 1..kMaxRegions-1 (0 means "choose one" when registering).
  static constexpr uint32_t kMaxRegions = 256;

  enum class Error { none, id_out_of_range, id_in_use, full, not_a_sealed_memfd, too_small, map_failed, unknown };

  /// Keeps a range of a region mapped (even after it is retired) until
  /// unpinned: an outbound transfer's source while it is in flight.
  struct Pin {
    void* region = nullptr;
    std::span<const std::byte> bytes;
  };

  struct Registration {
    Error error = Error::none;
    uint32_t id = 0;
    std::string message;  // with an error: what failed and what to do
  };

  /// Control thread: told after a region is published (added) or unpublished
  /// (retired), whoever did it (verbs rails register regions with their NICs).
  using Observer = std::function<void(uint32_t id, bool added)>;

  RegionTable() = default;
  ~RegionTable();
  RegionTable(const RegionTable&) = delete;
  RegionTable& operator=(const RegionTable&) = delete;

  // --- control thread ---
  /// Maps `memfd` (which must carry F_SEAL_SHRINK, so the workload cannot
  /// shrink it under the daemon) and publishes it. Takes ownership of the fd
  /// on success and closes it on failure.
  Registration add(uint32_t requested_id, int memfd, uint64_t length, uint64_t owner, std::string name);
  /// Maps the daemon's own scratch region (the railctl send probe): a memfd
  /// it creates itself. Throws std::runtime_error when it cannot.
  void add_internal(uint32_t id, uint64_t length, std::string name);

  /// Pins [offset, offset + length) of region `id` held by `owner` (or any
  /// owner when `owner` is 0). Error unknown (with message) when it is not
  /// registered by that owner or the range does not fit.
  Error pin(uint32_t id, uint64_t owner, uint64_t offset, uint64_t length, Pin& out, std::string& message);
  /// Any thread: the pinned range is no longer used.
  static void unpin(Pin& pin);

  /// Unpublishes a region; false if `owner` does not hold it.
  bool retire(uint32_t id, uint64_t owner);
  /// Unpublishes every region of `owner` (its connection closed).
  void retire_owner(uint64_t owner);
  /// Unmaps retired regions that no data-plane thread can still see.
  void reclaim();
  /// One observer (or none: nullptr); it may pin the region it is told of.
  void observe(Observer observer) { observer_ = std::move(observer); }

  // --- data-plane thread ---
  RegionView lookup(uint32_t id) const {
    if (id >= kMaxRegions) return {};
    const Region* r = slots_[id].load(std::memory_order_acquire);
    return r ? RegionView{r->base, r->length} : RegionView{};
  }
  /// Called by the (single) data-plane thread whenever it holds no
  /// RegionView (between bursts): one call after a retirement proves it
  /// has let go of that region.
  void quiescent() { epoch_.fetch_add(1, std::memory_order_release); }

 private:
  struct Region {
    std::byte* base = nullptr;
    uint64_t length = 0;
    int fd = -1;
    uint64_t owner = 0;
    std::string name;
    std::atomic<uint32_t> pins{0};
  };
  struct Retired {
    std::unique_ptr<Region> region;
    uint64_t epoch = 0;
  };
  static void unmap(Region& r);

  std::array<std::atomic<Region*>, kMaxRegions> slots_{};
  std::array<std::unique_ptr<Region>, kMaxRegions> owned_{};  // control thread only
  std::vector<Retired> retired_;
  Observer observer_;
  std::atomic<uint64_t> epoch_{0};
};

}  // namespace railyard::daemon
