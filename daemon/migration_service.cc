#include "daemon/migration_service.h"

#include <algorithm>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "common/log.h"
#include "daemon/fabric_service.h"
#include "daemon/workload_server.h"

namespace railyard::daemon {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
constexpr size_t kHistory = 16;
constexpr auto kHeadroomMaxAge = std::chrono::seconds(5);

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

v1::MigrationCommand workload_step(v1::MigrationCommand::Kind kind, uint64_t migration, const std::string& peer) {
  v1::MigrationCommand command;
  command.set_kind(kind);
  command.set_migration_id(migration);
  command.set_peer(peer);
  return command;
}

std::vector<uint64_t> ids_of(const std::vector<v1::SequenceState>& sequences) {
  std::vector<uint64_t> ids;
  for (const auto& s : sequences) ids.push_back(s.id());
  return ids;
}
}  // namespace

const char* MigrationService::name(SourceState state) {
  switch (state) {
    case SourceState::offered: return "offered";
    case SourceState::precopy: return "precopy";
    case SourceState::pausing: return "pausing";
    case SourceState::final_copy: return "final_copy";
    case SourceState::committing: return "committing";
  }
  return "?";
}

const char* MigrationService::name(TargetState state) {
  switch (state) {
    case TargetState::reserving: return "reserving";
    case TargetState::reserved: return "reserved";
    case TargetState::resuming: return "resuming";
  }
  return "?";
}

void MigrationService::abort_workload(uint64_t migration, const std::string& peer, const std::vector<uint64_t>& ids) {
  v1::MigrationCommand abort = workload_step(v1::MigrationCommand::KIND_ABORT, migration, peer);
  for (uint64_t id : ids) abort.add_sequences()->set_id(id);
  workloads_.migration_command(abort, settings_.command_timeout, [migration](const v1::Ack& ack) {
    if (!ack.ok())
      log::err("migration {}: the decode workload did not take back the ABORT: {}", migration, ack.message());
  });
}

std::optional<std::string> choose_target(const std::vector<HeadroomCandidate>& peers, size_t sequences,
                                         std::chrono::milliseconds max_age) {
  const HeadroomCandidate* best = nullptr;
  auto key = [](const HeadroomCandidate& c) {
    return std::make_tuple(-static_cast<int64_t>(c.headroom.throttle_level()), c.headroom.thermal_margin_c(),
                           -c.headroom.congestion());
  };
  for (const auto& c : peers) {
    const auto& h = c.headroom;
    if (!h.decode_workload() || h.draining() || h.free_slots() < sequences || c.age > max_age) continue;
    if (best == nullptr || key(c) > key(*best)) best = &c;
  }
  if (best == nullptr) return std::nullopt;
  return best->peer;
}

struct MigrationService::Outgoing {
  struct Sequence {
    uint64_t id = 0;
    uint32_t slot = 0;
    uint32_t target_slot = 0;
    uint64_t sent = 0;  // KV bytes [0, sent) are copied or on their way
    bool ended = false;  // it finished on the source meanwhile: nothing to move
    v1::SequenceState final_state;
  };
  struct Copy {
    size_t sequence = 0;
    uint64_t from = 0, to = 0;
  };
  uint64_t id = 0;
  std::string peer;
  std::string reason;
  SourceState state = SourceState::offered;
  std::vector<Sequence> sequences;
  uint32_t target_region = 0;
  uint64_t target_slot_bytes = 0;
  std::deque<Copy> queued;
  size_t in_flight = 0;
  uint32_t rounds = 0;
  uint64_t bytes = 0, final_bytes = 0;
  uint64_t round_bytes = 0;                // queued by the current round
  Clock::time_point round_started;
  double copy_Bps = 0;                     // the last round's rate
  Clock::time_point started, paused;
  int64_t started_unix_ms = 0;
  asio::steady_timer timer;
  asio::steady_timer retry;
  asio::steady_timer overall;
  Done done;

