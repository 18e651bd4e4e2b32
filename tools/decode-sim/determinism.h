#pragma once
// decode-sim's deterministic contents: a sequence's tokens form a hash chain
// and its KV bytes are a pure function of (sequence, token index), so any
// copy of a slot and any token log can be checked by recomputing them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace railyard::decode_sim {

/// The token at `index` of sequence `sequence`, given the token before it
/// (`previous`; kChainStart for index 0). A wrong `previous` gives a different
/// token, so a sequence resumed from a wrong last_token is caught downstream.
uint64_t next_token(uint64_t sequence, uint64_t index, uint64_t previous);

/// What stands before token 0.
inline constexpr uint64_t kChainStart = 0;

/// The token at `index` of `sequence`, walking the chain from the start.
uint64_t chain_value(uint64_t sequence, uint64_t index);

/// The last token of a sequence holding `tokens` tokens (kChainStart for 0).
uint64_t last_token_after(uint64_t sequence, uint64_t tokens);

/// Writes the KV bytes of tokens [first, first + count) of `sequence` into
/// `slot`, where token t occupies [t * bytes_per_token, (t + 1) * bytes_per_token).
void write_kv(std::span<std::byte> slot, uint64_t sequence, uint64_t first, uint64_t count, uint64_t bytes_per_token);

/// The first token among [first, tokens) whose KV bytes in `slot` differ
/// from what `sequence` generates; nullopt when all match.
std::optional<uint64_t> first_wrong_kv_token(std::span<const std::byte> slot, uint64_t sequence, uint64_t tokens,
                                             uint64_t bytes_per_token, uint64_t first = 0);

}  // namespace railyard::decode_sim
