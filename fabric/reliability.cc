#include "fabric/reliability.h"

#include <algorithm>
#include <bit>
#include <cassert>

namespace railyard::fabric {

uint64_t widen_transfer_id(uint32_t low, uint64_t reference) {
  constexpr uint64_t kSpan = uint64_t{1} << 32;
  constexpr uint64_t kHalf = kSpan / 2;
  uint64_t id = (reference & ~(kSpan - 1)) | low;
  if (id > reference && id - reference > kHalf && id >= kSpan) {
    id -= kSpan;
  } else if (id < reference && reference - id > kHalf && id <= UINT64_MAX - kSpan) {
    id += kSpan;
  }
  return id;
}

// ---------------------------------------------------------------- ChunkWindow

void ChunkWindow::reset(std::span<uint64_t> words) {
  assert(words.size() == kWords);
  words_ = words.data();
  std::fill(words.begin(), words.end(), 0);
  base_ = 0;
}

bool ChunkWindow::test(uint32_t chunk) const {
  const uint32_t bit = chunk % kChunkWindow;
  return (words_[bit / 64] >> (bit % 64)) & 1;
}

bool ChunkWindow::done(uint32_t chunk) const {
  if (chunk < base_) return true;
  if (chunk - base_ >= kChunkWindow) return false;
  return test(chunk);
}

ChunkWindow::Mark ChunkWindow::mark(uint32_t chunk) {
  if (chunk < base_) return Mark::duplicate;
  if (chunk - base_ >= kChunkWindow) return Mark::out_of_window;
  if (test(chunk)) return Mark::duplicate;
  const uint32_t bit = chunk % kChunkWindow;
  words_[bit / 64] |= uint64_t{1} << (bit % 64);
  // Slide the base over the completed prefix, freeing those bits for the
  // chunks kChunkWindow further on.
  while (base_ != UINT32_MAX && test(base_)) {
    const uint32_t b = base_ % kChunkWindow;
    words_[b / 64] &= ~(uint64_t{1} << (b % 64));
    ++base_;
  }
  return Mark::fresh;
}

// -------------------------------------------------------------- InFlightTable

InFlightTable::InFlightTable(uint32_t capacity, uint8_t rails)
    : capacity_(std::bit_floor(std::clamp<uint32_t>(capacity, 64, kMaxInFlightPackets))),
      mask_(capacity_ - 1),
      entries_(capacity_),
      live_bits_(capacity_ / 64),
      rails_(std::clamp<uint8_t>(rails, 1, kMaxRails)) {
  for (RailQueue& q : rails_) q.seqs.assign(capacity_, 0);
}

bool InFlightTable::is_live(uint64_t seq) const {
  if (seq < base_ || seq >= next_seq_) return false;
  const uint64_t i = seq & mask_;
  return ((live_bits_[i / 64] >> (i % 64)) & 1) && entries_[i].seq == seq;
}

uint64_t InFlightTable::floor() {
  while (base_ < next_seq_ && !is_live(base_)) base_ = next_live(base_, next_seq_);
  return base_;
}

uint64_t InFlightTable::next_live(uint64_t from, uint64_t to) const {
  from = std::max(from, base_);
  to = std::min(to, next_seq_);
  while (from < to) {
    const uint64_t i = from & mask_;
    const uint64_t word = live_bits_[i / 64] >> (i % 64);
    if (word == 0) {
      from += 64 - (i % 64);  // nothing live in the rest of this word
      continue;
    }
    from += static_cast<uint64_t>(std::countr_zero(word));
    if (from >= to) break;
    if (is_live(from)) return from;
    ++from;
  }
  return to;
}

uint64_t InFlightTable::add(InFlight e) {
  assert(next_seq_ - base_ < capacity_);
  const uint64_t seq = next_seq_++;
  e.seq = seq;
  const uint64_t i = seq & mask_;
  entries_[i] = e;
  live_bits_[i / 64] |= uint64_t{1} << (i % 64);
  ++live_;
  ++rail_live_[e.rail];
  RailQueue& q = rails_[e.rail];
  trim(q);
  // The queue holds at most the sequences in [base, next_seq): fewer than capacity.
  q.seqs[(q.head + q.size) & mask_] = seq;
  ++q.size;
  return seq;
}

const InFlight* InFlightTable::find(uint64_t seq) const { return is_live(seq) ? &entries_[seq & mask_] : nullptr; }

bool InFlightTable::sent_record(uint64_t seq, uint64_t& sent_ns, uint8_t& rail) const {
  if (seq == 0 || seq >= next_seq_) return false;
  const InFlight& e = entries_[seq & mask_];
  if (e.seq != seq) return false;  // overwritten by a later sequence
  sent_ns = e.sent_ns;
  rail = e.rail;
  return true;
}

void InFlightTable::erase(uint64_t seq) {
  const uint64_t i = seq & mask_;
  live_bits_[i / 64] &= ~(uint64_t{1} << (i % 64));
  --live_;
  --rail_live_[entries_[i].rail];
}

bool InFlightTable::remove(uint64_t seq, InFlight& out) {
  if (!is_live(seq)) return false;
  out = entries_[seq & mask_];
  erase(seq);
  return true;
}

void InFlightTable::trim(RailQueue& q) {
  while (q.size != 0 && !is_live(q.seqs[q.head])) {
    q.head = (q.head + 1) & mask_;
    --q.size;
  }
}

bool InFlightTable::take_lost_by_sack(uint8_t rail, uint32_t threshold, uint32_t window, InFlight& out) {
  RailQueue& q = rails_[rail];
  trim(q);
  if (q.size < 2) return false;
  uint32_t acked = 0;
  const uint32_t look = std::min<uint32_t>(window, q.size - 1);
  for (uint32_t k = 1; k <= look && acked < threshold; ++k)
    if (!is_live(q.seqs[(q.head + k) & mask_])) ++acked;
  if (acked < threshold) return false;
  return remove(q.seqs[q.head], out);
}

bool InFlightTable::take_lost_by_timeout(uint8_t rail, uint64_t now, uint64_t rto_ns, InFlight& out) {
  RailQueue& q = rails_[rail];
  trim(q);
  if (q.size == 0) return false;
  const InFlight& e = entries_[q.seqs[q.head] & mask_];
  if (now < e.sent_ns || now - e.sent_ns < rto_ns) return false;
  return remove(e.seq, out);
}

bool InFlightTable::take_any(uint8_t rail, InFlight& out) {
  RailQueue& q = rails_[rail];
  trim(q);
  if (q.size == 0) return false;
  return remove(q.seqs[q.head], out);
}

bool InFlightTable::oldest_sent(uint8_t rail, uint64_t& sent_ns) {
  RailQueue& q = rails_[rail];
  trim(q);
  if (q.size == 0) return false;
  sent_ns = entries_[q.seqs[q.head] & mask_].sent_ns;
  return true;
}

// ----------------------------------------------------------------- RecvWindow

RecvWindow::RecvWindow() : bits_(kBits / 64) {}

bool RecvWindow::test(uint64_t seq) const {
  const uint64_t i = seq % kBits;
  return (bits_[i / 64] >> (i % 64)) & 1;
}
void RecvWindow::set(uint64_t seq) {
  const uint64_t i = seq % kBits;
  bits_[i / 64] |= uint64_t{1} << (i % 64);
}
void RecvWindow::clear(uint64_t seq) {
  const uint64_t i = seq % kBits;
  bits_[i / 64] &= ~(uint64_t{1} << (i % 64));
}

void RecvWindow::advance_to(uint64_t floor) {
  if (floor > cum_) {
    if (floor - cum_ >= kBits) {
      std::fill(bits_.begin(), bits_.end(), 0);
    } else {
      // Word at a time: a floor far ahead costs kBits / 64 steps, not kBits.
      uint64_t s = cum_;
      while (s < floor) {
        const uint64_t i = s % kBits;
        const uint64_t n = std::min<uint64_t>(64 - i % 64, floor - s);
        const uint64_t mask = n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1) << (i % 64);
        bits_[i / 64] &= ~mask;
        s += n;
      }
    }
    cum_ = floor;
    high_ = std::max(high_, cum_);
  }
  while (cum_ < high_ && test(cum_)) clear(cum_++);
}