  explicit Outgoing(asio::io_context& io) : timer(io), retry(io), overall(io) {}
};

struct MigrationService::Incoming {
  std::vector<v1::SequenceState> sequences;  // id and this host's slot
  TargetState state = TargetState::reserving;
  bool aborted = false;  // the source gave up while the workload was resuming them
  Clock::time_point started;
  int64_t started_unix_ms = 0;
};

MigrationService::MigrationService(asio::io_context& io, Settings settings, FabricService& fabric,
                                   WorkloadServer& workloads)
    : io_(io), settings_(std::move(settings)), fabric_(fabric), workloads_(workloads), headroom_timer_(io) {}

MigrationService::~MigrationService() { stop(); }

void MigrationService::start() {
  running_ = true;
  fabric_.on_message([this](const std::string& peer, const v1::PeerMessage& message) { on_message(peer, message); });
  fabric_.on_peer_change([this](const std::string& peer, bool up) { on_peer_change(peer, up); });
  advertise();
}

void MigrationService::stop() {
  if (!running_) return;
  running_ = false;
  headroom_timer_.cancel();
  if (outgoing_) fail("railyardd is stopping");
  fabric_.on_message(nullptr);
  fabric_.on_peer_change(nullptr);
}

int64_t MigrationService::unix_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool MigrationService::send(const std::string& peer, const v1::PeerMessage& message, std::string& error) {
  const std::string bytes = message.SerializeAsString();
  return fabric_.send_message(peer, std::as_bytes(std::span(bytes.data(), bytes.size())), error);
}

void MigrationService::advertise() {
  if (!running_) return;
  v1::PeerMessage message;
  v1::Headroom& h = *message.mutable_headroom();
  h.set_thermal_margin_c(1000.0);  // unknown unless the policy knows better
  if (headroom_source_) headroom_source_(h);
  const auto& decode = workloads_.decode();
  h.set_decode_workload(decode.has_value());
  if (decode) h.set_free_slots(decode->report.free_slots());
  for (const auto& peer : fabric_.peer_names()) {
    std::string ignored;
    if (fabric_.peer_up(peer)) send(peer, message, ignored);
  }
  headroom_timer_.expires_after(settings_.headroom_interval);
  headroom_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) advertise();
  });
}

void MigrationService::on_message(const std::string& peer, const v1::PeerMessage& message) {
  switch (message.body_case()) {
    case v1::PeerMessage::kHeadroom: {
      headroom_[peer] = {message.headroom(), Clock::now()};
      const auto& decode = workloads_.decode();
      if (!peer_headroom_ || !decode) return;
      uint32_t most = 0;
      for (const auto& [name, entry] : headroom_) {
        if (entry.first.decode_workload() && !entry.first.draining()) most = std::max(most, entry.first.free_slots());
      }
      const auto mine = static_cast<double>(std::max(1, decode->report.sequences_size()));
      peer_headroom_(std::min(1.0, most / mine));
      return;
    }
    case v1::PeerMessage::kOffer:
      return on_offer(peer, message.offer());
    case v1::PeerMessage::kAccept:
      return on_accept(peer, message.accept());
    case v1::PeerMessage::kRefuse:
      return on_refuse(peer, message.refuse());
    case v1::PeerMessage::kCommit:
      return on_commit(peer, message.commit());
    case v1::PeerMessage::kCommitted:
      return on_committed(peer, message.committed());
    case v1::PeerMessage::kAbort:
      return on_abort(peer, message.abort());
    case v1::PeerMessage::kVerbsConnection:
    case v1::PeerMessage::kVerbsTransfers:
      return;  // the fabric's own (FabricService), never handed on
    case v1::PeerMessage::BODY_NOT_SET:
      break;
  }
  log::warning("migration: {} sent a message of a kind this railyardd does not know; is it the same release?", peer);
}

