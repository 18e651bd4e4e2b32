#include "drivers/nic/verbs/connection.h"

#include <algorithm>
#include <cassert>

namespace railyard::verbs {

std::string_view conn_state_name(ConnState s) {
  switch (s) {
    case ConnState::idle: return "idle";
    case ConnState::local_ready: return "local_ready";
    case ConnState::exchanged: return "exchanged";
    case ConnState::rtr: return "rtr";
    case ConnState::rts: return "rts";
    case ConnState::error: return "error";
  }
  return "unknown";
}

QpConnection::QpConnection(VerbsOps& ops, const LocalEndpoint& local, const QpTuning& tuning, uint16_t peer_slot,
                           uint64_t peer_node)
    : ops_(ops), local_(local), tuning_(tuning), peer_slot_(peer_slot), peer_node_(peer_node) {}

QpConnection::~QpConnection() { reset(); }

int QpConnection::prepare(uint64_t epoch, uint32_t psn) {
  if (state_ != ConnState::idle) return EINVAL;
  assert(epoch != 0 && psn <= kMaxPsn);
  epoch_ = epoch;
  psn_ = psn & kMaxPsn;
  remote_ = ConnectionData{};
  remote_ready_ = false;
  int rc = ops_.create_qp(local_.pd, local_.cq, local_.cq,
                          QpCaps{.max_send_wr = tuning_.send_depth, .max_recv_wr = tuning_.recv_depth}, qp_, qpn_);
  if (rc != 0) {
    last_error_ = rc;
    qp_ = {};
    state_ = ConnState::error;
    return rc;
  }
  rc = ops_.modify_qp_init(qp_, QpInitAttrs{.port = local_.port, .access = kAccessLocalWrite | kAccessRemoteWrite});
  for (uint32_t i = 0; rc == 0 && i < tuning_.recv_depth; ++i) {
    rc = ops_.post_recv(qp_, recv_wr_id(peer_slot_, local_.rail, epoch_));
    if (rc == 0) ++recv_posted_;
  }
  if (rc != 0) {
    last_error_ = rc;
    state_ = ConnState::error;
    return rc;
  }
  state_ = ConnState::local_ready;
  return 0;
}

ConnectionData QpConnection::local_data(ConnKind kind, std::span<const RemoteRegion> regions) const {
  ConnectionData d;
  d.kind = kind;
  d.rail = local_.rail;
  d.sender_node = local_.node;
  d.receiver_node = peer_node_;
  d.epoch = epoch_;
  d.peer_epoch = connected() ? remote_.epoch : 0;
  if (kind == ConnKind::connect) {
    d.qpn = qpn_;
    d.psn = psn_;
    d.gid = local_.gid;
    d.lid = local_.lid;
    d.mtu = local_.mtu;
    d.link_layer = local_.link_layer;
  }
  d.regions.assign(regions.begin(), regions.end());
  return d;
}

ConnError QpConnection::accept(const ConnectionData& r) {
  const ConnError b = bind(r, ConnBinding{.local_node = local_.node,
                                          .peer_node = peer_node_,
                                          .rail = local_.rail,
                                          .connected_epoch = connected() ? remote_.epoch : 0});
  if (b != ConnError::ok) return b;
  if (r.kind == ConnKind::connect) {
    if (state_ == ConnState::local_ready) {
      if (r.link_layer != local_.link_layer) return ConnError::bad_link_layer;
      remote_ = r;
      state_ = ConnState::exchanged;
    } else if (connected() && r.epoch == remote_.epoch) {
      // The same QP again (a resend, or the answer to ours): only the regions
      // and the readiness may change; the QP fields must not.
      if (r.qpn != remote_.qpn || r.psn != remote_.psn || r.gid != remote_.gid || r.lid != remote_.lid)
        return ConnError::unexpected;
      remote_.regions = r.regions;
    } else {
      return ConnError::unexpected;
    }
  } else {
    remote_.regions = r.regions;  // bind() checked the epoch against the connected one
  }
  if (r.peer_epoch != 0 && r.peer_epoch == epoch_) remote_ready_ = true;
  return ConnError::ok;
}

int QpConnection::connect() {
  if (state_ != ConnState::exchanged) return EINVAL;
  const bool ib = local_.link_layer == LinkLayer::infiniband;
  const PathMtu mtu = std::min(local_.mtu, remote_.mtu);
  int rc = ops_.modify_qp_rtr(qp_, QpRtrAttrs{.port = local_.port,
                                              .path_mtu = mtu,
                                              .dest_qpn = remote_.qpn,
                                              .rq_psn = remote_.psn,
                                              .dgid = remote_.gid,
                                              .sgid_index = local_.gid_index,
                                              .use_grh = !ib,
                                              .dlid = remote_.lid,
                                              .hop_limit = tuning_.hop_limit,
                                              .traffic_class = tuning_.traffic_class,
                                              .min_rnr_timer = tuning_.min_rnr_timer});
  if (rc == 0) {
    state_ = ConnState::rtr;
    rc = ops_.modify_qp_rts(qp_, QpRtsAttrs{.sq_psn = psn_,
                                            .timeout = tuning_.timeout,
                                            .retry_cnt = tuning_.retry_cnt,
                                            .rnr_retry = tuning_.rnr_retry});
  }
  if (rc != 0) {
    last_error_ = rc;
    fail();
    return rc;
  }
  state_ = ConnState::rts;
  return 0;
}

void QpConnection::fail() {
  if (qp_ && state_ != ConnState::error) {
    if (int rc = ops_.modify_qp_error(qp_); rc != 0) last_error_ = rc;
  }
  if (state_ != ConnState::idle) state_ = ConnState::error;
  remote_ready_ = false;
}

void QpConnection::reset() {
  if (qp_) ops_.destroy_qp(qp_);
  qp_ = {};
  qpn_ = 0;
  recv_posted_ = 0;
  remote_ = ConnectionData{};
  remote_ready_ = false;
  state_ = ConnState::idle;
}

int QpConnection::repost_recv() {
  if (!qp_ || state_ == ConnState::error || state_ == ConnState::idle) return EINVAL;
  const int rc = ops_.post_recv(qp_, recv_wr_id(peer_slot_, local_.rail, epoch_));
  if (rc == 0) ++recv_posted_;
  return rc;
}

const RemoteRegion* QpConnection::remote_region(uint32_t id) const {
  auto it = std::lower_bound(remote_.regions.begin(), remote_.regions.end(), id,
                             [](const RemoteRegion& r, uint32_t v) { return r.id < v; });
  return it != remote_.regions.end() && it->id == id ? &*it : nullptr;
}

}  // namespace railyard::verbs
