#pragma once
// CRC32C (Castagnoli) for transfers posted with a checksum request: the
// sender computes it over the source range, the receiver over the landed
// range once every byte is in, and a mismatch fails the transfer.

#include <cstddef>
#include <cstdint>
#include <span>

namespace railyard::fabric {

/// CRC32C of `data`, continuing from `crc` (0 to start).
uint32_t crc32c(std::span<const std::byte> data, uint32_t crc = 0);

}  // namespace railyard::fabric