void MigrationService::on_peer_change(const std::string& peer, bool up) {
  if (up) return;
  headroom_.erase(peer);
  if (outgoing_ && outgoing_->peer == peer) fail(fmt::format("lost the session with {}", peer));
  std::vector<uint64_t> ids;
  for (const auto& [key, in] : incoming_) {
    if (key.first == peer) ids.push_back(key.second);
  }
  for (uint64_t id : ids) {
    const Incoming& in = incoming_.at({peer, id});
    if (in.state == TargetState::reserved) abort_workload(id, peer, ids_of(in.sequences));
    end_incoming(peer, id, false, fmt::format("lost the session with {}", peer));
  }
}

// ---- source ----------------------------------------------------------------

bool MigrationService::migrate(const std::string& to, const std::vector<uint64_t>& sequences,
                               const std::string& reason, Done done, std::string& error) {
  if (outgoing_) {
    error = fmt::format("migration {} to {} is in flight; wait for it to end (railctl workload)", outgoing_->id,
                        outgoing_->peer);
    return false;
  }
  const auto& decode = workloads_.decode();
  if (!decode) {
    error = "no decode workload is registered on this host: nothing to migrate";
    return false;
  }
  std::vector<v1::SequenceState> chosen;
  const std::set<uint64_t> wanted(sequences.begin(), sequences.end());
  for (const auto& s : decode->report.sequences()) {
    if (wanted.empty() || wanted.contains(s.id())) chosen.push_back(s);
  }
  if (chosen.size() != (wanted.empty() ? chosen.size() : wanted.size())) {
    std::string missing;
    for (uint64_t id : wanted) {
      if (std::none_of(chosen.begin(), chosen.end(), [id](const auto& s) { return s.id() == id; }))
        missing += (missing.empty() ? "" : ", ") + std::to_string(id);
    }
    error = fmt::format("sequence(s) {} are not decoding on this host (railctl workload lists them)", missing);
    return false;
  }
  if (chosen.empty()) {
    error = "the decode workload has no sequences decoding: nothing to migrate";
    return false;
  }
  std::string target = to;
  if (target.empty()) {
    std::vector<HeadroomCandidate> candidates;
    for (const auto& [peer, entry] : headroom_) {
      candidates.push_back({.peer = peer,
                            .headroom = entry.first,
                            .age = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - entry.second)});
    }
    auto best = choose_target(candidates, chosen.size(), kHeadroomMaxAge);
    if (!best) {
      error = fmt::format("no peer advertises room for {} sequences (a decode workload, free slots, not draining); "
                          "name one with --to",
                          chosen.size());
      return false;
    }
    target = *best;
  } else if (!fabric_.peer_up(target)) {
    error = fmt::format("no session with {}: is it configured as a peer and is its railyardd running?", target);
    return false;
  }
  auto m = std::make_unique<Outgoing>(io_);
  m->id = next_id_++;
  m->peer = target;
  m->reason = reason;
  m->started = Clock::now();
  m->started_unix_ms = unix_ms();
  m->done = std::move(done);
  v1::PeerMessage message;
  auto& offer = *message.mutable_offer();
  offer.set_migration_id(m->id);
  offer.set_max_kv_bytes(decode->layout.slot_bytes());
  for (const auto& s : chosen) {
    m->sequences.push_back({.id = s.id(), .slot = s.slot(), .target_slot = 0, .sent = 0, .final_state = {}});
    auto* o = offer.add_sequences();
    o->set_id(s.id());
    o->set_kv_bytes(s.kv_bytes());
    o->set_tokens(s.tokens());
  }
  if (!send(target, message, error)) return false;
  log::info("migration {}: offering {} sequences to {} ({})", m->id, chosen.size(), target, reason);
  outgoing_ = std::move(m);
  outgoing_->overall.expires_after(settings_.overall_timeout);
  outgoing_->overall.async_wait([this, id = outgoing_->id](boost::system::error_code ec) {
    if (!ec && outgoing_ && outgoing_->id == id)
      fail(fmt::format("not done after {} s", settings_.overall_timeout.count() / 1000));
  });
  arm(settings_.offer_timeout, "waiting for the target to accept");
  return true;
}

