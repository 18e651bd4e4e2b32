#pragma once
// Every reason the fabric refuses a datagram of a known peer, in one table
// that railctl (PeerStatus.refused), Prometheus
// (railyard_fabric_refused_datagrams{peer,reason}) and the log (one line when
// an episode of a reason starts, one when it ends) all read.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/data_plane.h"
#include "fabric/peer_channel.h"

namespace railyard::daemon {

struct RefusalReason {
  std::string_view name;    ///< label value and railctl word, e.g. "mac_bad"
  std::string_view advice;  ///< what it means and what to check, for the log line
  bool hostile = false;     ///< an honest peer never sends it: see forged_advice()
  bool misconfigured = false;  ///< the two hosts' configurations disagree: a fault to fix, logged as a warning
};

/// What a reason an honest peer never causes points to, and what to do.
std::string_view forged_advice();

inline constexpr size_t kPeerRefusalCount = 23;
using PeerRefusals = std::array<uint64_t, kPeerRefusalCount>;

/// The reasons, in the order of peer_refusals()' counts.
const std::array<RefusalReason, kPeerRefusalCount>& peer_refusal_reasons();

/// Counts by reason for one peer: the data plane's and its message channel's.
PeerRefusals peer_refusals(const PeerSnapshot& peer, const fabric::PeerChannelCounters& messages);

}  // namespace railyard::daemon
