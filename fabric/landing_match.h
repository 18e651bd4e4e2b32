#pragma once
// The receiving end of transfers whose bytes the NIC places by itself (verbs:
// RDMA WRITE, the last slice WITH_IMM). Two things must meet before the
// daemon can tell a workload "this transfer landed": the sender's
// announcement (the descriptor: region, offset, length, class, checksum),
// which travels on the peer channel, and the NIC's report that the last slice
// landed, which carries only a 32-bit id. Either may come first; the second
// one delivers the transfer, once.
//
// Announcements of one session arrive in the sender's posting order (the peer
// channel is ordered) with strictly increasing 64-bit transfer ids; one that
// is not is refused, so no transfer is announced, and delivered, twice in a
// session. The NIC reports a landing by the id's low 32 bits (the IMM): a
// landing that is not announced and not newer than the newest announcement
// (serial-number arithmetic mod 2^32) is a transfer already delivered, a
// duplicate IMM, which a sender resends when a retry-exceeded leaves it unsure
// whether the first executed (docs/VERBS.md). It is counted and dropped.
//
// Pure logic, one instance per peer, owned by the control thread; a new
// session starts it over (reset).

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <unordered_set>

#include "fabric/wire.h"

namespace railyard::fabric {

struct LandingDescriptor {
  uint64_t transfer_id = 0;  ///< the sender's id; mod 2^32 it is the IMM its last slice lands with
  uint32_t region = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  TrafficClass cls = TrafficClass::kv;
  bool checksum = false;     ///< crc32c is the sender's CRC32C of the bytes
  uint32_t crc32c = 0;

  uint32_t imm() const { return static_cast<uint32_t>(transfer_id); }
};

enum class Announce : uint8_t {
  waiting,       ///< kept until its landing
  deliver,       ///< its landing had come first: deliver now
  out_of_order,  ///< its transfer id is not above every earlier one: refused
  full,          ///< too many waiting, or one waiting has the same IMM: refused
};

enum class Landing : uint8_t {
  deliver,    ///< its announcement was waiting: deliver now
  early,      ///< kept until its announcement
  duplicate,  ///< already delivered, or already waiting: dropped
  full,       ///< too many early landings waiting: dropped
};

struct LandingCounters {
  uint64_t delivered = 0;
  uint64_t duplicates = 0;
  uint64_t early = 0;          ///< landings that came before their announcement
  uint64_t refused = 0;        ///< announcements out of order or beyond capacity
  uint64_t orphaned = 0;       ///< early landings never announced (dropped when newer ids were)
  uint64_t dropped_full = 0;   ///< early landings beyond capacity
  uint64_t withdrawn = 0;      ///< announcements the sender withdrew (its transfer failed)
};

class LandingMatch {
 public:
  /// `capacity`: most announcements and most early landings kept at once;
  /// above the sender's outstanding limit, so only a broken peer reaches it.
  explicit LandingMatch(size_t capacity = 32768);

  /// A new session: everything kept belongs to the old one.
  void reset();

  /// On deliver, `ready` is `d`.
  Announce announce(const LandingDescriptor& d, LandingDescriptor& ready);
  /// A last slice landed with immediate `imm`. On deliver, `ready` is its announcement.
  Landing land(uint32_t imm, LandingDescriptor& ready);
  /// The sender gave transfer `transfer_id` up before its last slice was
  /// written: its announcement stops waiting. False if it was not waiting.
  bool withdraw(uint64_t transfer_id);

  size_t waiting() const { return announced_.size(); }
  size_t early() const { return early_.size(); }
  const LandingCounters& counters() const { return counters_; }

 private:
  static bool newer(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b) > 0; }

  size_t capacity_;
  std::unordered_map<uint32_t, LandingDescriptor> announced_;  // by IMM
  std::unordered_set<uint32_t> early_;                         // IMMs
  bool any_announced_ = false;
  uint64_t newest_ = 0;  // transfer id of the newest announcement
  LandingCounters counters_;
};

}  // namespace railyard::fabric