void MigrationService::arm(std::chrono::milliseconds timeout, const std::string& what) {
  outgoing_->timer.expires_after(timeout);
  outgoing_->timer.async_wait([this, id = outgoing_->id, what, timeout](boost::system::error_code ec) {
    if (!ec && outgoing_ && outgoing_->id == id) fail(fmt::format("timed out after {} ms {}", timeout.count(), what));
  });
}

void MigrationService::on_accept(const std::string& peer, const v1::MigrateAccept& accept) {
  if (!outgoing_ || outgoing_->peer != peer || outgoing_->id != accept.migration_id() ||
      outgoing_->state != SourceState::offered)
    return;
  Outgoing& m = *outgoing_;
  m.timer.cancel();
  m.target_region = accept.region_id();
  m.target_slot_bytes = accept.slot_bytes();
  for (auto& s : m.sequences) {
    auto it = std::find_if(accept.sequences().begin(), accept.sequences().end(),
                           [&](const v1::SequenceState& a) { return a.id() == s.id; });
    if (it == accept.sequences().end())
      return fail(fmt::format("{} accepted without a slot for sequence {}", peer, s.id));
    s.target_slot = it->slot();
  }
  m.state = SourceState::precopy;
  log::info("migration {}: {} reserved slots; pre-copying KV", m.id, peer);
  arm(settings_.copy_stall_timeout, "waiting for KV copies to complete");
  plan_round();
}

void MigrationService::on_refuse(const std::string& peer, const v1::MigrateRefuse& refuse) {
  if (!outgoing_ || outgoing_->peer != peer || outgoing_->id != refuse.migration_id()) return;
  fail(fmt::format("{} refused: {}", peer, refuse.reason()));
}

// A round copies what each sequence's KV grew by since the last one, up to
// what the workload last reported; once little is left, the stop-and-copy.
void MigrationService::plan_round() {
  Outgoing& m = *outgoing_;
  const auto& decode = workloads_.decode();
  if (!decode) return fail("the decode workload went away");
  uint64_t dirty = 0;
  std::vector<std::pair<size_t, uint64_t>> grown;
  for (size_t i = 0; i < m.sequences.size(); ++i) {
    const auto& reported = decode->report.sequences();
    m.sequences[i].ended |= std::none_of(reported.begin(), reported.end(),
                                         [&](const v1::SequenceState& s) { return s.id() == m.sequences[i].id; });
    for (const auto& s : reported) {
      if (s.id() != m.sequences[i].id || s.kv_bytes() <= m.sequences[i].sent) continue;
      dirty += s.kv_bytes() - m.sequences[i].sent;
      grown.emplace_back(i, s.kv_bytes());
    }
  }
  if (m.rounds > 0) {
    const double seconds = std::chrono::duration<double>(Clock::now() - m.round_started).count();
    if (seconds > 0) m.copy_Bps = static_cast<double>(m.round_bytes) / seconds;
    const double left_s = m.copy_Bps > 0 ? static_cast<double>(dirty) / m.copy_Bps : 0;
    const bool quick = left_s <= std::chrono::duration<double>(settings_.stop_copy_time).count();
    const bool not_shrinking = dirty >= m.round_bytes;
    if (quick || not_shrinking || m.rounds >= settings_.max_rounds) return pause();
  }
  ++m.rounds;
  m.round_bytes = dirty;
  m.round_started = Clock::now();
  for (const auto& [i, to] : grown) {
    m.queued.push_back({.sequence = i, .from = m.sequences[i].sent, .to = to});
    m.sequences[i].sent = to;
  }
  if (m.queued.empty()) return pause();
  post_copies();
}

