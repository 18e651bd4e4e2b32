#include "fabric/landing_match.h"

namespace railyard::fabric {

LandingMatch::LandingMatch(size_t capacity) : capacity_(capacity) {
  announced_.reserve(capacity);
  early_.reserve(capacity);
}

void LandingMatch::reset() {
  announced_.clear();
  early_.clear();
  any_announced_ = false;
  newest_ = 0;
}

Announce LandingMatch::announce(const LandingDescriptor& d, LandingDescriptor& ready) {
  if (any_announced_ && d.transfer_id <= newest_) {
    ++counters_.refused;
    return Announce::out_of_order;
  }
  any_announced_ = true;
  newest_ = d.transfer_id;
  if (early_.erase(d.imm()) != 0) {
    ++counters_.delivered;
    ready = d;
    return Announce::deliver;
  }
  // An early landing older than every announcement to come will never be
  // matched: its id was never a transfer of this session.
  const uint32_t newest = d.imm();
  if (!early_.empty()) counters_.orphaned += std::erase_if(early_, [newest](uint32_t imm) { return !newer(imm, newest); });
  if (announced_.size() >= capacity_ || announced_.contains(d.imm())) {
    ++counters_.refused;  // full, or 2^32 transfers ahead of one still waiting
    return Announce::full;
  }
  announced_.emplace(d.imm(), d);
  return Announce::waiting;
}

Landing LandingMatch::land(uint32_t imm, LandingDescriptor& ready) {
  if (auto it = announced_.find(imm); it != announced_.end()) {
    ready = it->second;
    announced_.erase(it);
    ++counters_.delivered;
    return Landing::deliver;
  }
  if ((any_announced_ && !newer(imm, static_cast<uint32_t>(newest_))) || early_.contains(imm)) {
    ++counters_.duplicates;
    return Landing::duplicate;
  }
  if (early_.size() >= capacity_) {
    ++counters_.dropped_full;
    return Landing::full;
  }
  early_.insert(imm);
  ++counters_.early;
  return Landing::early;
}

bool LandingMatch::withdraw(uint64_t transfer_id) {
  const auto it = announced_.find(static_cast<uint32_t>(transfer_id));
  if (it == announced_.end() || it->second.transfer_id != transfer_id) return false;
  announced_.erase(it);
  ++counters_.withdrawn;
  return true;
}

}  // namespace railyard::fabric
