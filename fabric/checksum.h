#pragma once
// CRC32C (Castagnoli) for transfers posted with a checksum request: the
// sender computes it over the source range, the receiver over the landed
// range once every byte is in, and a mismatch fails the transfer.

#include <cstddef>
#include <cstdint>
#include <span>

namespace railyard::fabric {

/// CRC32C of `data`, continuing from `crc` (0 to start): with the CPU's
/// crc32 instruction where it has one (SSE4.2), else with tables.
uint32_t crc32c(std::span<const std::byte> data, uint32_t crc = 0);
/// The same with tables only (for testing the two against each other).
uint32_t crc32c_portable(std::span<const std::byte> data, uint32_t crc = 0);

}  // namespace railyard::fabric