void MigrationService::post_copies() {
  Outgoing& m = *outgoing_;
  const auto& decode = workloads_.decode();
  if (!decode) return fail("the decode workload went away");
  const uint64_t slot_bytes = decode->layout.slot_bytes();
  while (!m.queued.empty()) {
    Outgoing::Copy& c = m.queued.front();
    const uint64_t length = std::min(c.to - c.from, settings_.copy_piece_bytes);
    const auto& s = m.sequences[c.sequence];
    v1::PostTransfer t;
    t.set_local_region(decode->layout.region_id());
    t.set_local_offset(uint64_t{s.slot} * slot_bytes + c.from);
    t.set_length(length);
    t.set_peer(m.peer);
    t.set_remote_region(m.target_region);
    t.set_remote_offset(uint64_t{s.target_slot} * m.target_slot_bytes + c.from);
    t.set_traffic_class(v1::TRAFFIC_CLASS_KV);
    const auto posted =
        fabric_.post_for(decode->owner, t, [this, id = m.id, length](v1::WorkloadError e) { on_copied(id, length, e); });
    if (posted.error == v1::WORKLOAD_ERROR_BUSY) {
      if (m.in_flight == 0) {  // nothing of ours will complete to retry on: poll
        m.retry.expires_after(std::chrono::milliseconds(5));
        m.retry.async_wait([this, id = m.id](boost::system::error_code ec) {
          if (!ec && outgoing_ && outgoing_->id == id) post_copies();
        });
      }
      return;
    }
    if (posted.error != v1::WORKLOAD_ERROR_NONE) return fail(fmt::format("copying KV failed: {}", posted.message));
    ++m.in_flight;
    c.from += length;
    if (c.from == c.to) m.queued.pop_front();
  }
}

void MigrationService::on_copied(uint64_t migration, uint64_t bytes, v1::WorkloadError error) {
  if (!outgoing_ || outgoing_->id != migration) return;
  Outgoing& m = *outgoing_;
  --m.in_flight;
  if (error != v1::WORKLOAD_ERROR_NONE)
    return fail(fmt::format("a KV copy to {} failed ({})", m.peer, v1::WorkloadError_Name(error)));
  m.bytes += bytes;
  if (m.state == SourceState::final_copy) m.final_bytes += bytes;
  arm(settings_.copy_stall_timeout, "waiting for KV copies to complete");
  if (!m.queued.empty()) return post_copies();
  if (m.in_flight != 0) return;
  if (m.state == SourceState::precopy) return plan_round();
  if (m.state == SourceState::final_copy) return commit();
}

void MigrationService::pause() {
  Outgoing& m = *outgoing_;
  m.state = SourceState::pausing;
  m.paused = Clock::now();
  v1::MigrationCommand command = workload_step(v1::MigrationCommand::KIND_PAUSE, m.id, m.peer);
  for (const auto& s : m.sequences) {
    if (!s.ended) command.add_sequences()->set_id(s.id);
  }
  workloads_.migration_command(command, settings_.command_timeout, [this, id = m.id](const v1::Ack& ack) {
    if (!outgoing_ || outgoing_->id != id) return;
    Outgoing& o = *outgoing_;
    if (!ack.ok()) return fail(fmt::format("the decode workload refused to pause: {}", ack.message()));
    o.state = SourceState::final_copy;
    arm(settings_.copy_stall_timeout, "waiting for KV copies to complete");
    for (auto& s : o.sequences) {
      auto it = std::find_if(ack.sequences().begin(), ack.sequences().end(),
                             [&](const v1::SequenceState& a) { return a.id() == s.id; });
      s.ended |= it == ack.sequences().end();  // finished before the pause
      if (s.ended) continue;
      s.final_state = *it;
      if (it->kv_bytes() < s.sent)
        return fail(fmt::format("sequence {} reports {} KV bytes, fewer than the {} already copied", s.id,
                                it->kv_bytes(), s.sent));
      if (it->kv_bytes() > s.sent)
        o.queued.push_back({.sequence = static_cast<size_t>(&s - o.sequences.data()), .from = s.sent,
                            .to = it->kv_bytes()});
      s.sent = it->kv_bytes();
    }
    if (o.queued.empty()) return commit();
    post_copies();
  });
}

