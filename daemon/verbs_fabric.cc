#include "daemon/verbs_fabric.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <utility>

#include "common/log.h"
#include "fabric/checksum.h"

namespace railyard::daemon {

namespace asio = boost::asio;

namespace {
// Announcements per peer message: well under the channel's message limit
// (a VerbsTransfer is at most ~50 bytes).
constexpr size_t kAnnouncementsPerMessage = 4096;
constexpr auto kSubmitRetry = std::chrono::milliseconds(1);

FabricEvent::Outcome failure_outcome(const VerbsPlaneEvent& e) {
  switch (e.post_error) {
    case verbs::PostError::ok:
      break;
    case verbs::PostError::full:
      return FabricEvent::Outcome::backlog_full;
    case verbs::PostError::unknown_peer:
      return FabricEvent::Outcome::peer_restarted;
    case verbs::PostError::unknown_local_region:
    case verbs::PostError::local_range:
    case verbs::PostError::unknown_remote_region:
    case verbs::PostError::remote_range:
      return FabricEvent::Outcome::rejected;
  }
  switch (e.status) {
    case verbs::WcStatus::remote_access:
    case verbs::WcStatus::remote_op:
    case verbs::WcStatus::local_protection:
      return FabricEvent::Outcome::rejected;  // the destination (or source) range is not there
    default:
      return FabricEvent::Outcome::peer_restarted;  // the peer was lost with the transfer unfinished
  }
}

fabric::LandingDescriptor descriptor_of(const v1::VerbsTransfer& t) {
  return fabric::LandingDescriptor{.transfer_id = t.transfer_id(),
                                   .region = t.region(),
                                   .offset = t.offset(),
                                   .length = t.length(),
                                   .cls = t.activation() ? fabric::TrafficClass::activation : fabric::TrafficClass::kv,
                                   .checksum = t.checksum(),
                                   .crc32c = t.crc32c()};
}
}  // namespace

VerbsFabric::VerbsFabric(asio::io_context& io, verbs::VerbsOps& ops, VerbsPlane::Settings settings,
                         RegionTable& regions, std::vector<std::string> peer_names, EventSink events,
                         MessageSink messages)
    : io_(io),
      plane_(std::make_unique<VerbsPlane>(ops, std::move(settings))),
      regions_(regions),
      peer_names_(std::move(peer_names)),
      events_(std::move(events)),
      messages_(std::move(messages)),
      peers_(peer_names_.size()),
      event_fd_(io),
      retry_timer_(io) {
  regions_.observe([this](uint32_t id, bool added) { added ? region_added(id) : region_retired(id); });
}

VerbsFabric::~VerbsFabric() {
  regions_.observe(nullptr);
  stop();
  plane_.reset();  // deregisters every region before the pins that keep them mapped go
  for (auto& [id, registrations] : registrations_)
    for (auto& r : registrations) RegionTable::unpin(r.pin);
  for (auto& p : peers_)
    for (auto& [id, t] : p.transfers) RegionTable::unpin(t.source);
}

void VerbsFabric::start() {
  plane_->start();
  event_fd_.assign(plane_->event_fd());
  watch_events();
}

void VerbsFabric::stop() {
  retry_timer_.cancel();
  if (event_fd_.is_open()) {
    boost::system::error_code ignored;
    event_fd_.cancel(ignored);
    event_fd_.release();
  }
  if (plane_) plane_->stop();
}

void VerbsFabric::watch_events() {
  event_fd_.async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
    if (ec) return;
    drain();
    watch_events();
  });
}

void VerbsFabric::step(uint64_t now) {
  flush();
  plane_->step(now);
}

bool VerbsFabric::progressing() {
  const uint64_t now = plane_->heartbeat();
  const bool moved = now != last_heartbeat_;
  last_heartbeat_ = now;
  return moved;
}

size_t VerbsFabric::outstanding(uint16_t peer) const { return peers_[peer].transfers.size(); }

