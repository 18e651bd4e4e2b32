#pragma once
// Memory registrations of the workloads' regions, one MR per rail (each rail
// may be another device, with its own PD, lkey and rkey). A region is
// registered with local write | remote write on the daemon's mapping of the
// workload's memfd.
//
// Lifetime: a transfer holds a reference on its source region from post to
// completion, and so does every posted WRITE until its completion (or until
// its QP is destroyed). retire() stops new use at once (the region is no
// longer found or advertised) but deregisters only when the last reference
// goes; the daemon must keep the mapping until then (take_released()).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/nic/verbs/conn_data.h"
#include "drivers/nic/verbs/verbs_ops.h"

namespace railyard::verbs {

inline constexpr size_t kMaxVerbsRails = 8;

class MrRegistry {
 public:
  static constexpr uint32_t kNoEntry = ~0u;

  struct Entry {
    uint32_t id = 0;
    std::byte* base = nullptr;
    uint64_t length = 0;
    std::array<MrInfo, kMaxVerbsRails> mrs{};
    uint32_t refs = 0;
    bool used = false;
    bool retired = false;
  };

  enum class Retire : uint8_t { released, deferred, unknown };

  explicit MrRegistry(VerbsOps& ops) : ops_(ops) {}
  ~MrRegistry();
  MrRegistry(const MrRegistry&) = delete;
  MrRegistry& operator=(const MrRegistry&) = delete;

  /// The PD of each rail, in rail order; set before the first add().
  void set_pds(std::vector<PdHandle> pds) { pds_ = std::move(pds); }

  /// Registers [base, base + length) as region `id` (1..kMaxRegionId) on
  /// every rail. False (with why) when the id is taken or a reg_mr fails;
  /// nothing stays registered then.
  bool add(uint32_t id, void* base, uint64_t length, std::string& why);

  /// released: deregistered now. deferred: references remain; take_released()
  /// reports it once they are gone. unknown: no live region with that id.
  Retire retire(uint32_t id);

  /// The live (not retired) entry of region `id`, or kNoEntry.
  uint32_t find(uint32_t id) const;
  const Entry& entry(uint32_t e) const { return entries_[e]; }

  void ref(uint32_t e) { ++entries_[e].refs; }
  void unref(uint32_t e);

  /// The live regions with their rkeys on `rail`, sorted by id.
  void advertised(size_t rail, std::vector<RemoteRegion>& out) const;

  /// Region ids whose deferred deregistration happened since the last call.
  void take_released(std::vector<uint32_t>& out);

  size_t live_count() const;
  size_t retired_pending() const;
  uint64_t dereg_errors() const { return dereg_errors_; }

 private:
  void deregister(Entry& e);

  VerbsOps& ops_;
  std::vector<PdHandle> pds_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> released_;
  uint64_t dereg_errors_ = 0;
};

}  // namespace railyard::verbs