void MigrationService::commit() {
  Outgoing& m = *outgoing_;
  m.state = SourceState::committing;
  v1::PeerMessage message;
  auto& c = *message.mutable_commit();
  c.set_migration_id(m.id);
  for (const auto& s : m.sequences) {
    if (s.ended) continue;
    v1::SequenceState* f = c.add_sequences();
    *f = s.final_state;
    f->set_slot(s.target_slot);
  }
  std::string error;
  if (!send(m.peer, message, error)) return fail(error);
  arm(settings_.commit_timeout, "waiting for the target to resume the sequences");
}

void MigrationService::on_committed(const std::string& peer, const v1::MigrateCommitted& committed) {
  if (!outgoing_ || outgoing_->peer != peer || outgoing_->id != committed.migration_id() ||
      outgoing_->state != SourceState::committing)
    return;
  if (!committed.ok()) return fail(fmt::format("{} could not resume the sequences: {}", peer, committed.reason()));
  Outgoing& m = *outgoing_;
  v1::MigrationCommand release = workload_step(v1::MigrationCommand::KIND_RELEASE, m.id, m.peer);
  for (const auto& s : m.sequences) {
    if (!s.ended) release.add_sequences()->set_id(s.id);
  }
  workloads_.migration_command(release, settings_.command_timeout, [id = m.id](const v1::Ack& ack) {
    if (!ack.ok())
      log::warning("migration {}: the decode workload did not release the moved sequences: {}", id, ack.message());
  });
  finish(true, "");
}

void MigrationService::fail(const std::string& error) {
  Outgoing& m = *outgoing_;
  // The sequences serve on here: un-pause them (harmless for ones never paused).
  std::vector<uint64_t> ids;
  for (const auto& s : m.sequences) ids.push_back(s.id);
  abort_workload(m.id, m.peer, ids);
  if (fabric_.peer_up(m.peer)) {
    v1::PeerMessage message;
    message.mutable_abort()->set_migration_id(m.id);
    message.mutable_abort()->set_reason(error);
    std::string ignored;
    send(m.peer, message, ignored);
  }
  finish(false, error);
}

void MigrationService::finish(bool moved, const std::string& error) {
  std::unique_ptr<Outgoing> m = std::move(outgoing_);
  m->timer.cancel();
  m->retry.cancel();
  m->overall.cancel();
  const auto moving =
      std::count_if(m->sequences.begin(), m->sequences.end(), [](const auto& s) { return !s.ended; });
  v1::MigrationStatus status;
  status.set_id(m->id);
  status.set_role("source");
  status.set_peer(m->peer);
  status.set_state(moved ? "done" : "failed");
  status.set_sequences(static_cast<uint32_t>(moving));
  status.set_kv_bytes_copied(m->bytes);
  status.set_final_copy_bytes(m->final_bytes);
  status.set_rounds(m->rounds);
  if (moved) status.set_downtime_ms(ms_since(m->paused));
  status.set_total_ms(ms_since(m->started));
  status.set_error(error);
  status.set_reason(m->reason);
  status.set_started_unix_ms(m->started_unix_ms);
  if (moved) {
    log::info("migration {}: {} sequences moved to {} in {:.1f} ms ({} rounds, {} KV bytes; paused {:.1f} ms)", m->id,
              moving, m->peer, status.total_ms(), m->rounds, m->bytes, status.downtime_ms());
  } else {
    log::warning("migration {} to {} failed: {}; its {} sequences decode on here", m->id, m->peer, error, moving);
  }
  remember(status);
  if (m->done) m->done(status);
}

// ---- target ----------------------------------------------------------------

