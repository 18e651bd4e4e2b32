#include "daemon/verbs_plane.h"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "common/clock.h"
#include "common/event_fd.h"
#include "common/log.h"

namespace railyard::daemon {

namespace {
constexpr uint64_t kTendIntervalNs = 250'000'000;    // connection resends and reopening failed paths
constexpr uint64_t kPublishIntervalNs = 100'000'000;  // statistics snapshot
constexpr uint64_t kMaxSleepNs = 50'000'000;          // idle sleep bound (link changes, heartbeat)
}  // namespace

namespace {
verbs::TransportConfig checked_transport_config(const VerbsPlane::Settings& s) {
  verbs::TransportConfig t = s.transport;
  t.node_id = s.self_node;
  t.max_peers = static_cast<uint16_t>(std::max<size_t>(1, s.peer_nodes.size()));
  if (const std::string why = verbs::check_config(t); !why.empty())
    throw std::runtime_error(fmt::format("verbs: {}", why));
  return t;
}
}  // namespace

VerbsPlane::VerbsPlane(verbs::VerbsOps& ops, Settings settings)
    : transport_(ops, checked_transport_config(settings)),
      rails_(std::move(settings.rails)),
      session_(settings.peer_nodes.size(), false),
      generation_(settings.peer_nodes.size(), 0) {
  for (Rail& rail : rails_) {
    std::string why;
    if (transport_.add_rail(rail.device, why) < 0) throw std::runtime_error(fmt::format("verbs: {}", why));
    const verbs::LocalEndpoint& ep = transport_.endpoint(info_.size());
    info_.push_back(VerbsRailInfo{.device = rail.device.device,
                                  .port = ep.port,
                                  .gid_index = ep.gid_index,
                                  .gid = verbs::format_gid(ep.gid),
                                  .link_layer = std::string(verbs::link_layer_name(ep.link_layer)),
                                  .mtu = verbs::mtu_bytes(ep.mtu)});
  }
  for (size_t p = 0; p < settings.peer_nodes.size(); ++p)
    transport_.set_peer(static_cast<uint16_t>(p), settings.peer_nodes[p]);
  link_up_.assign(rails_.size(), -1);
  counts_.rails.resize(rails_.size());
  for (auto& r : counts_.rails) {
    r.paths.assign(session_.size(), verbs::ConnState::idle);
    r.sendable.assign(session_.size(), false);
  }
  snapshot_ = counts_;
}

VerbsPlane::~VerbsPlane() {
  stop();
}

void VerbsPlane::start() {
  running_.store(true);
  thread_ = std::thread([this] { run(); });
}

void VerbsPlane::stop() {
  if (!thread_.joinable()) return;
  running_.store(false);
  command_fd_.wake();
  thread_.join();
}

bool VerbsPlane::submit(VerbsCommand command) {
  if (!commands_.push(std::move(command))) return false;
  command_fd_.wake();
  return true;
}

std::optional<VerbsPlaneEvent> VerbsPlane::next_event() {
  event_fd_.drain();
  return events_.pop();
}

VerbsSnapshot VerbsPlane::snapshot() const {
  std::lock_guard lock(snapshot_mu_);
  return snapshot_;
}

void VerbsPlane::emit(const VerbsPlaneEvent& event) {
  // As the fabric's data plane: wait for a control thread that fell this far
  // behind rather than lose a completion.
  wake_control_ = true;
  push_waiting(events_, event, event_fd_, running_);
}

void VerbsPlane::run() {
  while (running_.load(std::memory_order_relaxed)) {
    const uint64_t now = monotonic_ns();
    if (step(now)) continue;
    // Arm the CQs, then look once more: a completion that came in between
    // would otherwise wait for the next one to wake us.
    if (transport_.arm(transport_events_)) {
      translate();
      continue;
    }
    idle_wait(now, std::min({now + kMaxSleepNs, next_publish_, next_tend_}));
  }
}

void VerbsPlane::idle_wait(uint64_t now, uint64_t deadline) {
  if (deadline <= now) return;
  pollfd fds[verbs::kMaxVerbsRails + 1];
  size_t rail_of[verbs::kMaxVerbsRails + 1];
  nfds_t n = 0;
  fds[n++] = pollfd{.fd = command_fd_.fd(), .events = POLLIN, .revents = 0};
  for (size_t r = 0; r < transport_.rail_count(); ++r) {
    if (transport_.wait_fd(r) < 0) continue;
    rail_of[n] = r;
    fds[n++] = pollfd{.fd = transport_.wait_fd(r), .events = POLLIN, .revents = 0};
  }
  const timespec ts = to_timespec(deadline - now);
  if (::ppoll(fds, n, &ts, nullptr) <= 0) return;
  if (fds[0].revents & POLLIN) {
    command_fd_.drain();
  }
  for (nfds_t i = 1; i < n; ++i) {
    if (fds[i].revents & POLLIN) transport_.on_wakeup(rail_of[i]);
  }
}

bool VerbsPlane::step(uint64_t now) {
  bool busy = false;
  while (auto command = commands_.pop()) {
    handle(*command);
    busy = true;
  }
  follow_links();
  transport_.poll(transport_events_);
  busy |= !transport_events_.empty();
  translate();
  if (now >= next_tend_) {
    next_tend_ = now + kTendIntervalNs;
    tend_paths();
  }
  if (now >= next_publish_) publish(now);
  if (wake_control_) {  // one wake-up per turn, however many events
    event_fd_.wake();
    wake_control_ = false;
  }
  heartbeat_.store(++loops_, std::memory_order_relaxed);
  return busy;
}

void VerbsPlane::handle(VerbsCommand& c) {
  switch (c.kind) {
    case VerbsCommand::Kind::post: {
      const verbs::PostError e = transport_.post(c.transfer);
      if (e != verbs::PostError::ok)
        emit(VerbsPlaneEvent{.kind = VerbsPlaneEvent::Kind::send_failed, .peer = c.transfer.peer,
                             .id = c.transfer.id, .post_error = e});
      return;
    }
    case VerbsCommand::Kind::connection: {
      if (c.peer >= session_.size() || c.rail >= transport_.rail_count() || !session_[c.peer]) return;
      const verbs::AcceptOutcome o = transport_.on_message(c.peer, c.rail, c.bytes, message_);
      if (o.error != verbs::ConnError::ok) {
        // Late copies and crossed opens are part of the protocol; anything
        // else is worth a line (the session authenticated the sender).
        ++counts_.rails[c.rail].connection_refusals;
        const bool expected = o.error == verbs::ConnError::stale_epoch || o.error == verbs::ConnError::unexpected;
        if (!expected || o.verbs_errno != 0)
          log::warning("verbs: rail {}: a connection message from peer {} was refused ({}{}); the path reconnects",
                       transport_.rail_name(c.rail), c.peer, verbs::conn_error_name(o.error),
                       o.verbs_errno ? fmt::format(": {}", std::strerror(o.verbs_errno)) : std::string());
        return;
      }
      if (o.reply && !message_.empty())
        emit(VerbsPlaneEvent{.kind = VerbsPlaneEvent::Kind::connection, .peer = c.peer, .rail = c.rail,
                             .bytes = message_});
      return;
    }
    case VerbsCommand::Kind::session_up: {
      if (c.peer >= session_.size()) return;
      session_[c.peer] = true;
      ++generation_[c.peer];
      // A new session may be a restarted peer, its queue pairs and memory
      // gone: unfinished transfers start over on the new paths, once the
      // control thread has announced them again (it waits for this list).
      VerbsPlaneEvent restarted{.kind = VerbsPlaneEvent::Kind::restarted, .peer = c.peer,
                                .generation = generation_[c.peer]};
      transport_.restart_peer(c.peer, restarted.ids);
      emit(restarted);
      for (size_t r = 0; r < transport_.rail_count(); ++r) open_path(c.peer, r);
      return;
    }
    case VerbsCommand::Kind::session_down:
      if (c.peer >= session_.size()) return;
      session_[c.peer] = false;
      ++generation_[c.peer];
      transport_.reset_peer(c.peer);
      transport_.fail_peer(c.peer, transport_events_);
      return;
    case VerbsCommand::Kind::cancel:
      transport_.cancel(c.peer, c.transfer.id, transport_events_);
      return;
    case VerbsCommand::Kind::region_added: {
      std::string why;
      if (!transport_.register_region(c.region, c.base, c.length, why)) {
        emit(VerbsPlaneEvent{.kind = VerbsPlaneEvent::Kind::region_failed, .id = c.region, .why = why});
        return;
      }
      announce_regions();
      return;
    }
    case VerbsCommand::Kind::region_retired:
      if (transport_.retire_region(c.region) == verbs::MrRegistry::Retire::released)
        emit(VerbsPlaneEvent{.kind = VerbsPlaneEvent::Kind::region_released, .id = c.region});
      announce_regions();
      return;
  }
}

void VerbsPlane::open_path(uint16_t peer, size_t rail) {
  if (link_up_[rail] == 0) return;  // reopened when the link comes back
  if (int rc = transport_.open_path(peer, rail, message_); rc != 0) return;  // counted and logged by the transport
  emit(VerbsPlaneEvent{.kind = VerbsPlaneEvent::Kind::connection, .peer = peer, .rail = static_cast<uint8_t>(rail),
                       .bytes = message_});
}

void VerbsPlane::send_connection(uint16_t peer, size_t rail, verbs::ConnKind kind) {
  transport_.local_message(peer, rail, kind, message_);
  if (message_.empty()) return;
  emit(VerbsPlaneEvent{.kind = VerbsPlaneEvent::Kind::connection, .peer = peer, .rail = static_cast<uint8_t>(rail),
                       .bytes = message_});
}

void VerbsPlane::announce_regions() {
  for (uint16_t peer = 0; peer < session_.size(); ++peer) {
    if (!session_[peer]) continue;
    for (size_t r = 0; r < transport_.rail_count(); ++r) {
      const verbs::ConnState st = transport_.path_state(peer, r);
      // Paths still connecting carry the new list in their next connect.
      if (st == verbs::ConnState::rtr || st == verbs::ConnState::rts) send_connection(peer, r, verbs::ConnKind::regions);
    }
  }
}

void VerbsPlane::follow_links() {
  for (size_t r = 0; r < rails_.size(); ++r) {
    const bool up = rails_[r].link == nullptr ||
                    rails_[r].link->load(std::memory_order_relaxed) != nic::LinkState::down;
    if (link_up_[r] == static_cast<int>(up)) continue;
    const bool first = link_up_[r] < 0;
    link_up_[r] = up;
    if (first && up) continue;  // the port's own state stands until the netdev says otherwise
    transport_.set_link(r, up);  // down: every QP on the rail fails, its slices move
  }
}

void VerbsPlane::tend_paths() {
  for (uint16_t peer = 0; peer < session_.size(); ++peer) {
    if (!session_[peer]) continue;
    for (size_t r = 0; r < transport_.rail_count(); ++r) {
      if (transport_.path_sendable(peer, r) || link_up_[r] == 0) continue;
      const verbs::ConnState st = transport_.path_state(peer, r);
      if (st == verbs::ConnState::idle || st == verbs::ConnState::error) {
        open_path(peer, r);  // a new QP; the peer replaces its own
      } else {
        send_connection(peer, r, verbs::ConnKind::connect);  // lost or refused on the way: again
      }
    }
  }
}

void VerbsPlane::translate() {
  for (const verbs::VerbsEvent& e : transport_events_) {
    VerbsPlaneEvent out{.peer = e.peer, .rail = e.rail, .id = e.id, .status = e.status};
    if (e.peer < generation_.size()) out.generation = generation_[e.peer];
    switch (e.kind) {
      case verbs::VerbsEvent::Kind::sent: out.kind = VerbsPlaneEvent::Kind::sent; break;
      case verbs::VerbsEvent::Kind::send_failed: out.kind = VerbsPlaneEvent::Kind::send_failed; break;
      case verbs::VerbsEvent::Kind::received: out.kind = VerbsPlaneEvent::Kind::received; break;
      case verbs::VerbsEvent::Kind::region_released: out.kind = VerbsPlaneEvent::Kind::region_released; break;
      case verbs::VerbsEvent::Kind::path_down: out.kind = VerbsPlaneEvent::Kind::path_down; break;
    }
    emit(out);
  }
  transport_events_.clear();
}

void VerbsPlane::publish(uint64_t now) {
  next_publish_ = now + kPublishIntervalNs;
  const uint32_t regions = static_cast<uint32_t>(transport_.registry().live_count());
  for (size_t r = 0; r < transport_.rail_count(); ++r) {
    VerbsRailSnapshot& s = counts_.rails[r];
    s.counters = transport_.counters(r);
    s.regions = regions;
    for (uint16_t peer = 0; peer < session_.size(); ++peer) {
      s.paths[peer] = transport_.path_state(peer, r);
      s.sendable[peer] = transport_.path_sendable(peer, r);
    }
  }
  std::lock_guard lock(snapshot_mu_);
  snapshot_ = counts_;
}

}  // namespace railyard::daemon
