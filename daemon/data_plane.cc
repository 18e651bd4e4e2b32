#include "daemon/data_plane.h"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>

#include "common/clock.h"
#include "common/event_fd.h"
#include "common/log.h"

namespace railyard::daemon {

namespace {
constexpr size_t kBurst = 64;                              // frames per rail per loop
constexpr uint64_t kHandshakeIntervalNs = 250'000'000;     // INIT (and CONFIRM) retry while not established
constexpr uint64_t kConfirmTimeoutNs = 2'000'000'000;      // an initiator that never hears the peer starts over
constexpr uint64_t kPublishIntervalNs = 100'000'000;       // statistics snapshot
constexpr uint64_t kPeerLostNs = 10'000'000'000;           // every rail down this long: fail its transfers
constexpr uint64_t kMaxSleepNs = 50'000'000;               // idle sleep bound (keeps epochs moving)
constexpr size_t kPendingPerPeer = 16384;                  // transfers queued or in flight per peer

// Adds one counters struct to another: the engines' counter structs are
// plain uint64_t fields, and a peer's totals run over all its sessions.
template <class Counters>
void add_counters(Counters& total, const Counters& c) {
  static_assert(std::is_trivially_copyable_v<Counters> && sizeof(Counters) % sizeof(uint64_t) == 0);
  using Words = std::array<uint64_t, sizeof(Counters) / sizeof(uint64_t)>;
  Words a = std::bit_cast<Words>(total);
  const Words b = std::bit_cast<Words>(c);
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  total = std::bit_cast<Counters>(a);
}

FabricEvent::Outcome outcome_of(fabric::TransferStatus status) {
  switch (status) {
    case fabric::TransferStatus::ok: return FabricEvent::Outcome::ok;
    case fabric::TransferStatus::rejected: return FabricEvent::Outcome::rejected;
    case fabric::TransferStatus::stale: return FabricEvent::Outcome::stale;
    case fabric::TransferStatus::conflict: return FabricEvent::Outcome::conflict;
  }
  return FabricEvent::Outcome::rejected;
}

uint64_t wall_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

struct DataPlane::PeerState {
  struct Pending {
    uint64_t transfer_id = 0;  // 0: free
    RegionTable::Pin source;
    uint32_t dest_region = 0;
    uint64_t dest_offset = 0;
    fabric::TrafficClass cls = fabric::TrafficClass::kv;
    bool checksum = false;
    bool posted = false;  // handed to the current session's Sender
  };

  PeerState(uint16_t i, std::span<const std::byte> psk, uint64_t self, uint64_t peer)
      : index(i), auth(psk, self, peer) {
    pending.resize(kPendingPerPeer);
    free_slots.reserve(kPendingPerPeer);
    for (size_t s = kPendingPerPeer; s-- > 0;) free_slots.push_back(static_cast<uint32_t>(s));
  }

  const uint16_t index;
  fabric::PeerAuth auth;
  uint64_t session = 0;
  std::unique_ptr<fabric::PeerSession> engines;  // while a session exists
  bool confirming = false;  // initiator: session started, the peer not heard on it yet
  uint64_t confirm_since = 0;
  uint64_t next_handshake = 0;
  size_t handshake_rail = 0;  // where the next INIT (or CONFIRM) goes
  uint64_t all_down_since = 0;
  std::vector<Pending> pending;
  std::vector<uint32_t> free_slots;
  std::deque<uint32_t> backlog;  // slots waiting for the Sender (no session yet, or its slots full)
  PeerSnapshot stats;  // the engines' counters here are those of sessions that ended