void MigrationService::on_offer(const std::string& peer, const v1::MigrateOffer& offer) {
  const uint64_t id = offer.migration_id();
  auto refuse = [&](const std::string& reason) {
    log::info("migration {} from {} refused: {}", id, peer, reason);
    v1::PeerMessage message;
    message.mutable_refuse()->set_migration_id(id);
    message.mutable_refuse()->set_reason(reason);
    std::string ignored;
    send(peer, message, ignored);
  };
  const auto& decode = workloads_.decode();
  if (!decode) return refuse(fmt::format("no decode workload is registered on {}", settings_.host));
  if (decode->layout.slot_bytes() < offer.max_kv_bytes())
    return refuse(fmt::format("{}'s slots hold {} KV bytes, fewer than the source's {}", settings_.host,
                              decode->layout.slot_bytes(), offer.max_kv_bytes()));
  if (incoming_.contains({peer, id})) return;  // a repeated offer: the first one is being answered
  incoming_[{peer, id}] = Incoming{.sequences = {}, .state = TargetState::reserving, .started = Clock::now(),
                                   .started_unix_ms = unix_ms()};
  v1::MigrationCommand reserve = workload_step(v1::MigrationCommand::KIND_RESERVE, id, peer);
  *reserve.mutable_sequences() = offer.sequences();
  workloads_.migration_command(reserve, settings_.command_timeout, [this, peer, id, refuse](const v1::Ack& ack) {
    auto it = incoming_.find({peer, id});
    if (it == incoming_.end()) {  // the source gave up meanwhile: undo the reservation
      if (ack.ok()) abort_workload(id, peer, ids_of({ack.sequences().begin(), ack.sequences().end()}));
      return;
    }
    const auto& decode_now = workloads_.decode();
    if (!ack.ok() || !decode_now) {
      incoming_.erase(it);
      return refuse(ack.ok() ? "the decode workload went away" : ack.message());
    }
    it->second.state = TargetState::reserved;
    it->second.sequences.assign(ack.sequences().begin(), ack.sequences().end());
    v1::PeerMessage message;
    auto& accept = *message.mutable_accept();
    accept.set_migration_id(id);
    accept.set_region_id(decode_now->layout.region_id());
    accept.set_slot_bytes(decode_now->layout.slot_bytes());
    *accept.mutable_sequences() = ack.sequences();
    std::string error;
    if (!send(peer, message, error)) log::warning("migration {} from {}: cannot accept: {}", id, peer, error);
  });
}

void MigrationService::on_commit(const std::string& peer, const v1::MigrateCommit& commit) {
  const uint64_t id = commit.migration_id();
  auto it = incoming_.find({peer, id});
  if (it == incoming_.end() || it->second.state != TargetState::reserved) return;
  it->second.state = TargetState::resuming;
  v1::MigrationCommand resume = workload_step(v1::MigrationCommand::KIND_RESUME, id, peer);
  *resume.mutable_sequences() = commit.sequences();
  workloads_.migration_command(resume, settings_.command_timeout, [this, peer, id](const v1::Ack& ack) {
    auto in = incoming_.find({peer, id});
    if (in != incoming_.end() && in->second.aborted) {
      // The source decodes them again: stop them here, or both hosts would.
      if (ack.ok()) abort_workload(id, peer, ids_of(in->second.sequences));
      return end_incoming(peer, id, false, fmt::format("{} aborted while they resumed here", peer));
    }
    v1::PeerMessage message;
    message.mutable_committed()->set_migration_id(id);
    message.mutable_committed()->set_ok(ack.ok());
    message.mutable_committed()->set_reason(ack.message());
    std::string error;
    if (!send(peer, message, error)) log::warning("migration {} from {}: cannot confirm: {}", id, peer, error);
    end_incoming(peer, id, ack.ok(), ack.ok() ? "" : ack.message());
  });
}

