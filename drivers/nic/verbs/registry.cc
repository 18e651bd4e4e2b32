#include "drivers/nic/verbs/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "common/log.h"

namespace railyard::verbs {

MrRegistry::~MrRegistry() {
  // The transport destroys every QP first, so no WRITE can still use these.
  for (Entry& e : entries_)
    if (e.used) deregister(e);
}

bool MrRegistry::add(uint32_t id, void* base, uint64_t length, std::string& why) {
  if (id == 0 || id > kMaxRegionId) {
    why = fmt::format("region id {} out of range 1..{}", id, kMaxRegionId);
    return false;
  }
  if (base == nullptr || length == 0) {
    why = fmt::format("region {} is empty", id);
    return false;
  }
  if (find(id) != kNoEntry) {
    why = fmt::format("region {} is already registered", id);
    return false;
  }
  Entry e{.id = id, .base = static_cast<std::byte*>(base), .length = length, .used = true};
  for (size_t r = 0; r < pds_.size(); ++r) {
    if (int rc = ops_.reg_mr(pds_[r], base, length, kAccessLocalWrite | kAccessRemoteWrite, e.mrs[r]); rc != 0) {
      why = fmt::format("ibv_reg_mr of region {} ({} bytes) on rail {} failed: {} (check LimitMEMLOCK / ulimit -l)",
                        id, length, r, std::strerror(rc));
      deregister(e);
      return false;
    }
  }
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
    entries_[slot] = e;
  } else {
    slot = static_cast<uint32_t>(entries_.size());
    entries_.push_back(e);
  }
  return true;
}

MrRegistry::Retire MrRegistry::retire(uint32_t id) {
  const uint32_t slot = find(id);
  if (slot == kNoEntry) return Retire::unknown;
  Entry& e = entries_[slot];
  e.retired = true;
  if (e.refs > 0) return Retire::deferred;
  deregister(e);
  free_.push_back(slot);
  return Retire::released;
}

uint32_t MrRegistry::find(uint32_t id) const {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].used && !entries_[i].retired && entries_[i].id == id) return static_cast<uint32_t>(i);
  return kNoEntry;
}

void MrRegistry::unref(uint32_t slot) {
  Entry& e = entries_[slot];
  assert(e.used && e.refs > 0);
  if (--e.refs == 0 && e.retired) {
    released_.push_back(e.id);
    deregister(e);
    free_.push_back(slot);
  }
}

void MrRegistry::advertised(size_t rail, std::vector<RemoteRegion>& out) const {
  out.clear();
  for (const Entry& e : entries_) {
    if (!e.used || e.retired) continue;
    out.push_back(RemoteRegion{.id = e.id,
                               .rkey = e.mrs[rail].rkey,
                               .addr = reinterpret_cast<uint64_t>(e.base),
                               .length = e.length});
  }
  std::sort(out.begin(), out.end(), [](const RemoteRegion& a, const RemoteRegion& b) { return a.id < b.id; });
}

void MrRegistry::take_released(std::vector<uint32_t>& out) {
  out.insert(out.end(), released_.begin(), released_.end());
  released_.clear();
}

size_t MrRegistry::live_count() const {
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(),
                                           [](const Entry& e) { return e.used && !e.retired; }));
}

size_t MrRegistry::retired_pending() const {
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(),
                                           [](const Entry& e) { return e.used && e.retired; }));
}

void MrRegistry::deregister(Entry& e) {
  for (MrInfo& m : e.mrs) {
    if (!m.mr) continue;
    if (int rc = ops_.dereg_mr(m.mr); rc != 0) {
      ++dereg_errors_;
      log::err("verbs: ibv_dereg_mr of region {} failed: {}", e.id, std::strerror(rc));
    }
    m = MrInfo{};
  }
  e.used = false;
}

}  // namespace railyard::verbs
