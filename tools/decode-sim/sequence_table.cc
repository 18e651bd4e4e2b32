#include "tools/decode-sim/sequence_table.h"

#include <fmt/format.h>

#include "fabric/checksum.h"
#include "tools/decode-sim/determinism.h"

namespace railyard::decode_sim {
namespace {

Answer refuse(std::string message) { return Answer{.ok = false, .message = std::move(message), .sequences = {}}; }

}  // namespace

SequenceTable::SequenceTable(std::span<std::byte> region, uint32_t capacity, uint64_t kv_bytes_per_token,
                             uint64_t max_tokens)
    : region_(region),
      kv_bytes_per_token_(kv_bytes_per_token),
      max_tokens_(max_tokens),
      slot_bytes_(kv_bytes_per_token * max_tokens),
      slots_(capacity) {}

const char* SequenceTable::phase_name(Phase phase) {
  switch (phase) {
    case Phase::free: return "free";
    case Phase::decoding: return "decoding";
    case Phase::paused: return "paused";
    case Phase::reserved: return "reserved";
    case Phase::awaiting_prefill: return "awaiting its prefill";
  }
  return "unknown";
}

std::span<std::byte> SequenceTable::slot_span(uint32_t slot) {
  return region_.subspan(static_cast<size_t>(slot) * slot_bytes_, slot_bytes_);
}

SequenceState SequenceTable::state_of(uint32_t slot) const {
  const Slot& s = slots_[slot];
  return SequenceState{.id = s.id,
                       .slot = slot,
                       .kv_bytes = s.tokens * kv_bytes_per_token_,
                       .tokens = s.tokens,
                       .last_token = s.last_token,
                       .kv_crc32c = s.kv_crc32c};
}

void SequenceTable::landed(uint32_t slot, uint64_t offset, uint64_t length) {
  if (slot >= slots_.size() || slots_[slot].phase != Phase::reserved || length == 0) return;
  Slot& s = slots_[slot];
  uint64_t& end = s.landed[offset];
  end = std::max(end, offset + length);
  // Merge what is now contiguous with the checked prefix, then check it.
  uint64_t reach = s.checked_tokens * kv_bytes_per_token_;
  for (auto it = s.landed.begin(); it != s.landed.end() && it->first <= reach;) {
    reach = std::max(reach, it->second);
    it = s.landed.erase(it);
  }
  if (reach % kv_bytes_per_token_ != 0) s.landed[reach - reach % kv_bytes_per_token_] = reach;  // a partial token waits
  check_to(slot, std::min(reach / kv_bytes_per_token_, max_tokens_));
}

void SequenceTable::check_to(uint32_t slot, uint64_t tokens) {
  Slot& s = slots_[slot];
  if (tokens <= s.checked_tokens || !s.bad.empty()) return;
  const auto kv = slot_span(slot);
  if (auto wrong = first_wrong_kv_token(kv, s.id, tokens, kv_bytes_per_token_, s.checked_tokens)) {
    s.bad = fmt::format("sequence {}: the KV bytes of token {} in slot {} are not what sequence {} generates", s.id,
                        *wrong, slot, s.id);
    return;
  }
  s.checked_crc32c = fabric::crc32c(kv.subspan(s.checked_tokens * kv_bytes_per_token_,
                                               (tokens - s.checked_tokens) * kv_bytes_per_token_),
                                    s.checked_crc32c);
  s.checked_tokens = tokens;
}

void SequenceTable::free_slot(uint32_t slot) {
  slot_of_.erase(slots_[slot].id);
  slots_[slot] = Slot{};
}

Answer SequenceTable::start(uint64_t id, uint64_t context_tokens) {
  if (slot_of_.count(id) != 0) return refuse(fmt::format("sequence {} already exists here", id));
  if (context_tokens >= max_tokens_)
    return refuse(fmt::format("sequence {}: {} context tokens leave no room under --max-tokens {}", id,
                              context_tokens, max_tokens_));
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    if (slots_[slot].phase != Phase::free) continue;
    auto kv = slot_span(slot);
    write_kv(kv, id, 0, context_tokens, kv_bytes_per_token_);
    slots_[slot] = Slot{.phase = Phase::decoding,
                        .id = id,
                        .tokens = context_tokens,
                        .last_token = last_token_after(id, context_tokens),
                        .kv_crc32c = fabric::crc32c(kv.first(context_tokens * kv_bytes_per_token_)),
                        .migration_id = 0};
    slot_of_[id] = slot;
    return Answer{.ok = true, .message = {}, .sequences = {state_of(slot)}};
  }
  return refuse(fmt::format("sequence {}: no free slot (capacity {})", id, slots_.size()));
}