void MigrationService::on_abort(const std::string& peer, const v1::MigrateAbort& abort) {
  const uint64_t id = abort.migration_id();
  auto it = incoming_.find({peer, id});
  if (it == incoming_.end()) {
    auto done = std::find_if(resumed_.begin(), resumed_.end(),
                             [&](const auto& entry) { return entry.first == std::make_pair(peer, id); });
    if (done == resumed_.end()) return;
    log::warning("migration {} from {}: aborted after the sequences resumed here ({}); stopping them here",
                 id, peer, abort.reason());
    abort_workload(id, peer, ids_of(done->second));
    resumed_.erase(done);
    return;
  }
  if (it->second.state == TargetState::resuming) {
    it->second.aborted = true;  // settled when the workload answers the RESUME
    return;
  }
  // A reservation still being made is undone when the workload answers it.
  if (it->second.state == TargetState::reserved) abort_workload(id, peer, ids_of(it->second.sequences));
  end_incoming(peer, id, false, fmt::format("{} aborted: {}", peer, abort.reason()));
}

void MigrationService::end_incoming(const std::string& peer, uint64_t id, bool resumed, const std::string& error) {
  auto it = incoming_.find({peer, id});
  if (it == incoming_.end()) return;
  v1::MigrationStatus status;
  status.set_id(id);
  status.set_role("target");
  status.set_peer(peer);
  status.set_state(resumed ? "done" : "failed");
  status.set_sequences(static_cast<uint32_t>(it->second.sequences.size()));
  status.set_total_ms(ms_since(it->second.started));
  status.set_error(error);
  status.set_started_unix_ms(it->second.started_unix_ms);
  if (resumed) {
    log::info("migration {} from {}: {} sequences resumed here", id, peer, it->second.sequences.size());
    resumed_.emplace_back(std::make_pair(peer, id), it->second.sequences);
    if (resumed_.size() > kHistory) resumed_.pop_front();
  } else {
    log::warning("migration {} from {} ended without a move: {}", id, peer, error);
  }
  incoming_.erase(it);
  remember(status);
}

void MigrationService::remember(const v1::MigrationStatus& status) {
  history_.push_front(status);
  if (history_.size() > kHistory) history_.pop_back();
}

std::optional<v1::MigrationStatus> MigrationService::outgoing() const {
  if (!outgoing_) return std::nullopt;
  const Outgoing& m = *outgoing_;
  v1::MigrationStatus s;
  s.set_id(m.id);
  s.set_role("source");
  s.set_peer(m.peer);
  s.set_state(name(m.state));
  s.set_sequences(static_cast<uint32_t>(m.sequences.size()));
  s.set_kv_bytes_copied(m.bytes);
  s.set_rounds(m.rounds);
  s.set_total_ms(ms_since(m.started));
  s.set_reason(m.reason);
  s.set_started_unix_ms(m.started_unix_ms);
  return s;
}

v1::WorkloadReply MigrationService::workload() const {
  v1::WorkloadReply reply;
  const auto& decode = workloads_.decode();
  if (decode) {
    reply.set_decode_registered(true);
    reply.set_name(decode->name);
    reply.set_capacity(decode->layout.capacity());
    reply.set_free_slots(decode->report.free_slots());
    reply.set_tokens_per_second(decode->report.tokens_per_second());
    reply.set_throttle_level(decode->report.throttle_level());
    *reply.mutable_sequences() = decode->report.sequences();
    if (decode->reported != Clock::time_point{}) reply.set_report_age_s(ms_since(decode->reported) / 1000.0);
  }
  if (auto out = outgoing()) *reply.add_migrations() = std::move(*out);
  for (const auto& [key, in] : incoming_) {
    v1::MigrationStatus* s = reply.add_migrations();
    s->set_id(key.second);
    s->set_role("target");
    s->set_peer(key.first);
    s->set_state(name(in.state));
    s->set_sequences(static_cast<uint32_t>(in.sequences.size()));
    s->set_total_ms(ms_since(in.started));
    s->set_started_unix_ms(in.started_unix_ms);
  }
  for (const auto& h : history_) *reply.add_migrations() = h;
  for (const auto& [peer, entry] : headroom_) {
    v1::PeerHeadroom* p = reply.add_peers();
    p->set_peer(peer);
    *p->mutable_headroom() = entry.first;
    p->set_age_s(ms_since(entry.second) / 1000.0);
  }
  return reply;
}

}  // namespace railyard::daemon