RecvWindow::Result RecvWindow::receive(uint64_t seq, uint64_t floor) {
  if (!in_window(seq)) return Result::out_of_window;
  if (floor <= seq) advance_to(floor);
  if (seq < cum_) return Result::duplicate;
  if (test(seq)) return Result::duplicate;
  set(seq);
  high_ = std::max(high_, seq + 1);
  advance_to(cum_);
  return Result::fresh;
}

void RecvWindow::fill_ack(uint64_t trigger, AckBody& ack) const {
  ack.cum = cum_;
  ack.block_count = 0;
  SackBlock first{};
  if (trigger > cum_ && trigger < high_ && test(trigger)) {
    uint64_t s = trigger;
    uint64_t e = trigger + 1;
    while (s - 1 > cum_ && test(s - 1)) --s;  // s-1 == cum_ is never set
    while (e < high_ && test(e)) ++e;
    first = {.start = s, .end = e};
    ack.blocks[ack.block_count++] = first;
  }
  uint64_t s = cum_ + 1;
  while (s < high_ && ack.block_count < kMaxSackBlocks) {
    if (!test(s)) {
      ++s;
      continue;
    }
    uint64_t e = s + 1;
    while (e < high_ && test(e)) ++e;
    if (s != first.start) ack.blocks[ack.block_count++] = {.start = s, .end = e};
    s = e + 1;
  }
}

}  // namespace railyard::fabric