StepResult SequenceTable::step() {
  StepResult result;
  std::vector<uint32_t> finished_slots;
  for (const auto& [id, slot] : slot_of_) {
    Slot& s = slots_[slot];
    if (s.phase != Phase::decoding) continue;
    const uint64_t index = s.tokens;
    auto kv = slot_span(slot);
    write_kv(kv, id, index, 1, kv_bytes_per_token_);
    s.kv_crc32c = fabric::crc32c(kv.subspan(index * kv_bytes_per_token_, kv_bytes_per_token_), s.kv_crc32c);
    s.last_token = next_token(id, index, s.last_token);
    s.tokens = index + 1;
    result.tokens.push_back(Token{.sequence = id, .index = index, .value = s.last_token});
    if (s.tokens == max_tokens_) {
      result.finished.push_back(state_of(slot));
      finished_slots.push_back(slot);
    }
  }
  for (uint32_t slot : finished_slots) free_slot(slot);
  return result;
}

Answer SequenceTable::reserve(uint64_t migration_id, const std::vector<SequenceState>& wanted) {
  std::vector<uint32_t> free;
  for (uint32_t slot = 0; slot < slots_.size(); ++slot)
    if (slots_[slot].phase == Phase::free) free.push_back(slot);
  if (free.size() < wanted.size())
    return refuse(fmt::format("capacity short: {} free slots for {} sequences", free.size(), wanted.size()));
  for (size_t i = 0; i < wanted.size(); ++i) {
    const auto& w = wanted[i];
    if (auto it = slot_of_.find(w.id); it != slot_of_.end())
      return refuse(fmt::format("sequence {} is already here ({})", w.id, phase_name(slots_[it->second].phase)));
    for (size_t j = 0; j < i; ++j)
      if (wanted[j].id == w.id) return refuse(fmt::format("sequence {} is listed twice", w.id));
    if (w.kv_bytes != w.tokens * kv_bytes_per_token_)
      return refuse(fmt::format("sequence {}: {} KV bytes for {} tokens, but this host keeps {} bytes per token "
                                "(--kv-bytes-per-token must match on both hosts)",
                                w.id, w.kv_bytes, w.tokens, kv_bytes_per_token_));
    if (w.tokens >= max_tokens_)
      return refuse(fmt::format("sequence {}: {} tokens do not fit a slot of {} tokens (--max-tokens)", w.id,
                                w.tokens, max_tokens_));
  }
  Answer answer;
  for (size_t i = 0; i < wanted.size(); ++i) {
    const uint32_t slot = free[i];
    slots_[slot] = Slot{.phase = Phase::reserved,
                        .id = wanted[i].id,
                        .tokens = 0,
                        .last_token = 0,
                        .kv_crc32c = 0,
                        .migration_id = migration_id};
    slot_of_[wanted[i].id] = slot;
    answer.sequences.push_back(
        SequenceState{.id = wanted[i].id, .slot = slot, .kv_bytes = 0, .tokens = 0, .last_token = 0, .kv_crc32c = 0});
  }
  return answer;
}

Answer SequenceTable::pause(uint64_t migration_id, const std::vector<SequenceState>& which) {
  // A sequence that finished meanwhile is no longer here: the answer leaves it out.
  for (const auto& w : which) {
    auto it = slot_of_.find(w.id);
    if (it == slot_of_.end()) continue;
    const Slot& s = slots_[it->second];
    const bool paused_by_this = s.phase == Phase::paused && s.migration_id == migration_id;
    if (s.phase != Phase::decoding && !paused_by_this)
      return refuse(fmt::format("sequence {} is {} here, not decoding", w.id, phase_name(s.phase)));
  }
  Answer answer;
  for (const auto& w : which) {
    auto it = slot_of_.find(w.id);
    if (it == slot_of_.end()) continue;
    const uint32_t slot = it->second;
    slots_[slot].phase = Phase::paused;
    slots_[slot].migration_id = migration_id;
    answer.sequences.push_back(state_of(slot));
  }
  return answer;
}