void VerbsFabric::post(const FabricCommand& c, uint32_t local_region, uint64_t local_offset) {
  PeerState& p = peers_[c.peer];
  v1::VerbsTransfer a;
  a.set_transfer_id(c.transfer_id);
  a.set_region(c.dest_region);
  a.set_offset(c.dest_offset);
  a.set_length(c.source.bytes.size());
  a.set_activation(c.cls == fabric::TrafficClass::activation);
  if (c.checksum) {
    a.set_checksum(true);
    a.set_crc32c(fabric::crc32c(c.source.bytes));
  }
  p.transfers.emplace(c.transfer_id, Outgoing{.source = c.source,
                                              .announcement = std::move(a),
                                              .local_region = local_region,
                                              .local_offset = local_offset});
  p.queued.push_back(c.transfer_id);
  schedule_flush();
}

void VerbsFabric::schedule_flush() {
  if (flush_scheduled_) return;
  flush_scheduled_ = true;
  // Everything posted in this turn of the loop goes out in one announcement.
  asio::post(io_, [this] { flush(); });
}

void VerbsFabric::flush() {
  flush_scheduled_ = false;
  for (uint16_t peer = 0; peer < peers_.size(); ++peer) {
    const PeerState& p = peers_[peer];
    if (p.session && !p.awaiting_restart && (!p.queued.empty() || !p.withdrawn.empty())) flush_peer(peer);
  }
}

void VerbsFabric::announce(uint16_t peer, std::span<const uint64_t> ids, const Settled& settled) {
  PeerState& p = peers_[peer];
  size_t next = 0;
  do {  // at least one message when only withdrawals are due
    const size_t end = std::min(ids.size(), next + kAnnouncementsPerMessage);
    v1::PeerMessage m;
    auto* batch = m.mutable_verbs_transfers();
    for (size_t k = next; k < end; ++k) *batch->add_transfers() = p.transfers.at(ids[k]).announcement;
    for (uint64_t id : p.withdrawn) batch->add_withdrawn(id);
    std::string error;
    const bool sent = messages_(peer, m, error);
    if (sent) p.withdrawn.clear();  // else: with the next message
    settled(ids.subspan(next, end - next), sent, error);
    next = end;
  } while (next < ids.size());
}

void VerbsFabric::flush_peer(uint16_t peer) {
  PeerState& p = peers_[peer];
  const std::vector<uint64_t> queued = std::exchange(p.queued, {});
  announce(peer, queued, [&](std::span<const uint64_t> batch, bool announced, const std::string& error) {
    if (!announced && !batch.empty())
      log::warning("verbs: {} transfers to {} could not be announced ({}); they fail with BUSY", batch.size(),
                   peer_names_[peer], error);
    for (uint64_t id : batch) {
      // Unannounced, it could never be delivered: the workload posts it again.
      if (!announced) {
        finish(peer, id, FabricEvent::Outcome::backlog_full);
        continue;
      }
      Outgoing& t = p.transfers.at(id);
      t.posted = true;
      submit(VerbsCommand{.kind = VerbsCommand::Kind::post,
                          .peer = peer,
                          .transfer = verbs::TransferRequest{.id = static_cast<uint32_t>(id),  // the IMM
                                                             .peer = peer,
                                                             .local_region = t.local_region,
                                                             .local_offset = t.local_offset,
                                                             .length = t.announcement.length(),
                                                             .remote_region = t.announcement.region(),
                                                             .remote_offset = t.announcement.offset(),
                                                             .activation = t.announcement.activation()}});
    }
  });
}

void VerbsFabric::announce_restarted(uint16_t peer, const VerbsPlaneEvent& e) {
  PeerState& p = peers_[peer];
  if (!p.session || e.generation != p.generation) return;  // an older session's list: a newer one follows
  std::vector<uint64_t> again;
  for (uint32_t imm : e.ids) {
    const uint64_t id = full_id(peer, imm);
    if (auto it = p.transfers.find(id); it != p.transfers.end() && it->second.posted) again.push_back(id);
  }
  std::sort(again.begin(), again.end());
  if (!again.empty()) {
    announce(peer, again, [&](std::span<const uint64_t> batch, bool announced, const std::string& error) {
      if (announced) return;
      // The paths are not up yet: cancelled now, nothing of them is written
      // again; the plane's report fails them.
      log::warning("verbs: {} unfinished transfers to {} cannot be announced again ({}); they fail", batch.size(),
                   peer_names_[peer], error);
      for (uint64_t id : batch)
        submit(VerbsCommand{.kind = VerbsCommand::Kind::cancel,
                            .peer = peer,
                            .transfer = verbs::TransferRequest{.id = static_cast<uint32_t>(id), .peer = peer}});
    });
  }
  p.awaiting_restart = false;
  if (!p.queued.empty() || !p.withdrawn.empty()) flush_peer(peer);
}