  /// Folds the ending session's counters into the peer's totals.
  void retire_engines() {
    add_counters(stats.sender, engines->sender().counters());
    add_counters(stats.receiver, engines->receiver().counters());
    add_counters(stats.session_refused, engines->counters());
  }
};

uint64_t DataPlane::node_id(std::string_view host_name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : host_name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h == 0 ? 1 : h;
}

DataPlane::DataPlane(Settings settings, RegionTable& regions)
    : rails_(std::move(settings.rails)),
      peers_(std::move(settings.peers)),
      self_node_(settings.self_node),
      psk_(std::move(settings.psk)),
      packet_auth_(settings.packet_auth),
      thread_init_(std::move(settings.thread_init)),
      regions_(regions) {
  if (rails_.size() > fabric::kMaxRails)
    throw std::runtime_error(fmt::format("{} rails configured; the fabric drives at most {}", rails_.size(),
                                         fabric::kMaxRails));
  for (size_t i = 0; i < peers_.size(); ++i)
    state_.push_back(std::make_unique<PeerState>(static_cast<uint16_t>(i), psk_, self_node_, peers_[i].node));
  tx_frames_.resize(rails_.size());
  tx_room_.resize(rails_.size());
  batches_.resize(rails_.size());
  for (size_t r = 0; r < rails_.size(); ++r) {
    tx_frames_[r].resize(kBurst);
    tx_room_[r].resize(kBurst * fabric::kTxRoom);
    batches_[r] = fabric::TxBatch{.frames = tx_frames_[r], .room = tx_room_[r], .count = 0};
  }
  rx_frames_.resize(kBurst);
  for (const auto& rail : rails_) message_limit_ = std::min(message_limit_, rail->max_datagram());
  last_link_.assign(rails_.size(), nic::LinkState::unknown);
  down_events_.assign(rails_.size(), 0);
  counts_.rails.resize(rails_.size());
  counts_.peers.resize(peers_.size());
  snapshot_ = counts_;
}

DataPlane::~DataPlane() {
  stop();
}

void DataPlane::start() {
  running_.store(true);
  thread_ = std::thread([this] { run(); });
}

void DataPlane::stop() {
  if (!thread_.joinable()) return;
  running_.store(false);
  command_fd_.wake();
  thread_.join();
  for (auto& p : state_) {
    for (auto& slot : p->pending) RegionTable::unpin(slot.source);
  }
}

bool DataPlane::submit(FabricCommand command) {
  if (!commands_.push(std::move(command))) return false;
  command_fd_.wake();
  return true;
}

bool DataPlane::send_message(uint16_t peer, std::span<const std::byte> datagram, uint32_t rail_shift) {
  if (peer >= state_.size() || datagram.size() > message_limit_) return false;
  MessageDatagram m{
      .peer = peer, .length = static_cast<uint16_t>(datagram.size()), .rail_shift = rail_shift, .bytes = {}};
  std::memcpy(m.bytes.data(), datagram.data(), datagram.size());
  if (!messages_out_.push(m)) return false;
  command_fd_.wake();
  return true;
}

std::optional<MessageDatagram> DataPlane::next_message() { return messages_in_.pop(); }

std::optional<FabricEvent> DataPlane::next_event() {
  event_fd_.drain();
  return events_.pop();
}

FabricSnapshot DataPlane::snapshot() const {
  std::lock_guard lock(snapshot_mu_);
  return snapshot_;
}

void DataPlane::emit(const FabricEvent& event) {
  // The control thread drains these; if it has fallen this far behind,
  // wait for it rather than lose a completion.
  wake_control_ = true;
  push_waiting(events_, event, event_fd_, running_);
}

void DataPlane::run() {
  if (thread_init_) thread_init_();
  uint64_t now = monotonic_ns();
  while (running_.load(std::memory_order_relaxed)) {
    now = monotonic_ns();
    bool busy = poll_commands(now);
    busy |= receive(now);
    for (size_t i = 0; i < state_.size(); ++i) {
      PeerState& p = *state_[i];
      handshake(p, static_cast<uint16_t>(i), now);
      drain_completions(p, static_cast<uint16_t>(i), now);
    }
    busy |= transmit(now);
    regions_.quiescent();
    if (wake_control_) {  // one wake-up per loop, however many events
      event_fd_.wake();
      wake_control_ = false;
    }
    if (now >= next_publish_) publish(now);
    ++counts_.loops;
    heartbeat_.store(counts_.loops, std::memory_order_relaxed);
    if (!busy) {
      uint64_t deadline = std::min(now + kMaxSleepNs, next_publish_);
      for (auto& p : state_) {
        if (p->engines) deadline = std::min(deadline, p->engines->sender().next_deadline());
        if (!p->engines || p->confirming) deadline = std::min(deadline, p->next_handshake);
      }
      idle_wait(now, deadline);
    }
  }
}

void DataPlane::idle_wait(uint64_t now, uint64_t deadline) {
  if (deadline <= now) return;
  pollfd fds[fabric::kMaxRails + 1];
  nfds_t n = 0;
  fds[n++] = pollfd{.fd = command_fd_.fd(), .events = POLLIN, .revents = 0};
  for (auto& rail : rails_) {
    if (rail->wait_fd() >= 0) fds[n++] = pollfd{.fd = rail->wait_fd(), .events = POLLIN, .revents = 0};
  }
  const timespec ts = to_timespec(deadline - now);
  ::ppoll(fds, n, &ts, nullptr);
  if (fds[0].revents & POLLIN) {
    command_fd_.drain();
  }
}

bool DataPlane::poll_commands(uint64_t now) {
  bool any = false;
  while (auto message = messages_out_.pop()) {
    any = true;
    // One rail at a time (fragments spread over rails would arrive out of
    // order and be resent); the control thread moves to the next when
    // messages get lost on it (a rail can look up from this end only).
    const PeerState& p = *state_[message->peer];
    uint32_t up = p.engines ? p.engines->sender().up_mask() : 0;
    if (up == 0) {
      ++counts_.messages_dropped;
      continue;
    }
    for (uint32_t skip = message->rail_shift % static_cast<uint32_t>(std::popcount(up)); skip > 0; --skip)
      up &= up - 1;
    if (!send_control(static_cast<uint8_t>(std::countr_zero(up)), message->peer, message->datagram()))
      ++counts_.messages_dropped;
  }
  while (auto command = commands_.pop()) {
    any = true;
    PeerState& p = *state_[command->peer];
    if (p.free_slots.empty()) {
      RegionTable::unpin(command->source);
      emit(FabricEvent{.kind = FabricEvent::Kind::sent, .outcome = FabricEvent::Outcome::backlog_full,
                       .peer = command->peer, .transfer_id = command->transfer_id, .done_ns = now});
      continue;
    }
    const uint32_t slot = p.free_slots.back();
    p.free_slots.pop_back();
    p.pending[slot] = PeerState::Pending{.transfer_id = command->transfer_id,
                                         .source = command->source,
                                         .dest_region = command->dest_region,
                                         .dest_offset = command->dest_offset,
                                         .cls = command->cls,
                                         .checksum = command->checksum,
                                         .posted = false};
    p.backlog.push_back(slot);
    post_backlog(p, now);
  }
  return any;
}

void DataPlane::post_backlog(PeerState& p, uint64_t now) {
  if (!p.engines) return;
  while (!p.backlog.empty()) {
    const uint32_t slot = p.backlog.front();
    PeerState::Pending& t = p.pending[slot];
    uint64_t engine_id = 0;
    const auto result = p.engines->sender().post(fabric::OutboundTransfer{.source = t.source.bytes,
                                                                .dest_region = t.dest_region,
                                                                .dest_offset = t.dest_offset,
                                                                .cls = t.cls,
                                                                .checksum = t.checksum,
                                                                .cookie = slot},
                                       engine_id);
    if (result == fabric::PostResult::busy) return;
    p.backlog.pop_front();
    if (result != fabric::PostResult::ok) {  // too large for the wire format
      emit(FabricEvent{.kind = FabricEvent::Kind::sent, .outcome = FabricEvent::Outcome::rejected,
                       .peer = p.index, .transfer_id = t.transfer_id, .done_ns = now});
      RegionTable::unpin(t.source);
      t.transfer_id = 0;
      p.free_slots.push_back(slot);
      continue;
    }
    t.posted = true;
  }
}

bool DataPlane::receive(uint64_t now) {
  bool any = false;
  for (size_t r = 0; r < rails_.size(); ++r) {
    const uint8_t rail = static_cast<uint8_t>(r);
    // Link changes reach every session's Sender at once (drains the rail).
    const nic::LinkState link = rails_[r]->link_state();
    if (link != last_link_[r]) {
      if (link == nic::LinkState::down) ++down_events_[r];
      last_link_[r] = link;
      for (size_t i = 0; i < state_.size(); ++i) {
        if (state_[i]->engines && (peers_[i].rail_mask & (1u << r)) != 0)
          state_[i]->engines->sender().set_link(rail, link, now);
      }
    }
    // A few bursts per rail per loop: keeps one busy rail from starving the others.
    for (int round = 0; round < 4; ++round) {
      const size_t n = rails_[r]->rx_burst(rx_frames_);
      if (n == 0) break;
      any = true;
      for (size_t k = 0; k < n; ++k) {
        const nic::RxFrame& frame = rx_frames_[k];
        if (frame.peer >= state_.size()) {
          ++counts_.rx_unknown_source;
          continue;
        }
        fabric::Packet& pkt = rx_packet_;
        if (fabric::parse(frame.bytes, pkt, counts_.malformed) != fabric::ParseResult::ok) continue;
        PeerState& p = *state_[frame.peer];
        switch (pkt.header.type) {
          case fabric::PacketType::data:
          case fabric::PacketType::ack:
          case fabric::PacketType::probe:
          case fabric::PacketType::probe_reply: {
            if (!p.engines) {
              ++p.stats.no_session;
              break;
            }
            std::span<std::byte> region;
            if (pkt.header.type == fabric::PacketType::data) {
              const RegionView view = regions_.lookup(p.engines->receiver().region_of(pkt.header));
              region = std::span<std::byte>(view.base, view.length);
            }
            p.engines->on_packet(pkt, rail, frame.ecn_ce, region, now);
            break;
          }
          case fabric::PacketType::handshake_init:
          case fabric::PacketType::handshake_reply:
          case fabric::PacketType::handshake_confirm:
            on_handshake(pkt, frame.peer, rail, now);
            break;
          case fabric::PacketType::message: {
            if (p.session == 0 || pkt.header.session != fabric::session_tag(p.session)) {
              ++p.stats.message_stale_session;
              break;
            }
            MessageDatagram m{
                .peer = frame.peer, .length = static_cast<uint16_t>(frame.bytes.size()), .rail_shift = 0, .bytes = {}};
            if (frame.bytes.size() <= m.bytes.size()) std::memcpy(m.bytes.data(), frame.bytes.data(), frame.bytes.size());
            if (frame.bytes.size() > m.bytes.size() || !messages_in_.push(m)) {
              ++counts_.messages_dropped;
              break;
            }
            wake_control_ = true;
            break;
          }
        }
      }
      if (n < rx_frames_.size()) break;
    }
  }
  return any;
}

bool DataPlane::send_control(uint8_t rail, uint16_t peer, std::span<const std::byte> datagram) {
  const nic::TxFrame frame{.header = datagram, .payload = {}, .peer = peer};
  return rails_[rail]->tx_burst(std::span<const nic::TxFrame>(&frame, 1)) == 1;
}

void DataPlane::handshake(PeerState& p, uint16_t index, uint64_t now) {
  if (p.engines) {
    // Every rail towards the peer down for long: its transfers cannot finish.
    if (p.engines->sender().up_mask() != 0) {
      p.all_down_since = 0;
    } else if (p.all_down_since == 0) {
      p.all_down_since = now;
    } else if (now - p.all_down_since > kPeerLostNs) {
      log::warning("fabric: every rail to peer {} has been down for {} s; failing its transfers and reconnecting",
                   peers_[index].name, kPeerLostNs / 1'000'000'000);
      fail_all(p, index, FabricEvent::Outcome::peer_restarted, now);
      drop_session(p, index, now);
      return;
    }
    if (p.engines->sender().desynchronized(now)) {
      ++p.stats.sessions_desynchronized;
      log::warning("fabric: the session with peer {} cannot make progress: its ACKs keep naming sequences this host "
                   "never sent, or it keeps losing a chunk it should take. Its state no longer matches ours, moved by "
                   "datagrams that were not ours (forged, on a rail that lets them in); starting a new session, "
                   "unfinished transfers are resent. fabric.packet_auth = \"mac\" on every host refuses such datagrams",
                   peers_[index].name);
      drop_session(p, index, now);
      return;
    }
    if (!p.confirming) return;
    if (p.engines->heard_peer()) {
      p.confirming = false;
      p.stats.confirmed = true;
      return;
    }
    if (now < p.next_handshake) return;
    if (now - p.confirm_since > kConfirmTimeoutNs) {
      log::warning("fabric: peer {} never answered on session {:016x} within {} s of confirming it (did our CONFIRM "
                   "get lost, or does it run another session?); starting a new handshake",
                   peers_[index].name, p.session, kConfirmTimeoutNs / 1'000'000'000);
      drop_session(p, index, now);
      return;
    }
  } else if (now < p.next_handshake) {
    return;
  }
  p.next_handshake = now + kHandshakeIntervalNs;
  fabric::Nonce nonce;
  if (!p.engines && !fabric::random_nonce(nonce)) return;
  // One INIT per attempt, on the next reachable rail in turn: the responder
  // answers every INIT it accepts with a fresh challenge, so the same INIT on
  // two rails would leave the two ends with different sessions. A CONFIRM the
  // peer has not acted on goes again the same way, on the next rail.
  for (size_t k = 0; k < rails_.size(); ++k) {
    const size_t r = (p.handshake_rail + k) % rails_.size();
    if ((peers_[index].rail_mask & (1u << r)) == 0 || rails_[r]->link_state() == nic::LinkState::down) continue;
    p.handshake_rail = r + 1;
    const uint8_t rail = static_cast<uint8_t>(r);
    const size_t len = p.engines ? p.auth.resend_confirm(wall_ns(), rail, control_buffer_)
                                 : p.auth.make_init(wall_ns(), nonce, rail, control_buffer_);
    if (len > 0) send_control(rail, index, std::span(control_buffer_).first(len));
    return;
  }
}

void DataPlane::on_handshake(const fabric::Packet& pkt, uint16_t index, uint8_t rail, uint64_t now) {
  PeerState& p = *state_[index];
  uint64_t session = 0;
  size_t len = 0;
  fabric::AuthResult result = fabric::AuthResult::bad_type;
  switch (pkt.header.type) {
    case fabric::PacketType::handshake_init: {
      // Answered with a challenge; the session, and any live one, stays as
      // it is until the initiator's CONFIRM shows it holds the key now.
      fabric::Nonce nonce;
      if (!fabric::random_nonce(nonce)) return;
      result = p.auth.on_init(pkt, wall_ns(), nonce, control_buffer_, len);
      if (result == fabric::AuthResult::ok) send_control(rail, index, std::span(control_buffer_).first(len));
      break;
    }
    case fabric::PacketType::handshake_reply:
      result = p.auth.on_reply(pkt, wall_ns(), control_buffer_, len, session);
      if (result == fabric::AuthResult::ok) {
        send_control(rail, index, std::span(control_buffer_).first(len));
        establish(p, index, session, false, now);
        p.handshake_rail = rail + 1u;  // a resent CONFIRM tries the next rail
      }
      break;
    case fabric::PacketType::handshake_confirm:
      result = p.auth.on_confirm(pkt, wall_ns(), session);
      if (result == fabric::AuthResult::ok) establish(p, index, session, true, now);
      // A probe on the session tells the initiator we run it (its CONFIRM may come again until then).
      if ((result == fabric::AuthResult::ok || result == fabric::AuthResult::already_confirmed) && p.engines &&
          p.engines->id() == session)
        p.engines->sender().request_probe(rail);
      break;
    default:
      break;
  }
  switch (result) {
    case fabric::AuthResult::ok:
    case fabric::AuthResult::already_confirmed:
    case fabric::AuthResult::crossed:
      return;
    default:
      break;
  }
  ++p.stats.handshake_refused[static_cast<size_t>(result)];
  ++p.stats.handshake_failures;
}

void DataPlane::establish(PeerState& p, uint16_t index, uint64_t session, bool confirmed, uint64_t now) {
  if (p.session == session) return;
  const uint64_t replaced = p.session;
  p.session = session;
  fabric::SessionConfig config{.auth = packet_auth_};
  config.sender.rails = config.receiver.rails = static_cast<uint8_t>(rails_.size());
  size_t chunk = SIZE_MAX;
  for (size_t r = 0; r < rails_.size(); ++r) {
    config.sender.peer_slot[r] = config.receiver.peer_slot[r] = index;
    if ((peers_[index].rail_mask & (1u << r)) != 0) chunk = std::min(chunk, rails_[r]->max_datagram());
  }
  const size_t tag = packet_auth_ == fabric::PacketAuth::mac ? fabric::kMacSize : 0;
  config.sender.chunk_bytes = static_cast<uint32_t>(std::min<size_t>(chunk - fabric::kDataHeaderSize - tag, UINT16_MAX));
  if (p.engines) p.retire_engines();
  p.engines = std::make_unique<fabric::PeerSession>(config, session, psk_, self_node_, peers_[index].node);
  p.confirming = !confirmed;
  p.confirm_since = now;
  p.next_handshake = now + kHandshakeIntervalNs;
  p.all_down_since = 0;
  for (size_t r = 0; r < rails_.size(); ++r) {
    const bool reachable = (peers_[index].rail_mask & (1u << r)) != 0;
    p.engines->sender().set_link(static_cast<uint8_t>(r), reachable ? rails_[r]->link_state() : nic::LinkState::down,
                                 now);
  }
  // Transfers of the previous session start over on this one: placement is
  // idempotent, so resending bytes that had landed is harmless.
  for (auto it = p.pending.rbegin(); it != p.pending.rend(); ++it) {
    if (it->transfer_id != 0 && it->posted) {
      it->posted = false;
      p.backlog.push_front(static_cast<uint32_t>(&*it - p.pending.data()));
    }
  }
  ++p.stats.handshakes;
  p.stats.established = true;
  p.stats.confirmed = confirmed;
  p.stats.session = session;
  if (replaced != 0) {
    ++p.stats.sessions_replaced;
    log::warning("fabric: session {:016x} with peer {} replaced by {:016x}: the peer completed a new handshake "
                 "(it restarted or lost the session); unfinished transfers are resent",
                 replaced, peers_[index].name, session);
  } else {
    log::info("fabric: session {:016x} with peer {} established ({}, packet_auth {})", session, peers_[index].name,
              confirmed ? "the peer confirmed our challenge" : "we confirmed the peer's reply",
              fabric::packet_auth_name(packet_auth_));
  }
  emit(FabricEvent{.kind = FabricEvent::Kind::peer_up, .peer = index, .session = session, .done_ns = now});
  post_backlog(p, now);
}

void DataPlane::drop_session(PeerState& p, uint16_t index, uint64_t now) {
  if (p.engines) p.retire_engines();
  p.engines.reset();
  p.session = 0;
  p.confirming = false;
  p.all_down_since = 0;
  p.next_handshake = now;
  p.stats.established = false;
  p.stats.confirmed = false;
  emit(FabricEvent{.kind = FabricEvent::Kind::peer_down, .peer = index, .done_ns = now});
}

void DataPlane::fail_all(PeerState& p, uint16_t index, FabricEvent::Outcome outcome, uint64_t now) {
  for (size_t slot = 0; slot < p.pending.size(); ++slot) {
    auto& t = p.pending[slot];
    if (t.transfer_id == 0) continue;
    emit(FabricEvent{.kind = FabricEvent::Kind::sent, .outcome = outcome, .peer = index,
                     .transfer_id = t.transfer_id, .done_ns = now});
    RegionTable::unpin(t.source);
    t = PeerState::Pending{};
    p.free_slots.push_back(static_cast<uint32_t>(slot));
  }
  p.backlog.clear();
}

void DataPlane::drain_completions(PeerState& p, uint16_t index, uint64_t now) {
  if (!p.engines) return;
  std::array<fabric::SendCompletion, 64> sent;
  bool any = false;
  while (size_t n = p.engines->sender().drain_completions(sent)) {
    any = true;
    for (size_t k = 0; k < n; ++k) {
      const uint32_t slot = static_cast<uint32_t>(sent[k].cookie);
      auto& t = p.pending[slot];
      const uint64_t bytes = t.source.bytes.size();
      const bool ok = sent[k].status == fabric::TransferStatus::ok;
      if (ok) p.stats.bytes_sent += bytes;
      emit(FabricEvent{.kind = FabricEvent::Kind::sent,
                       .outcome = outcome_of(sent[k].status),
                       .peer = index, .transfer_id = t.transfer_id, .bytes = bytes, .done_ns = now});
      RegionTable::unpin(t.source);
      t = PeerState::Pending{};
      p.free_slots.push_back(slot);
    }
  }
  std::array<fabric::RecvCompletion, 64> received;
  while (size_t n = p.engines->receiver().drain_completions(received)) {
    any = true;
    for (size_t k = 0; k < n; ++k) {
      const auto& c = received[k];
      p.stats.bytes_received += c.length;
      emit(FabricEvent{.kind = FabricEvent::Kind::received,
                       .outcome = c.checksum_ok ? FabricEvent::Outcome::ok : FabricEvent::Outcome::checksum_failed,
                       .peer = index, .transfer_id = c.transfer, .bytes = c.length, .done_ns = now,
                       .region = c.region, .offset = c.region_offset, .cls = c.cls,
                       .checksum_requested = c.checksum_requested});
    }
  }
  if (any) post_backlog(p, now);  // engine slots were freed
}

bool DataPlane::transmit(uint64_t now) {
  for (auto& b : batches_) b.count = 0;
  for (auto& p : state_) {
    if (p->engines) p->engines->poll_tx(now, batches_);
  }
  bool any = false;
  // Rails take turns going first: packets are stamped in poll_tx, so a rail
  // always sent last would carry every other rail's sendmmsg time in its RTT,
  // and delay-based congestion control would starve it on a busy CPU.
  const size_t first = static_cast<size_t>(counts_.loops % rails_.size());
  for (size_t k = 0; k < rails_.size(); ++k) {
    const size_t r = (first + k) % rails_.size();
    const size_t count = batches_[r].count;
    if (count == 0) continue;
    any = true;
    const std::span<const nic::TxFrame> frames(tx_frames_[r].data(), count);
    const size_t taken = rails_[r]->tx_burst(frames);
    if (taken < count) {
      for (auto& p : state_) {
        if (p->engines) p->engines->sender().on_tx_refused(static_cast<uint8_t>(r), frames.subspan(taken), now);
      }
    }
  }
  return any;
}

void DataPlane::publish(uint64_t now) {
  next_publish_ = now + kPublishIntervalNs;
  const bool new_rate = now - rate_since_ >= 1'000'000'000u;
  const double rate_seconds = static_cast<double>(now - rate_since_) / 1e9;
  rate_base_.resize(rails_.size());
  for (size_t r = 0; r < rails_.size(); ++r) {
    RailSnapshot& s = counts_.rails[r];
    const double tx_bps = s.tx_bps, rx_bps = s.rx_bps;
    const bool was_up = s.up;
    s = RailSnapshot{};
    s.counters = rails_[r]->counters();
    s.tx_bps = tx_bps;
    s.rx_bps = rx_bps;
    if (new_rate) {
      s.tx_bps = static_cast<double>(s.counters.tx_bytes - rate_base_[r].tx_bytes) * 8 / rate_seconds;
      s.rx_bps = static_cast<double>(s.counters.rx_bytes - rate_base_[r].rx_bytes) * 8 / rate_seconds;
      rate_base_[r] = s.counters;
    }
    s.link = rails_[r]->link_state();
    for (size_t i = 0; i < state_.size(); ++i) {
      const auto& p = *state_[i];
      if (!p.engines || (peers_[i].rail_mask & (1u << r)) == 0) continue;
      const auto st = p.engines->sender().rail_status(static_cast<uint8_t>(r));
      s.up |= st.up;
      if (!st.up) s.reason = st.reason;
      s.window_bytes += st.window_bytes;
      s.inflight_bytes += st.inflight_bytes;
      s.srtt_ns = std::max(s.srtt_ns, st.srtt_ns);
      s.delivery_rate_Bps += st.delivery_rate_Bps;
      s.retransmits += st.retransmits_sent;
      s.timeouts += st.timeouts;
      s.spurious_timeouts += st.spurious_timeouts;
      s.keepalives += st.keepalives;
    }
    // Ack silence takes a rail down without a link edge: count what the
    // snapshots see (a flap shorter than 100 ms may go uncounted).
    if (was_up && !s.up && s.link != nic::LinkState::down) ++down_events_[r];
    s.down_events = down_events_[r];
  }
  if (new_rate) rate_since_ = now;
  for (size_t i = 0; i < state_.size(); ++i) {
    auto& p = *state_[i];
    p.stats.backlog = p.backlog.size();
    PeerSnapshot& out = counts_.peers[i];
    out = p.stats;
    if (p.engines) {
      add_counters(out.sender, p.engines->sender().counters());
      add_counters(out.receiver, p.engines->receiver().counters());
      add_counters(out.session_refused, p.engines->counters());
    }
  }
  std::lock_guard lock(snapshot_mu_);
  snapshot_ = counts_;
}

}  // namespace railyard::daemon