std::string SequenceTable::check_slot(uint32_t slot, uint64_t id, uint64_t tokens, uint32_t expected_crc32c,
                                      bool check_crc) {
  const uint64_t kv_bytes = tokens * kv_bytes_per_token_;
  auto kv = slot_span(slot).first(kv_bytes);
  if (check_crc) {
    const uint32_t crc = fabric::crc32c(kv);
    if (crc != expected_crc32c)
      return fmt::format("sequence {}: CRC32C of the {} KV bytes in slot {} is {:08x}, the source's was {:08x}", id,
                         kv_bytes, slot, crc, expected_crc32c);
  }
  if (auto wrong = first_wrong_kv_token(kv, id, tokens, kv_bytes_per_token_))
    return fmt::format("sequence {}: the KV bytes of token {} in slot {} are not what sequence {} generates", id,
                       *wrong, slot, id);
  return {};
}

Answer SequenceTable::resume(uint64_t migration_id, const std::vector<SequenceState>& final_states) {
  std::string problems;
  auto note = [&problems](const std::string& problem) { problems += (problems.empty() ? "" : "; ") + problem; };
  for (const auto& f : final_states) {
    auto it = slot_of_.find(f.id);
    if (it == slot_of_.end() || slots_[it->second].phase != Phase::reserved ||
        slots_[it->second].migration_id != migration_id) {
      note(fmt::format("sequence {} has no reservation here for migration {}", f.id, migration_id));
      continue;
    }
    const uint32_t slot = it->second;
    if (f.slot != slot) {
      note(fmt::format("sequence {}: resumed in slot {}, but slot {} was reserved for it", f.id, f.slot, slot));
    } else if (f.kv_bytes != f.tokens * kv_bytes_per_token_ || f.tokens >= max_tokens_) {
      note(fmt::format("sequence {}: {} KV bytes for {} tokens do not fit this host's {} bytes per token and {} "
                       "tokens per slot",
                       f.id, f.kv_bytes, f.tokens, kv_bytes_per_token_, max_tokens_));
    } else if (check_to(slot, f.tokens); !slots_[slot].bad.empty()) {
      note(slots_[slot].bad);
    } else if (slots_[slot].checked_crc32c != f.kv_crc32c) {
      note(fmt::format("sequence {}: CRC32C of the {} KV bytes in slot {} is {:08x}, the source's was {:08x}", f.id,
                       f.kv_bytes, slot, slots_[slot].checked_crc32c, f.kv_crc32c));
    } else if (f.last_token != last_token_after(f.id, f.tokens)) {
      note(fmt::format("sequence {}: last_token {} is not its token {}", f.id, f.last_token, f.tokens - 1));
    }
  }
  if (!problems.empty()) {
    // All or none: a sequence resumed here while the source decodes it on would run twice.
    for (const auto& f : final_states) {
      auto it = slot_of_.find(f.id);
      if (it != slot_of_.end() && slots_[it->second].phase == Phase::reserved &&
          slots_[it->second].migration_id == migration_id)
        free_slot(it->second);
    }
    return refuse(problems + "; the reservations are dropped");
  }
  Answer answer;
  for (const auto& f : final_states) {
    Slot& s = slots_[f.slot];
    s.phase = Phase::decoding;
    s.tokens = f.tokens;
    s.last_token = f.last_token;
    s.kv_crc32c = f.kv_crc32c;
    answer.sequences.push_back(state_of(f.slot));
  }
  return answer;
}

Answer SequenceTable::release(uint64_t migration_id, const std::vector<SequenceState>& which) {
  for (const auto& w : which) {
    auto it = slot_of_.find(w.id);
    if (it == slot_of_.end()) return refuse(fmt::format("sequence {} is not on this host", w.id));
    const Slot& s = slots_[it->second];
    if (s.phase != Phase::paused || s.migration_id != migration_id)
      return refuse(fmt::format("sequence {} is {} here, not paused by migration {}: releasing it would lose its "
                                "tokens",
                                w.id, phase_name(s.phase), migration_id));
  }
  Answer answer;
  for (const auto& w : which) {
    const uint32_t slot = slot_of_.at(w.id);
    answer.sequences.push_back(state_of(slot));
    free_slot(slot);
  }
  return answer;
}