void VerbsFabric::submit(VerbsCommand command) {
  // Commands keep their order: once one waits for room in the ring, the
  // rest queue behind it. (A post carries no bytes: copying it is cheap.)
  if (unsubmitted_.empty() && plane_->submit(command)) return;
  unsubmitted_.push_back(std::move(command));
  if (unsubmitted_.size() == 1) retry_submits_soon();
}

void VerbsFabric::retry_submits_soon() {
  retry_timer_.expires_after(kSubmitRetry);
  retry_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    while (!unsubmitted_.empty() && plane_->submit(unsubmitted_.front())) unsubmitted_.pop_front();
    if (!unsubmitted_.empty()) retry_submits_soon();
  });
}

void VerbsFabric::finish(uint16_t peer, uint64_t transfer_id, FabricEvent::Outcome outcome) {
  PeerState& p = peers_[peer];
  auto it = p.transfers.find(transfer_id);
  if (it == p.transfers.end()) return;  // already ended (a session lost before the plane's report)
  const uint64_t bytes = it->second.announcement.length();
  RegionTable::unpin(it->second.source);
  p.transfers.erase(it);
  events_(FabricEvent{.kind = FabricEvent::Kind::sent,
                      .outcome = outcome,
                      .peer = peer,
                      .transfer_id = transfer_id,
                      .bytes = outcome == FabricEvent::Outcome::ok ? bytes : 0});
}

uint64_t VerbsFabric::full_id(uint16_t peer, uint32_t imm) const {
  // The peer's unfinished ids span far less than 2^32, so the newest one's
  // upper half (or the one before it) completes the IMM.
  const auto& transfers = peers_[peer].transfers;
  if (transfers.empty()) return 0;
  const uint64_t newest = transfers.rbegin()->first;
  uint64_t id = (newest & ~uint64_t{0xffffffff}) | imm;
  if (id > newest) id -= uint64_t{1} << 32;
  return id;
}

void VerbsFabric::on_session(uint16_t peer, bool up) {
  PeerState& p = peers_[peer];
  p.landings.reset();  // the peer's announcements of the old session are void
  p.withdrawn.clear();
  p.session = up;
  ++p.generation;
  submit(VerbsCommand{.kind = up ? VerbsCommand::Kind::session_up : VerbsCommand::Kind::session_down, .peer = peer});
  p.awaiting_restart = up;  // until the plane's restarted list (announce_restarted)
  if (up) return;
  // Not handed to the plane yet: they fail now. Those it holds fail by its
  // report, after any completion already on its way.
  for (uint64_t id : p.queued) finish(peer, id, FabricEvent::Outcome::peer_restarted);
  p.queued.clear();
}

void VerbsFabric::on_message(uint16_t peer, const v1::PeerMessage& message) {
  if (peer >= peers_.size()) return;
  PeerState& p = peers_[peer];
  if (message.has_verbs_connection()) {
    const auto& c = message.verbs_connection();
    const auto* data = reinterpret_cast<const std::byte*>(c.data().data());
    submit(VerbsCommand{.kind = VerbsCommand::Kind::connection,
                        .peer = peer,
                        .rail = static_cast<uint8_t>(std::min<uint32_t>(c.rail(), 255)),
                        .bytes = std::vector<std::byte>(data, data + c.data().size())});
    return;
  }
  if (!message.has_verbs_transfers()) return;
  for (uint64_t id : message.verbs_transfers().withdrawn()) p.landings.withdraw(id);
  for (const auto& t : message.verbs_transfers().transfers()) {
    fabric::LandingDescriptor ready;
    switch (p.landings.announce(descriptor_of(t), ready)) {
      case fabric::Announce::deliver:
        land(peer, ready);
        break;
      case fabric::Announce::waiting:
        break;
      case fabric::Announce::out_of_order:
      case fabric::Announce::full:
        if (p.warned_refusals++ % 1000 == 0)
          log::warning("verbs: an announcement of transfer {} from {} was refused ({} so far): out of order or too "
                       "many waiting; that transfer will not be delivered here",
                       t.transfer_id(), peer_names_[peer], p.warned_refusals);
        break;
    }
  }
}

