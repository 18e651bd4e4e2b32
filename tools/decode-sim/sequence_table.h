#pragma once
// decode-sim's sequences and the slots of its KV region, and what each
// migration step does to them. Pure logic over a byte span: no I/O, no clock,
// so the unit tests drive it without a daemon.
//
// A slot is free, or holds one sequence that is
//   decoding          appends a token per step(),
//   paused            by PAUSE of a migration: kept intact until RELEASE or ABORT,
//   reserved          by RESERVE of a migration: waits for RESUME (or ABORT),
//   awaiting_prefill  waits for its KV from a prefill host (adopt_prefill()).

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "client/workload.h"

namespace railyard::decode_sim {

/// A migration step's outcome, shaped as its Ack.
struct Answer {
  bool ok = true;
  std::string message;                  ///< with ok = false: what was refused and why
  std::vector<SequenceState> sequences;  ///< RESERVE: (id, slot); PAUSE: final states; others: the sequences affected
};

/// One token produced by step().
struct Token {
  uint64_t sequence = 0;
  uint64_t index = 0;
  uint64_t value = 0;
};

struct StepResult {
  std::vector<Token> tokens;
  std::vector<SequenceState> finished;  ///< reached max_tokens this step; their slots are free again
};

struct TableCounts {
  uint32_t decoding = 0, paused = 0, reserved = 0, awaiting_prefill = 0, free = 0;
};

class SequenceTable {
 public:
  /// `region` holds `capacity` slots of max_tokens * kv_bytes_per_token bytes.
  SequenceTable(std::span<std::byte> region, uint32_t capacity, uint64_t kv_bytes_per_token, uint64_t max_tokens);

  uint64_t slot_bytes() const { return slot_bytes_; }

  /// A new decoding sequence whose first `context_tokens` are prefilled here.
  Answer start(uint64_t id, uint64_t context_tokens);

  /// One decode step: a token (and its KV bytes) for every decoding sequence, in id order.
  StepResult step();

  Answer reserve(uint64_t migration_id, const std::vector<SequenceState>& wanted);
  Answer pause(uint64_t migration_id, const std::vector<SequenceState>& which);
  Answer resume(uint64_t migration_id, const std::vector<SequenceState>& final_states);
  Answer release(uint64_t migration_id, const std::vector<SequenceState>& which);
  Answer abort(uint64_t migration_id, const std::vector<SequenceState>& which);

  /// Migration bytes landed in a reserved slot at [offset, offset + length)
  /// of the slot: checked now, while the source still decodes, so RESUME
  /// only has to check what the final copy brought.
  void landed(uint32_t slot, uint64_t offset, uint64_t length);

  /// Sets slot `slot` aside for sequence `id`, whose KV a prefill host will write there.
  Answer expect_prefill(uint64_t id, uint32_t slot);
  /// The prefill host wrote `kv_bytes` into `slot`: verify them and decode on.
  Answer adopt_prefill(uint32_t slot, uint64_t kv_bytes);
  /// The sequence awaiting its prefill in `slot`, if any.
  std::optional<uint64_t> awaiting_prefill(uint32_t slot) const;

  /// Every decoding sequence, in id order (what report() carries).
  std::vector<SequenceState> decoding() const;
  TableCounts counts() const;

 private:
  enum class Phase { free, decoding, paused, reserved, awaiting_prefill };
  struct Slot {
    Phase phase = Phase::free;
    uint64_t id = 0;
    uint64_t tokens = 0;
    uint64_t last_token = 0;
    uint32_t kv_crc32c = 0;      // of the first tokens * kv_bytes_per_token bytes, kept up to date per token
    uint64_t migration_id = 0;   // paused or reserved by; for decoding, the migration that brought it here (0: none)
    // reserved: the prefix of landed KV already checked, its CRC32C, and landed ranges beyond it.
    uint64_t checked_tokens = 0;
    uint32_t checked_crc32c = 0;
    std::string bad;             // the first wrong token found while checking landed bytes
    std::map<uint64_t, uint64_t> landed;  // byte offset -> end
  };
  // Extends the checked prefix of reserved `slot` to `tokens` tokens (contents and CRC).
  void check_to(uint32_t slot, uint64_t tokens);

  static const char* phase_name(Phase phase);
  std::span<std::byte> slot_span(uint32_t slot);
  SequenceState state_of(uint32_t slot) const;
  // Checks the KV bytes in `slot` as sequence `id` with `tokens` tokens; empty when right.
  std::string check_slot(uint32_t slot, uint64_t id, uint64_t tokens, uint32_t expected_crc32c, bool check_crc);
  void free_slot(uint32_t slot);

  std::span<std::byte> region_;
  uint64_t kv_bytes_per_token_;
  uint64_t max_tokens_;
  uint64_t slot_bytes_;
  std::vector<Slot> slots_;
  std::map<uint64_t, uint32_t> slot_of_;  // sequence id -> slot, ordered so steps and reports go in id order
};

}  // namespace railyard::decode_sim
