#include "drivers/nic/verbs/transport.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/log.h"

namespace railyard::verbs {
namespace {

constexpr uint64_t kSlotIndexMask = 0xffffffffu;
constexpr uint64_t send_wr_id(uint32_t slot, uint32_t gen) {
  return (uint64_t{gen & 0x7fffffff} << 32) | slot;
}

bool data_error(WcStatus s) {
  // The slice itself is bad (region gone at the peer, bad local key): sending
  // it on another rail would fail the same way.
  return s == WcStatus::remote_access || s == WcStatus::local_protection || s == WcStatus::remote_op;
}

}  // namespace

std::string check_config(const TransportConfig& c) {
  if (c.slice_bytes < kMinSliceBytes || c.slice_bytes > kMaxSliceBytes)
    return fmt::format("verbs.slice_bytes = {}: must be {} .. {} (64 KiB .. 1 MiB)", c.slice_bytes, kMinSliceBytes,
                       kMaxSliceBytes);
  if (c.max_peers == 0 || c.max_peers > 4096) return fmt::format("verbs.max_peers = {}: must be 1 .. 4096", c.max_peers);
  if (c.max_transfers == 0) return "verbs.max_transfers must be at least 1";
  if (c.qp_budget_bytes < c.slice_bytes)
    return fmt::format("verbs.qp_budget_bytes = {}: must be at least slice_bytes ({})", c.qp_budget_bytes,
                       c.slice_bytes);
  if (c.qp.send_depth < 1 || c.qp.send_depth > 16384)
    return fmt::format("verbs.send_depth = {}: must be 1 .. 16384", c.qp.send_depth);
  if (c.qp.recv_depth < 1 || c.qp.recv_depth > 16384)
    return fmt::format("verbs.recv_depth = {}: must be 1 .. 16384", c.qp.recv_depth);
  if (c.qp.retry_cnt > 7) return fmt::format("verbs.retry_cnt = {}: must be 0 .. 7", c.qp.retry_cnt);
  if (c.qp.rnr_retry > 7) return fmt::format("verbs.rnr_retry = {}: must be 0 .. 7 (7: forever)", c.qp.rnr_retry);
  if (c.qp.timeout > 31) return fmt::format("verbs.timeout = {}: must be 0 .. 31 (4.096 us << n)", c.qp.timeout);
  if (c.qp.min_rnr_timer > 31) return fmt::format("verbs.min_rnr_timer = {}: must be 0 .. 31", c.qp.min_rnr_timer);
  if (c.max_posts_per_poll == 0 || c.max_completions_per_poll == 0) return "verbs: per-poll limits must be positive";
  return {};
}

std::string_view post_error_name(PostError e) {
  switch (e) {
    case PostError::ok: return "ok";
    case PostError::unknown_peer: return "unknown peer";
    case PostError::unknown_local_region: return "unknown local region";
    case PostError::local_range: return "range outside the local region";
    case PostError::unknown_remote_region: return "the peer advertises no such region";
    case PostError::remote_range: return "range outside the remote region";
    case PostError::full: return "too many outstanding transfers";
  }
  return "unknown";
}

VerbsTransport::VerbsTransport(VerbsOps& ops, const TransportConfig& cfg)
    : ops_(ops),
      cfg_(cfg),
      registry_(std::make_unique<MrRegistry>(ops)),
      paths_(size_t{cfg.max_peers} * kMaxVerbsRails),
      peers_(cfg.max_peers),
      transfers_(cfg.max_transfers),
      wc_buf_(64),
      psn_state_(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^ cfg.node_id) {
  free_transfers_.reserve(cfg.max_transfers);
  for (uint32_t i = cfg.max_transfers; i > 0; --i) free_transfers_.push_back(i - 1);
}

VerbsTransport::~VerbsTransport() {
  // Order: QPs (ends all DMA), then the references they held, then MRs, then
  // CQs, channels, PDs and devices.
  for (Path& p : paths_)
    if (p.conn) p.conn->reset();
  for (uint32_t s = 0; s < slots_.size(); ++s)
    if (slots_[s].used) free_slot(s);
  for (Transfer& t : transfers_)
    if (t.used && t.region != MrRegistry::kNoEntry) registry_->unref(t.region);
  paths_.clear();
  registry_.reset();
  for (RailState& r : rails_) {
    if (r.unacked_events) ops_.ack_cq_events(r.ep.cq, r.unacked_events);
    ops_.destroy_cq(r.ep.cq);
    ops_.destroy_channel(r.channel);
    ops_.dealloc_pd(r.ep.pd);
    ops_.close(r.ctx);
  }
}

uint32_t VerbsTransport::next_psn() {
  // splitmix64: a fresh, unpredictable-enough starting PSN per QP, so a late
  // packet of an earlier QP with the same number is out of sequence.
  uint64_t z = (psn_state_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return static_cast<uint32_t>(z ^ (z >> 31)) & kMaxPsn;
}

int VerbsTransport::add_rail(const RailDeviceConfig& cfg, std::string& why) {
  if (rails_.size() >= kMaxVerbsRails) {
    why = fmt::format("at most {} verbs rails", kMaxVerbsRails);
    return -1;
  }
  if (registry_->live_count() + registry_->retired_pending() > 0) {
    why = "rails must be added before regions are registered";
    return -1;
  }
  std::vector<DeviceInfo> devs;
  if (int rc = ops_.devices(devs); rc != 0) {
    why = fmt::format("rail {}: no RDMA device can be used: ibv_get_device_list failed: {}{}", cfg.name,
                      std::strerror(rc),
                      rc == ENOSYS ? " (this kernel has no RDMA support: load the NIC's RDMA driver, or rdma_rxe for "
                                     "soft-RoCE; docs/VERBS.md)"
                                   : "");
    return -1;
  }
  auto dev = select_device(devs, cfg.device, why);
  if (!dev) {
    why = fmt::format("rail {}: {}", cfg.name, why);
    return -1;
  }
  RailState r{.cfg = cfg};
  auto undo = [this](RailState& s) {
    if (s.ep.cq) ops_.destroy_cq(s.ep.cq);
    if (s.channel) ops_.destroy_channel(s.channel);
    if (s.ep.pd) ops_.dealloc_pd(s.ep.pd);
    if (s.ctx) ops_.close(s.ctx);
  };
  if (int rc = ops_.open(*dev, r.ctx); rc != 0) {
    why = fmt::format("rail {}: cannot open {}: {}", cfg.name, *dev, std::strerror(rc));
    return -1;
  }
  PortInfo port;
  std::vector<GidEntry> gids;
  if (int rc = ops_.query_port(r.ctx, cfg.port, port); rc != 0) {
    why = fmt::format("rail {}: {} port {}: ibv_query_port failed: {}", cfg.name, *dev, cfg.port, std::strerror(rc));
    undo(r);
    return -1;
  }
  if (int rc = ops_.query_gids(r.ctx, cfg.port, gids); rc != 0) {
    why = fmt::format("rail {}: {} port {}: reading the GID table failed: {}", cfg.name, *dev, cfg.port,
                      std::strerror(rc));
    undo(r);
    return -1;
  }
  std::string gid_why;
  auto gid = select_gid(port, gids, cfg.gid_index, cfg.netdev_ifindex, gid_why);
  if (!gid) {
    why = fmt::format("rail {}: {} port {}: {}", cfg.name, *dev, cfg.port, gid_why);
    undo(r);
    return -1;
  }
  const uint64_t capacity = uint64_t{cfg_.max_peers} * (cfg_.qp.send_depth + cfg_.qp.recv_depth);
  int rc = ops_.alloc_pd(r.ctx, r.ep.pd);
  if (rc == 0) rc = ops_.create_channel(r.ctx, r.channel, r.fd);
  if (rc == 0) rc = ops_.create_cq(r.ctx, static_cast<uint32_t>(capacity), r.channel, r.ep.cq);
  if (rc != 0) {
    why = fmt::format("rail {}: {}: cannot create PD/CQ ({} entries): {}", cfg.name, *dev, capacity,
                      std::strerror(rc));
    undo(r);
    return -1;
  }
  const size_t index = rails_.size();
  r.ep = LocalEndpoint{.pd = r.ep.pd,
                       .cq = r.ep.cq,
                       .port = cfg.port,
                       .rail = static_cast<uint8_t>(index),
                       .mtu = port.active_mtu,
                       .link_layer = port.link_layer == LinkLayer::infiniband ? LinkLayer::infiniband
                                                                              : LinkLayer::ethernet,
                       .gid = gid->gid,
                       .gid_index = static_cast<uint8_t>(gid->index),
                       .lid = port.lid,
                       .node = cfg_.node_id};
  r.up = port.state == PortState::active;
  r.c.cq_capacity = capacity;
  if (!r.up) log::warning("verbs: rail {}: {} port {} is not active; the rail starts down", cfg.name, *dev, cfg.port);
  log::info("verbs: rail {}: {} port {} GID [{}] {} MTU {}", cfg.name, *dev, cfg.port, gid->index,
            format_gid(gid->gid), mtu_bytes(port.active_mtu));
  rails_.push_back(std::move(r));
  std::vector<PdHandle> pds;
  for (const RailState& s : rails_) pds.push_back(s.ep.pd);
  registry_->set_pds(std::move(pds));
  return static_cast<int>(index);
}

void VerbsTransport::set_peer(uint16_t slot, uint64_t node_id) {
  if (slot < peers_.size()) peers_[slot].node = node_id;
}

bool VerbsTransport::register_region(uint32_t id, void* base, uint64_t length, std::string& why) {
  return registry_->add(id, base, length, why);
}

MrRegistry::Retire VerbsTransport::retire_region(uint32_t id) { return registry_->retire(id); }

ConnState VerbsTransport::path_state(uint16_t peer, size_t rail) const {
  const Path& p = path(peer, rail);
  return p.conn ? p.conn->state() : ConnState::idle;
}

bool VerbsTransport::path_sendable(uint16_t peer, size_t rail) const {
  const Path& p = path(peer, rail);
  return p.conn && p.conn->sendable();
}

int VerbsTransport::open_path(uint16_t peer, size_t rail, std::vector<std::byte>& message) {
  message.clear();
  if (peer >= peers_.size() || rail >= rails_.size() || peers_[peer].node == 0) return EINVAL;
  Path& p = path(peer, rail);
  if (p.conn && p.conn->state() != ConnState::idle) reset_path(peer, rail);
  if (!p.conn) p.conn = std::make_unique<QpConnection>(ops_, rails_[rail].ep, cfg_.qp, peer, peers_[peer].node);
  if (int rc = p.conn->prepare(next_epoch(), next_psn()); rc != 0) {
    ++rails_[rail].c.post_errors;
    log::warning("verbs: rail {}: QP to peer {} could not be prepared: {}", rails_[rail].cfg.name, peer,
                 std::strerror(rc));
    return rc;
  }
  local_message(peer, rail, ConnKind::connect, message);
  return 0;
}

void VerbsTransport::local_message(uint16_t peer, size_t rail, ConnKind kind, std::vector<std::byte>& out) const {
  out.clear();
  const Path& p = path(peer, rail);
  if (!p.conn || p.conn->state() == ConnState::idle || p.conn->state() == ConnState::error) return;
  std::vector<RemoteRegion> regions;
  registry_->advertised(rail, regions);
  encode(p.conn->local_data(kind, regions), out);
}

AcceptOutcome VerbsTransport::on_message(uint16_t peer, size_t rail, std::span<const std::byte> bytes,
                                         std::vector<std::byte>& reply) {
  reply.clear();
  AcceptOutcome out;
  if (peer >= peers_.size() || rail >= rails_.size() || peers_[peer].node == 0) {
    out.error = ConnError::wrong_sender;
    return out;
  }
  ConnectionData d;
  if ((out.error = decode(bytes, d)) != ConnError::ok) return out;
  if ((out.error = bind(d, ConnBinding{.local_node = cfg_.node_id,
                                       .peer_node = peers_[peer].node,
                                       .rail = static_cast<uint8_t>(rail),
                                       .connected_epoch = d.epoch})) != ConnError::ok)
    return out;
  Path& p = path(peer, rail);
  const ConnState st = path_state(peer, rail);
  if (d.kind == ConnKind::connect) {
    // Epochs of one daemon only grow: an older one is a late copy.
    if (d.epoch < p.max_remote_epoch) {
      out.error = ConnError::stale_epoch;
      return out;
    }
    const uint64_t ours = p.conn ? p.conn->epoch() : 0;
    const bool connected = p.conn && p.conn->connected();
    if (d.peer_epoch != 0 && d.peer_epoch != ours) {
      out.error = ConnError::stale_epoch;  // an answer to one of our earlier QPs
      return out;
    }
    if (connected && d.epoch == p.conn->remote_epoch()) {
      // the same QP of the peer: an update (regions, readiness); accept() checks it
    } else if (d.peer_epoch == 0) {
      // The peer opened a new QP: connect a new one of ours to it (ours, if
      // already connected, is connected to a QP the peer has given up).
      if (st != ConnState::local_ready) {
        std::vector<std::byte> ignored;
        if (int rc = open_path(peer, rail, ignored); rc != 0) {
          out.verbs_errno = rc;
          out.error = ConnError::unexpected;
          return out;
        }
      }
    } else if (st != ConnState::local_ready) {
      out.error = ConnError::unexpected;  // an answer to our QP, which is no longer waiting for one
      return out;
    }
  }
  if (!p.conn) {
    out.error = ConnError::unexpected;
    return out;
  }
  if ((out.error = p.conn->accept(d)) != ConnError::ok) return out;
  p.max_remote_epoch = std::max(p.max_remote_epoch, d.epoch);
  if (p.conn->state() == ConnState::exchanged) {
    if (int rc = p.conn->connect(); rc != 0) {
      out.verbs_errno = rc;
      out.error = ConnError::unexpected;
      ++rails_[rail].c.path_failures;
      log::warning("verbs: rail {}: connecting the QP to peer {} failed: {}", rails_[rail].cfg.name, peer,
                   std::strerror(rc));
      return out;
    }
    out.reply = true;  // the peer must learn that this QP is now connected to its one
    local_message(peer, rail, ConnKind::connect, reply);
  }
  return out;
}

void VerbsTransport::reset_path(uint16_t peer, size_t rail) {
  Path& p = path(peer, rail);
  if (!p.conn) return;
  if (p.conn->state() != ConnState::error && p.conn->state() != ConnState::idle) path_failed(peer, rail, WcStatus::other, nullptr);
  p.conn->reset();  // destroying the QP ends the DMA of every WRITE it held
  release_path_slots(peer, rail);
  p.outstanding = 0;
  p.inflight_bytes = 0;
}

void VerbsTransport::reset_peer(uint16_t peer) {
  for (size_t r = 0; r < rails_.size(); ++r) {
    reset_path(peer, r);
    path(peer, r).max_remote_epoch = 0;  // a restarted peer counts its epochs from 1 again
  }
}

void VerbsTransport::restart_peer(uint16_t peer, std::vector<uint32_t>& restarted) {
  reset_peer(peer);  // every QP destroyed: nothing of the peer is in flight any more
  restarted.clear();
  for (uint32_t i = 0; i < transfers_.size(); ++i) {
    Transfer& t = transfers_[i];
    if (!t.used || t.req.peer != peer) continue;
    restarted.push_back(t.req.id);
    t.cursor = 0;
    t.data_left = t.nslices - 1;
    t.imm_posted = false;
    t.resend.clear();
    std::fill(t.done.begin(), t.done.end(), 0);
    make_ready(i);
  }
}

void VerbsTransport::set_link(size_t rail, bool up) {
  RailState& r = rails_[rail];
  if (r.up == up) return;
  r.up = up;
  log::notice("verbs: rail {} link {}", r.cfg.name, up ? "up" : "down");
  if (up) return;
  for (uint16_t peer = 0; peer < peers_.size(); ++peer) {
    Path& p = path(peer, rail);
    if (p.conn && p.conn->state() != ConnState::idle && p.conn->state() != ConnState::error)
      path_failed(peer, rail, WcStatus::other, nullptr);
  }
}

PostError VerbsTransport::post(const TransferRequest& t) {
  if (t.peer >= peers_.size() || peers_[t.peer].node == 0) return PostError::unknown_peer;
  const uint32_t entry = registry_->find(t.local_region);
  if (entry == MrRegistry::kNoEntry) return PostError::unknown_local_region;
  const MrRegistry::Entry& e = registry_->entry(entry);
  if (t.local_offset > e.length || t.length > e.length - t.local_offset) return PostError::local_range;
  // The remote range is checked against every connected QP that knows the
  // region; with none connected yet, at scheduling time.
  bool known = false, any_connected = false;
  for (size_t r = 0; r < rails_.size(); ++r) {
    const Path& p = path(t.peer, r);
    if (!p.conn || p.conn->state() != ConnState::rts) continue;
    any_connected = true;
    const RemoteRegion* rr = p.conn->remote_region(t.remote_region);
    if (!rr) continue;
    known = true;
    if (t.remote_offset > rr->length || t.length > rr->length - t.remote_offset) return PostError::remote_range;
  }
  if (any_connected && !known) return PostError::unknown_remote_region;
  if (free_transfers_.empty()) return PostError::full;
  const uint64_t n = std::max<uint64_t>(1, (t.length + cfg_.slice_bytes - 1) / cfg_.slice_bytes);
  const uint32_t index = free_transfers_.back();
  free_transfers_.pop_back();
  Transfer& x = transfers_[index];
  x.used = true;
  x.in_ready = false;
  x.imm_posted = false;
  x.req = t;
  x.region = entry;
  x.nslices = static_cast<uint32_t>(n);  // < 2^32: length fits the local region, and 2^32 slices are >= 256 TiB
  x.cursor = 0;
  x.data_left = x.nslices - 1;
  x.resend.clear();
  x.done.assign((x.nslices + 63) / 64, 0);
  registry_->ref(entry);
  ++transfers_live_;
  make_ready(index);
  return PostError::ok;
}

void VerbsTransport::fail_peer(uint16_t peer, std::vector<VerbsEvent>& events) {
  for (uint32_t i = 0; i < transfers_.size(); ++i)
    if (transfers_[i].used && transfers_[i].req.peer == peer)
      finish_transfer(i, VerbsEvent::Kind::send_failed, WcStatus::other, events);
  for (auto& q : peers_[peer].ready) q.clear();
}

bool VerbsTransport::cancel(uint16_t peer, uint32_t id, std::vector<VerbsEvent>& events) {
  for (uint32_t i = 0; i < transfers_.size(); ++i) {
    const Transfer& t = transfers_[i];
    if (!t.used || t.req.peer != peer || t.req.id != id) continue;
    // Slices still in flight find their transfer gone (generation) when they complete.
    finish_transfer(i, VerbsEvent::Kind::send_failed, WcStatus::other, events);
    return true;
  }
  return false;
}

void VerbsTransport::make_ready(uint32_t index) {
  Transfer& t = transfers_[index];
  if (t.in_ready) return;
  t.in_ready = true;
  peers_[t.req.peer].ready[t.req.activation ? 0 : 1].push_back(ReadyRef{index, t.gen});
}

void VerbsTransport::finish_transfer(uint32_t index, VerbsEvent::Kind kind, WcStatus status,
                                     std::vector<VerbsEvent>& events) {
  Transfer& t = transfers_[index];
  events.push_back(VerbsEvent{.kind = kind, .peer = t.req.peer, .id = t.req.id, .status = status});
  registry_->unref(t.region);
  t.region = MrRegistry::kNoEntry;
  t.used = false;
  t.in_ready = false;
  ++t.gen;
  free_transfers_.push_back(index);
  --transfers_live_;
}

uint32_t VerbsTransport::alloc_slot() {
  if (free_slots_.empty()) {
    slots_.emplace_back();
    return static_cast<uint32_t>(slots_.size() - 1);
  }
  const uint32_t s = free_slots_.back();
  free_slots_.pop_back();
  return s;
}

void VerbsTransport::free_slot(uint32_t s) {
  WrSlot& w = slots_[s];
  registry_->unref(w.region);
  w.used = false;
  ++w.gen;
  free_slots_.push_back(s);
}

void VerbsTransport::release_path_slots(uint16_t peer, size_t rail) {
  for (uint32_t s = 0; s < slots_.size(); ++s)
    if (slots_[s].used && slots_[s].peer == peer && slots_[s].rail == rail) free_slot(s);
}

void VerbsTransport::requeue(const WrSlot& w) {
  Transfer& t = transfers_[w.transfer];
  if (!t.used || t.gen != w.transfer_gen) return;
  ++rails_[w.rail].c.reposted_slices;
  if (w.imm) {
    t.imm_posted = false;
  } else if ((t.done[w.slice / 64] >> (w.slice % 64) & 1) == 0) {
    t.resend.push_back(w.slice);
  }
  make_ready(w.transfer);
}

void VerbsTransport::path_failed(uint16_t peer, size_t rail, WcStatus why, std::vector<VerbsEvent>* events) {
  Path& p = path(peer, rail);
  RailState& r = rails_[rail];
  ++r.c.path_failures;
  const uint64_t epoch = p.conn->epoch();
  for (WrSlot& w : slots_) {
    if (!w.used || w.orphaned || w.peer != peer || w.rail != rail || w.epoch != epoch) continue;
    w.orphaned = true;  // released by its flushed completion or when the QP is destroyed
    requeue(w);
  }
  p.conn->fail();
  peers_[peer].scheduler.reset();
  log::warning("verbs: rail {}: QP to peer {} failed ({}); its slices go to the other rails", r.cfg.name, peer,
               wc_status_name(why));
  if (events)
    events->push_back(VerbsEvent{.kind = VerbsEvent::Kind::path_down, .peer = peer,
                                 .rail = static_cast<uint8_t>(rail), .status = why});
}

void VerbsTransport::poll(std::vector<VerbsEvent>& events) {
  for (size_t r = 0; r < rails_.size(); ++r) drain_cq(r, events);
  schedule(events);
  released_.clear();
  registry_->take_released(released_);
  for (uint32_t id : released_) events.push_back(VerbsEvent{.kind = VerbsEvent::Kind::region_released, .id = id});
}

int VerbsTransport::drain_cq(size_t rail, std::vector<VerbsEvent>& events) {
  RailState& r = rails_[rail];
  int total = 0;
  while (static_cast<uint32_t>(total) < cfg_.max_completions_per_poll) {
    const int n = ops_.poll_cq(r.ep.cq, wc_buf_);
    if (n < 0) {
      ++r.c.wc_errors;
      log::err("verbs: rail {}: ibv_poll_cq failed: {}", r.cfg.name, std::strerror(-n));
      break;
    }
    for (int i = 0; i < n; ++i) handle_completion(rail, wc_buf_[static_cast<size_t>(i)], events);
    total += n;
    if (static_cast<size_t>(n) < wc_buf_.size()) break;
  }
  return total;
}

void VerbsTransport::handle_completion(size_t rail, const WorkCompletion& wc, std::vector<VerbsEvent>& events) {
  if (wc.wr_id & kRecvWrBit)
    handle_recv(rail, wc, events);
  else
    handle_send(rail, wc, events);
}

void VerbsTransport::handle_send(size_t rail, const WorkCompletion& wc, std::vector<VerbsEvent>& events) {
  const uint32_t s = static_cast<uint32_t>(wc.wr_id & kSlotIndexMask);
  if (s >= slots_.size() || !slots_[s].used || send_wr_id(s, slots_[s].gen) != wc.wr_id) return;  // QP destroyed
  const WrSlot w = slots_[s];
  Path& p = path(w.peer, w.rail);
  --p.outstanding;
  p.inflight_bytes -= w.bytes;
  free_slot(s);
  RailState& r = rails_[rail];
  const bool current = !w.orphaned && p.conn && p.conn->epoch() == w.epoch && p.conn->state() == ConnState::rts;
  Transfer& t = transfers_[w.transfer];
  const bool alive = t.used && t.gen == w.transfer_gen;

  if (wc.status == WcStatus::success) {
    r.c.tx_bytes += w.bytes;
    ++r.c.tx_slices;
    if (!alive) return;
    if (w.imm) {
      ++r.c.tx_imm;
      finish_transfer(w.transfer, VerbsEvent::Kind::sent, WcStatus::success, events);
      return;
    }
    uint64_t& word = t.done[w.slice / 64];
    const uint64_t bit = uint64_t{1} << (w.slice % 64);
    if (word & bit) return;  // also completed elsewhere (a requeued copy)
    word |= bit;
    if (--t.data_left == 0) make_ready(w.transfer);
    return;
  }
  if (wc.status == WcStatus::flushed && !current) return;  // already requeued when the QP failed
  if (wc.status != WcStatus::flushed) ++r.c.wc_errors;
  log::warning("verbs: rail {}: WRITE to peer {} failed: {} (vendor status {})", r.cfg.name, w.peer,
               wc_status_name(wc.status), wc.vendor_status);
  if (!current) return;
  if (data_error(wc.status) && alive) {
    finish_transfer(w.transfer, VerbsEvent::Kind::send_failed, wc.status, events);
  } else {
    requeue(w);
  }
  path_failed(w.peer, w.rail, wc.status, &events);
}

void VerbsTransport::handle_recv(size_t rail, const WorkCompletion& wc, std::vector<VerbsEvent>& events) {
  const RecvWrFields f = parse_recv_wr_id(wc.wr_id);
  if (f.peer >= peers_.size() || f.rail != rail) return;
  Path& p = path(f.peer, rail);
  if (!p.conn || (p.conn->epoch() & 0x7fffffff) != f.epoch31) return;  // a destroyed QP's receive
  // Reset (destroyed, not reopened yet): whatever its CQ still held belongs to
  // a QP that is gone, successes included.
  if (p.conn->state() == ConnState::idle) return;
  RailState& r = rails_[rail];
  p.conn->recv_consumed();
  if (wc.status == WcStatus::success) {
    if (wc.opcode == WcOpcode::recv_rdma_with_imm && wc.has_imm) {
      ++r.c.rx_imm;
      r.c.rx_imm_bytes += wc.byte_len;
      events.push_back(VerbsEvent{.kind = VerbsEvent::Kind::received, .peer = f.peer,
                                  .rail = static_cast<uint8_t>(rail), .id = wc.imm, .byte_len = wc.byte_len});
    }
    if (int rc = p.conn->repost_recv(); rc != 0) {
      ++r.c.post_errors;
      if (p.conn->state() != ConnState::error) path_failed(f.peer, rail, WcStatus::other, &events);
    }
    return;
  }
  if (p.conn->state() == ConnState::error) return;  // flushed after we failed it ourselves
  // A flush we did not cause: the QP went to ERROR under us (as a responder's
  // QP does after a remote access error, which no completion reports).
  if (wc.status != WcStatus::flushed) ++r.c.wc_errors;
  path_failed(f.peer, rail, wc.status, &events);
}

bool VerbsTransport::usable(uint16_t peer, size_t rail) const {
  const Path& p = path(peer, rail);
  return rails_[rail].up && p.conn && p.conn->sendable() && !p.busy && p.outstanding < cfg_.qp.send_depth;
}

int VerbsTransport::next_slice(const Transfer& t) const {
  if (!t.resend.empty()) return static_cast<int>(t.resend.back());
  if (t.cursor + 1 < t.nslices) return static_cast<int>(t.cursor);
  if (t.data_left == 0 && !t.imm_posted) return static_cast<int>(t.nslices - 1);
  return -1;
}

void VerbsTransport::take_slice(Transfer& t) {
  if (!t.resend.empty())
    t.resend.pop_back();
  else if (t.cursor + 1 < t.nslices)
    ++t.cursor;
  else
    t.imm_posted = true;
}

static_assert(kMaxVerbsRails <= fabric::kMaxRails, "the fabric's scheduler covers every verbs rail");

bool VerbsTransport::remote_range_refused(uint16_t peer, const Transfer& t) const {
  bool any_sendable = false;
  for (size_t r = 0; r < rails_.size(); ++r) {
    const Path& p = path(peer, r);
    if (!p.conn || !p.conn->sendable()) continue;
    any_sendable = true;
    const RemoteRegion* rr = p.conn->remote_region(t.req.remote_region);
    if (rr && t.req.remote_offset <= rr->length && t.req.length <= rr->length - t.req.remote_offset) return false;
  }
  return any_sendable;
}

int VerbsTransport::pick_rail(PeerState& ps, uint16_t peer, const Transfer& t, uint64_t bytes) {
  // The fabric's smooth weighted round robin, weight = the QP's free in-flight
  // budget; a QP with nothing in flight always takes one slice, so a budget
  // smaller than a slice cannot stall it.
  std::array<fabric::RailChoice, kMaxVerbsRails> choices{};
  for (size_t r = 0; r < rails_.size(); ++r) {
    if (!usable(peer, r)) continue;
    const Path& p = path(peer, r);
    if (p.inflight_bytes > 0 && p.inflight_bytes + bytes > cfg_.qp_budget_bytes) continue;
    const RemoteRegion* rr = p.conn->remote_region(t.req.remote_region);
    if (!rr || t.req.remote_offset > rr->length || t.req.length > rr->length - t.req.remote_offset) continue;
    choices[r] = {.usable = true, .weight = cfg_.qp_budget_bytes - std::min(cfg_.qp_budget_bytes, p.inflight_bytes)};
  }
  return ps.scheduler.pick(std::span(choices).first(rails_.size()));
}

bool VerbsTransport::schedule_one(PeerState& ps, uint16_t peer, std::deque<ReadyRef>& q,
                                  std::vector<VerbsEvent>& events) {
  while (!q.empty()) {
    const ReadyRef ref = q.front();
    Transfer& t = transfers_[ref.index];
    if (!t.used || t.gen != ref.gen) {
      q.pop_front();
      continue;
    }
    const int s = next_slice(t);
    if (s < 0) {  // waiting for completions; made ready again by them
      t.in_ready = false;
      q.pop_front();
      continue;
    }
    const uint32_t slice = static_cast<uint32_t>(s);
    const uint64_t off = uint64_t{slice} * cfg_.slice_bytes;
    const uint32_t bytes = static_cast<uint32_t>(std::min<uint64_t>(cfg_.slice_bytes, t.req.length - off));
    const bool imm = slice + 1 == t.nslices;
    for (;;) {
      const int rail = pick_rail(ps, peer, t, bytes);
      if (rail < 0 && remote_range_refused(peer, t)) {
        // Waiting would block every transfer behind it: the peer's connected
        // QPs all say the destination is not there (never was, or retired).
        q.pop_front();
        finish_transfer(ref.index, VerbsEvent::Kind::send_failed, WcStatus::remote_access, events);
        break;
      }
      if (rail < 0) return false;  // this peer can take nothing more now
      Path& p = path(peer, static_cast<size_t>(rail));
      const RemoteRegion* rr = p.conn->remote_region(t.req.remote_region);
      const MrRegistry::Entry& e = registry_->entry(t.region);
      const uint32_t slot = alloc_slot();
      WrSlot& w = slots_[slot];
      w = WrSlot{.used = true, .orphaned = false, .imm = imm, .gen = w.gen, .peer = peer,
                 .rail = static_cast<uint8_t>(rail), .epoch = p.conn->epoch(), .transfer = ref.index,
                 .transfer_gen = t.gen, .slice = slice, .region = t.region, .bytes = bytes};
      registry_->ref(t.region);
      const WriteWr wr{.wr_id = send_wr_id(slot, w.gen),
                       .local_addr = reinterpret_cast<uint64_t>(e.base) + t.req.local_offset + off,
                       .length = bytes,
                       .lkey = e.mrs[static_cast<size_t>(rail)].lkey,
                       .remote_addr = rr->addr + t.req.remote_offset + off,
                       .rkey = rr->rkey,
                       .has_imm = imm,
                       .imm = t.req.id};
      const int rc = ops_.post_write(p.conn->qp(), wr);
      if (rc == 0) {
        ++p.outstanding;
        p.inflight_bytes += bytes;
        take_slice(t);
        return true;
      }
      free_slot(slot);
      RailState& r = rails_[static_cast<size_t>(rail)];
      if (rc == ENOMEM || rc == EAGAIN) {
        ++r.c.post_busy;
        p.busy = true;  // send queue full: try another rail
      } else {
        ++r.c.post_errors;
        path_failed(peer, static_cast<size_t>(rail), WcStatus::other, &events);
      }
    }
  }
  return false;
}

void VerbsTransport::schedule(std::vector<VerbsEvent>& events) {
  for (Path& p : paths_) p.busy = false;
  uint32_t posted = 0;
  const size_t n = peers_.size();
  for (size_t cls = 0; cls < 2; ++cls) {
    for (size_t k = 0; k < n && posted < cfg_.max_posts_per_poll; ++k) {
      const uint16_t peer = static_cast<uint16_t>((rr_peer_ + k) % n);
      PeerState& ps = peers_[peer];
      // Activation slices of every peer go before any kv slice.
      while (posted < cfg_.max_posts_per_poll && schedule_one(ps, peer, ps.ready[cls], events)) ++posted;
    }
  }
  rr_peer_ = static_cast<uint16_t>((rr_peer_ + 1) % n);
}

bool VerbsTransport::arm(std::vector<VerbsEvent>& events) {
  for (RailState& r : rails_) {
    if (int rc = ops_.req_notify_cq(r.ep.cq); rc != 0) {
      ++r.c.post_errors;
      log::err("verbs: rail {}: ibv_req_notify_cq failed: {}", r.cfg.name, std::strerror(rc));
    }
  }
  int n = 0;
  for (size_t r = 0; r < rails_.size(); ++r) n += drain_cq(r, events);
  return n > 0;
}

void VerbsTransport::on_wakeup(size_t rail) {
  RailState& r = rails_[rail];
  CqHandle cq;
  while (ops_.get_cq_event(r.channel, cq) == 0) ++r.unacked_events;
  // Acknowledging is a lock in libibverbs: batch it.
  if (r.unacked_events >= 64) {
    ops_.ack_cq_events(r.ep.cq, r.unacked_events);
    r.unacked_events = 0;
  }
}

VerbsRailCounters VerbsTransport::counters(size_t rail) const {
  VerbsRailCounters c = rails_[rail].c;
  c.link_up = rails_[rail].up;
  c.cq_depth = 0;
  c.qps_connected = 0;
  for (uint16_t peer = 0; peer < peers_.size(); ++peer) {
    const Path& p = path(peer, rail);
    if (!p.conn) continue;
    c.cq_depth += p.outstanding + p.conn->recv_posted();
    if (p.conn->sendable()) ++c.qps_connected;
  }
  return c;
}

}  // namespace railyard::verbs