void VerbsFabric::land(uint16_t peer, const fabric::LandingDescriptor& d) {
  const RegionView region = regions_.lookup(d.region);
  if (!region || d.offset > region.length || d.length > region.length - d.offset) {
    // The bytes were written (the rkey let them in), so the region was there;
    // it has gone since, or the announcement does not match it.
    log::warning("verbs: transfer {} from {} landed in region {} [{}, +{}), which is not (or no longer) a region "
                 "of that size here; not delivered",
                 d.transfer_id, peer_names_[peer], d.region, d.offset, d.length);
    return;
  }
  bool checksum_ok = true;
  if (d.checksum)
    checksum_ok = fabric::crc32c(std::span<const std::byte>(region.base + d.offset, d.length)) == d.crc32c;
  events_(FabricEvent{.kind = FabricEvent::Kind::received,
                      .outcome = checksum_ok ? FabricEvent::Outcome::ok : FabricEvent::Outcome::checksum_failed,
                      .peer = peer,
                      .transfer_id = d.transfer_id,
                      .bytes = d.length,
                      .region = d.region,
                      .offset = d.offset,
                      .cls = d.cls,
                      .checksum_requested = d.checksum});
}

void VerbsFabric::region_added(uint32_t id) {
  Registration r;
  std::string error;
  const RegionView view = regions_.lookup(id);
  if (!view || regions_.pin(id, 0, 0, view.length, r.pin, error) != RegionTable::Error::none) return;
  r.base = view.base;
  r.length = view.length;
  auto& queue = registrations_[id];
  queue.push_back(r);
  if (queue.size() == 1) register_front(id);  // else: once the plane has let go of the older one
}

void VerbsFabric::register_front(uint32_t id) {
  const Registration& r = registrations_.at(id).front();
  submit(VerbsCommand{.kind = VerbsCommand::Kind::region_added, .region = id, .base = r.base, .length = r.length});
}

void VerbsFabric::region_retired(uint32_t id) {
  // The RegionTable holds one live registration per id: the newest.
  auto it = registrations_.find(id);
  if (it == registrations_.end() || it->second.back().retired) return;
  auto& queue = it->second;
  if (queue.size() == 1) {
    queue.back().retired = true;
    submit(VerbsCommand{.kind = VerbsCommand::Kind::region_retired, .region = id});
    return;
  }
  RegionTable::unpin(queue.back().pin);  // never handed to the plane
  queue.pop_back();
}

void VerbsFabric::region_let_go(uint32_t id) {
  auto it = registrations_.find(id);
  if (it == registrations_.end()) return;
  RegionTable::unpin(it->second.front().pin);
  it->second.pop_front();
  if (it->second.empty()) {
    registrations_.erase(it);
    return;
  }
  register_front(id);
}

void VerbsFabric::drain() {
  while (auto e = plane_->next_event()) on_plane_event(*e);
}