Answer SequenceTable::abort(uint64_t migration_id, const std::vector<SequenceState>& which) {
  for (const auto& w : which) {
    auto it = slot_of_.find(w.id);
    if (it == slot_of_.end()) continue;
    const Slot& s = slots_[it->second];
    if ((s.phase == Phase::paused || s.phase == Phase::reserved) && s.migration_id != migration_id)
      return refuse(fmt::format("sequence {} is {} by migration {}, not {}", w.id, phase_name(s.phase),
                                s.migration_id, migration_id));
  }
  // Sequences this host never had, or that never stopped decoding, need nothing.
  Answer answer;
  for (const auto& w : which) {
    auto it = slot_of_.find(w.id);
    if (it == slot_of_.end()) continue;
    const uint32_t slot = it->second;
    Slot& s = slots_[slot];
    if (s.phase == Phase::paused) {
      s.phase = Phase::decoding;
      s.migration_id = 0;
      answer.sequences.push_back(state_of(slot));
    } else if (s.phase == Phase::reserved || (s.phase == Phase::decoding && s.migration_id == migration_id)) {
      // Reserved, or resumed here while the source gave up and decodes them again: stop them here.
      answer.sequences.push_back(SequenceState{.id = s.id, .slot = slot, .kv_bytes = 0, .tokens = 0,
                                               .last_token = 0, .kv_crc32c = 0});
      free_slot(slot);
    }
  }
  return answer;
}

Answer SequenceTable::expect_prefill(uint64_t id, uint32_t slot) {
  if (slot >= slots_.size()) return refuse(fmt::format("slot {} is beyond the capacity {}", slot, slots_.size()));
  if (slots_[slot].phase != Phase::free)
    return refuse(fmt::format("slot {} is {}, not free", slot, phase_name(slots_[slot].phase)));
  if (slot_of_.count(id) != 0) return refuse(fmt::format("sequence {} already exists here", id));
  slots_[slot] = Slot{.phase = Phase::awaiting_prefill,
                      .id = id,
                      .tokens = 0,
                      .last_token = 0,
                      .kv_crc32c = 0,
                      .migration_id = 0};
  slot_of_[id] = slot;
  return Answer{};
}

std::optional<uint64_t> SequenceTable::awaiting_prefill(uint32_t slot) const {
  if (slot >= slots_.size() || slots_[slot].phase != Phase::awaiting_prefill) return std::nullopt;
  return slots_[slot].id;
}

Answer SequenceTable::adopt_prefill(uint32_t slot, uint64_t kv_bytes) {
  const auto id = awaiting_prefill(slot);
  if (!id) return refuse(fmt::format("slot {} awaits no prefill", slot));
  if (kv_bytes % kv_bytes_per_token_ != 0 || kv_bytes / kv_bytes_per_token_ >= max_tokens_)
    return refuse(fmt::format("sequence {}: a prefill of {} bytes is not a whole number of {}-byte tokens under "
                              "--max-tokens {} (do both hosts use the same --kv-bytes-per-token and --max-tokens?)",
                              *id, kv_bytes, kv_bytes_per_token_, max_tokens_));
  const uint64_t tokens = kv_bytes / kv_bytes_per_token_;
  if (auto problem = check_slot(slot, *id, tokens, 0, /*check_crc=*/false); !problem.empty()) return refuse(problem);
  Slot& s = slots_[slot];
  s.phase = Phase::decoding;
  s.tokens = tokens;
  s.last_token = last_token_after(*id, tokens);
  s.kv_crc32c = fabric::crc32c(slot_span(slot).first(kv_bytes));
  return Answer{.ok = true, .message = {}, .sequences = {state_of(slot)}};
}

std::vector<SequenceState> SequenceTable::decoding() const {
  std::vector<SequenceState> out;
  for (const auto& [id, slot] : slot_of_)
    if (slots_[slot].phase == Phase::decoding) out.push_back(state_of(slot));
  return out;
}

TableCounts SequenceTable::counts() const {
  TableCounts c;
  for (const auto& s : slots_) {
    switch (s.phase) {
      case Phase::free: ++c.free; break;
      case Phase::decoding: ++c.decoding; break;
      case Phase::paused: ++c.paused; break;
      case Phase::reserved: ++c.reserved; break;
      case Phase::awaiting_prefill: ++c.awaiting_prefill; break;
    }
  }
  return c;
}

}  // namespace railyard::decode_sim
