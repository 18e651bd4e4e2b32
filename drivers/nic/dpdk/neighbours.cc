#include "drivers/nic/dpdk/neighbours.h"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

namespace railyard::nic::dpdk {

namespace {
uint64_t source_key(uint32_t ip, uint16_t port) { return (uint64_t{ip} << 16) | port; }
constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
}  // namespace

NeighbourTable::NeighbourTable(std::span<const NeighbourConfig> peers, NeighbourTiming timing) : timing_(timing) {
  for (const NeighbourConfig& p : peers) {
    if (p.slot == kUnknownPeer) throw std::invalid_argument(fmt::format("peer {} has no slot", format_ipv4(p.ip)));
    if (p.ip == 0) throw std::invalid_argument(fmt::format("peer slot {} has no address", p.slot));
    if (p.port == 0) throw std::invalid_argument(fmt::format("peer {} (slot {}) has port 0", format_ipv4(p.ip), p.slot));
    if (p.slot >= host_of_slot_.size()) {
      host_of_slot_.resize(size_t{p.slot} + 1, -1);
      port_of_slot_.resize(size_t{p.slot} + 1, 0);
    }
    if (host_of_slot_[p.slot] >= 0) throw std::invalid_argument(fmt::format("peer slot {} is listed twice", p.slot));
    auto host = std::find_if(hosts_.begin(), hosts_.end(), [&p](const Host& h) { return h.ip == p.ip; });
    if (host == hosts_.end()) {
      hosts_.push_back(Host{.ip = p.ip});
      host = hosts_.end() - 1;
    }
    if (p.mac) {
      if (host->state == NeighbourState::static_mac && host->mac != *p.mac) {
        throw std::invalid_argument(fmt::format("peer {} has two static MACs ({} and {})", format_ipv4(p.ip),
                                                format_mac(host->mac), format_mac(*p.mac)));
      }
      host->state = NeighbourState::static_mac;
      host->mac = *p.mac;
    }
    host_of_slot_[p.slot] = static_cast<int32_t>(host - hosts_.begin());
    port_of_slot_[p.slot] = p.port;
    sources_.push_back({source_key(p.ip, p.port), p.slot});
  }
  std::sort(sources_.begin(), sources_.end(), [](const Source& a, const Source& b) { return a.key < b.key; });
  for (size_t i = 1; i < sources_.size(); ++i) {
    if (sources_[i].key == sources_[i - 1].key) {
      throw std::invalid_argument(fmt::format("peer slots {} and {} have the same address and port",
                                              sources_[i - 1].slot, sources_[i].slot));
    }
  }
  recompute_next_due();
}

NeighbourState NeighbourTable::state(PeerSlot slot) const {
  if (slot >= host_of_slot_.size() || host_of_slot_[slot] < 0) return NeighbourState::absent;
  return hosts_[static_cast<size_t>(host_of_slot_[slot])].state;
}

const MacAddress* NeighbourTable::mac(PeerSlot slot) const { return destination(slot).mac; }

NeighbourTable::Destination NeighbourTable::destination(PeerSlot slot) const {
  if (slot >= host_of_slot_.size() || host_of_slot_[slot] < 0) return {};
  const Host& h = hosts_[static_cast<size_t>(host_of_slot_[slot])];
  const bool known = h.state == NeighbourState::static_mac || h.state == NeighbourState::resolved;
  return Destination{.ip = h.ip, .port = port_of_slot_[slot], .mac = known ? &h.mac : nullptr};
}

PeerSlot NeighbourTable::slot_of(uint32_t ip, uint16_t port) const {
  const uint64_t key = source_key(ip, port);
  const auto it = std::lower_bound(sources_.begin(), sources_.end(), key,
                                   [](const Source& s, uint64_t k) { return s.key < k; });
  return it != sources_.end() && it->key == key ? it->slot : kUnknownPeer;
}

bool NeighbourTable::learn(uint32_t ip, const MacAddress& mac, uint64_t now) {
  if (mac.is_zero() || mac.is_multicast()) return false;
  for (Host& h : hosts_) {
    if (h.ip != ip || h.state == NeighbourState::static_mac) continue;
    const bool changed = h.state != NeighbourState::resolved || h.mac != mac;
    h.mac = mac;
    h.state = NeighbourState::resolved;
    h.requests = 0;
    h.backoff = 0;
    h.next_request = now + timing_.refresh_ns;
    recompute_next_due();
    return changed;
  }
  return false;
}

size_t NeighbourTable::due_requests(uint64_t now, std::span<uint32_t> out) {
  size_t n = 0;
  if (now < next_due_) return 0;
  for (Host& h : hosts_) {
    if (n == out.size()) break;
    if (h.state == NeighbourState::static_mac || h.next_request > now) continue;
    out[n++] = h.ip;
    ++h.requests;
    h.last_request = now;
    if (h.state == NeighbourState::resolving && h.requests >= timing_.unresolved_after) {
      h.state = NeighbourState::unresolved;
    }
    if (h.state == NeighbourState::resolved) {
      // A refresh: one request; if it goes unanswered the next refresh asks
      // again. The MAC stays in use, as a kernel's stale entry would.
      h.next_request = now + timing_.refresh_ns;
    } else {
      h.backoff = h.backoff == 0 ? timing_.first_retry_ns : std::min(h.backoff * 2, timing_.max_retry_ns);
      h.next_request = now + h.backoff;
    }
  }
  recompute_next_due();
  return n;
}

void NeighbourTable::hurry(PeerSlot slot, uint64_t now) {
  if (slot >= host_of_slot_.size() || host_of_slot_[slot] < 0) return;
  Host& h = hosts_[static_cast<size_t>(host_of_slot_[slot])];
  if (h.state != NeighbourState::resolving && h.state != NeighbourState::unresolved) return;
  // At most one request per first_retry_ns, however often frames are refused;
  // the backoff itself is kept, so an absent peer is not asked ever faster.
  const uint64_t soonest = h.requests == 0 ? now : std::max(now, h.last_request + timing_.first_retry_ns);
  if (soonest < h.next_request) {
    h.next_request = soonest;
    recompute_next_due();
  }
}

size_t NeighbourTable::unresolved_count() const {
  size_t n = 0;
  for (size_t s = 0; s < host_of_slot_.size(); ++s) {
    const NeighbourState st = state(static_cast<PeerSlot>(s));
    n += st == NeighbourState::resolving || st == NeighbourState::unresolved;
  }
  return n;
}

std::vector<NeighbourInfo> NeighbourTable::snapshot() const {
  std::vector<NeighbourInfo> out;
  for (size_t s = 0; s < host_of_slot_.size(); ++s) {
    if (host_of_slot_[s] < 0) continue;
    const Host& h = hosts_[static_cast<size_t>(host_of_slot_[s])];
    out.push_back(NeighbourInfo{.slot = static_cast<PeerSlot>(s),
                                .ip = h.ip,
                                .port = port_of_slot_[s],
                                .state = h.state,
                                .mac = h.mac,
                                .requests = h.requests});
  }
  return out;
}

void NeighbourTable::recompute_next_due() {
  next_due_ = kNever;
  for (const Host& h : hosts_) {
    if (h.state != NeighbourState::static_mac) next_due_ = std::min(next_due_, h.next_request);
  }
}

}  // namespace railyard::nic::dpdk