void VerbsFabric::on_plane_event(VerbsPlaneEvent& e) {
  switch (e.kind) {
    case VerbsPlaneEvent::Kind::sent:
      return finish(e.peer, full_id(e.peer, e.id), FabricEvent::Outcome::ok);
    case VerbsPlaneEvent::Kind::send_failed: {
      PeerState& p = peers_[e.peer];
      const uint64_t id = full_id(e.peer, e.id);
      if (p.transfers.count(id) == 0) return;
      log::warning("verbs: transfer {} to {} failed: {}", id, peer_names_[e.peer],
                   e.post_error != verbs::PostError::ok ? verbs::post_error_name(e.post_error)
                                                        : verbs::wc_status_name(e.status));
      if (p.session && !p.awaiting_restart) {  // announced in this session: the peer stops waiting for it
        p.withdrawn.push_back(id);
        schedule_flush();
      }
      return finish(e.peer, id, failure_outcome(e));
    }
    case VerbsPlaneEvent::Kind::received: {
      PeerState& p = peers_[e.peer];
      if (e.generation != p.generation) return;  // landed before the session changed: void with it
      fabric::LandingDescriptor ready;
      if (p.landings.land(e.id, ready) == fabric::Landing::deliver) land(e.peer, ready);
      return;
    }
    case VerbsPlaneEvent::Kind::restarted:
      return announce_restarted(e.peer, e);
    case VerbsPlaneEvent::Kind::connection: {
      v1::PeerMessage m;
      m.mutable_verbs_connection()->set_rail(e.rail);
      m.mutable_verbs_connection()->set_data(reinterpret_cast<const char*>(e.bytes.data()), e.bytes.size());
      std::string error;
      // Lost with the session, or refused by a backed-up channel: the plane resends every 250 ms.
      (void)messages_(e.peer, m, error);
      return;
    }
    case VerbsPlaneEvent::Kind::region_failed:
      log::warning("verbs: region {} cannot be registered with the RDMA devices ({}); transfers from or to it over "
                   "verbs fail. Raise the memory lock limit (LimitMEMLOCK=infinity, ulimit -l unlimited) if that "
                   "is the cause",
                   e.id, e.why);
      return region_let_go(e.id);
    case VerbsPlaneEvent::Kind::region_released:
      return region_let_go(e.id);
    case VerbsPlaneEvent::Kind::path_down:
      log::notice("verbs: the queue pair to {} on rail {} failed ({}); its slices moved to the other rails and it "
                  "reconnects",
                  peer_names_[e.peer], e.rail, verbs::wc_status_name(e.status));
      return;
  }
}

void VerbsFabric::fill_rail(size_t rail, v1::RailStatus& out) const {
  const VerbsSnapshot snap = plane_->snapshot();
  const VerbsRailInfo& info = plane_->rails()[rail];
  const VerbsRailSnapshot& s = snap.rails[rail];
  auto* v = out.mutable_verbs();
  v->set_device(info.device);
  v->set_port(info.port);
  v->set_gid_index(info.gid_index);
  v->set_gid(info.gid);
  v->set_link_layer(info.link_layer);
  v->set_mtu(info.mtu);
  v->set_tx_bytes(s.counters.tx_bytes);
  v->set_tx_slices(s.counters.tx_slices);
  v->set_tx_imm(s.counters.tx_imm);
  v->set_rx_imm(s.counters.rx_imm);
  v->set_rx_imm_bytes(s.counters.rx_imm_bytes);
  v->set_reposted_slices(s.counters.reposted_slices);
  v->set_wc_errors(s.counters.wc_errors);
  v->set_post_errors(s.counters.post_errors);
  v->set_post_busy(s.counters.post_busy);
  v->set_path_failures(s.counters.path_failures);
  v->set_cq_depth(s.counters.cq_depth);
  v->set_cq_capacity(s.counters.cq_capacity);
  v->set_qps_connected(s.counters.qps_connected);
  v->set_regions(s.regions);
  v->set_connection_refusals(s.connection_refusals);
  for (size_t p = 0; p < s.paths.size() && p < peer_names_.size(); ++p) {
    auto* path = v->add_paths();
    path->set_peer(peer_names_[p]);
    path->set_state(std::string(verbs::conn_state_name(s.paths[p])));
    path->set_sendable(s.sendable[p]);
  }
}

void VerbsFabric::fill_peer(uint16_t peer, v1::VerbsLandings& out) const {
  const fabric::LandingMatch& m = peers_[peer].landings;
  out.set_delivered(m.counters().delivered);
  out.set_waiting(m.waiting());
  out.set_early(m.counters().early);
  out.set_duplicates(m.counters().duplicates);
  out.set_refused(m.counters().refused);
  out.set_orphaned(m.counters().orphaned);
  out.set_withdrawn(m.counters().withdrawn);
}

}  // namespace railyard::daemon
