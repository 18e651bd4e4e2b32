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
  if (any_announced_ && !newer(d.id, newest_)) {
    ++counters_.refused;
    return Announce::out_of_order;
  }
  any_announced_ = true;
  newest_ = d.id;
  if (early_.erase(d.id) != 0) {
    ++counters_.delivered;
    ready = d;
    return Announce::deliver;
  }
  // An early landing older than every announcement to come will never be
  // matched: its id was never a transfer of this session.
  if (!early_.empty()) counters_.orphaned += std::erase_if(early_, [this](uint32_t id) { return !newer(id, newest_); });
  if (announced_.size() >= capacity_) {
    ++counters_.refused;
    return Announce::full;
  }
  announced_.emplace(d.id, d);
  return Announce::waiting;
}

Landing LandingMatch::land(uint32_t id, LandingDescriptor& ready) {
  if (auto it = announced_.find(id); it != announced_.end()) {
    ready = it->second;
    announced_.erase(it);
    ++counters_.delivered;
    return Landing::deliver;
  }
  if ((any_announced_ && !newer(id, newest_)) || early_.contains(id)) {
    ++counters_.duplicates;
    return Landing::duplicate;
  }
  if (early_.size() >= capacity_) {
    ++counters_.dropped_full;
    return Landing::full;
  }
  early_.insert(id);
  ++counters_.early;
  return Landing::early;
}

}  // namespace railyard::fabric
