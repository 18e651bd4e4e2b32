#pragma once
// Where the engines put the datagrams they want sent on one rail: frames
// ready for nic::Rail::tx_burst, and the caller's buffer their headers are
// encoded into (kTxRoom bytes per frame: a header, or a whole ACK).

#include <cstddef>
#include <span>

#include "drivers/nic/rail.h"
#include "fabric/wire.h"

namespace railyard::fabric {

/// Room per frame in TxBatch::room: enough for an ACK with its tag and every
/// SACK block (a DATA header with its tag and meta takes less).
inline constexpr size_t kTxRoom = kMaxAckSize + kMacSize;
static_assert(kTxRoom >= kDataHeaderSize + kMacSize + kMetaSize);

struct TxBatch {
  std::span<nic::TxFrame> frames;  ///< capacity: frames.size()
  std::span<std::byte> room;       ///< frames.size() * kTxRoom bytes
  size_t count = 0;                ///< frames filled; the engines append after `count`

  bool full() const { return count >= frames.size() || room.size() < (count + 1) * kTxRoom; }
  std::span<std::byte> next_room() { return room.subspan(count * kTxRoom, kTxRoom); }
};

}  // namespace railyard::fabric
