#include "drivers/nic/verbs/ibv_ops.h"

#include <arpa/inet.h>
#include <endian.h>
#include <fcntl.h>
#include <infiniband/verbs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace railyard::verbs {
namespace {

template <class T, class H>
T* ptr(H h) {
  return reinterpret_cast<T*>(h.value);
}
template <class H, class T>
H handle(T* p) {
  return H{reinterpret_cast<uintptr_t>(p)};
}

int last_errno(int fallback = EIO) { return errno != 0 ? errno : fallback; }

PortState port_state(ibv_port_state s) {
  switch (s) {
    case IBV_PORT_DOWN: return PortState::down;
    case IBV_PORT_INIT: return PortState::init;
    case IBV_PORT_ARMED: return PortState::armed;
    case IBV_PORT_ACTIVE: return PortState::active;
    default: return PortState::other;
  }
}

WcStatus wc_status(ibv_wc_status s) {
  switch (s) {
    case IBV_WC_SUCCESS: return WcStatus::success;
    case IBV_WC_RETRY_EXC_ERR: return WcStatus::retry_exceeded;
    case IBV_WC_RNR_RETRY_EXC_ERR: return WcStatus::rnr_retry_exceeded;
    case IBV_WC_REM_ACCESS_ERR: return WcStatus::remote_access;
    case IBV_WC_REM_OP_ERR:
    case IBV_WC_REM_INV_REQ_ERR: return WcStatus::remote_op;
    case IBV_WC_LOC_PROT_ERR: return WcStatus::local_protection;
    case IBV_WC_LOC_QP_OP_ERR:
    case IBV_WC_LOC_LEN_ERR: return WcStatus::local_qp_op;
    case IBV_WC_WR_FLUSH_ERR: return WcStatus::flushed;
    default: return WcStatus::other;
  }
}

WcOpcode wc_opcode(ibv_wc_opcode op) {
  switch (op) {
    case IBV_WC_RDMA_WRITE: return WcOpcode::rdma_write;
    case IBV_WC_RECV_RDMA_WITH_IMM: return WcOpcode::recv_rdma_with_imm;
    case IBV_WC_RECV: return WcOpcode::recv;
    default: return WcOpcode::other;
  }
}

int access_flags(uint32_t access) {
  int flags = 0;
  if (access & kAccessLocalWrite) flags |= IBV_ACCESS_LOCAL_WRITE;
  if (access & kAccessRemoteWrite) flags |= IBV_ACCESS_REMOTE_WRITE;
  return flags;
}

}  // namespace

int IbvOps::devices(std::vector<DeviceInfo>& out) {
  out.clear();
  errno = 0;
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr) return last_errno(ENOSYS);
  for (int i = 0; i < n; ++i) {
    out.push_back(DeviceInfo{.name = ibv_get_device_name(list[i]), .node_guid = be64toh(ibv_get_device_guid(list[i]))});
  }
  ibv_free_device_list(list);
  return 0;
}

int IbvOps::open(std::string_view device, ContextHandle& out) {
  errno = 0;
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (list == nullptr) return last_errno(ENOSYS);
  int rc = ENODEV;
  for (int i = 0; i < n; ++i) {
    if (device != ibv_get_device_name(list[i])) continue;
    errno = 0;
    ibv_context* ctx = ibv_open_device(list[i]);
    rc = ctx ? 0 : last_errno();
    if (ctx) out = handle<ContextHandle>(ctx);
    break;
  }
  ibv_free_device_list(list);
  return rc;
}

void IbvOps::close(ContextHandle ctx) {
  if (ctx) ibv_close_device(ptr<ibv_context>(ctx));
}

int IbvOps::query_port(ContextHandle ctx, uint8_t port, PortInfo& out) {
  ibv_port_attr attr{};
  if (int rc = ibv_query_port(ptr<ibv_context>(ctx), port, &attr); rc != 0) return rc;
  out.state = port_state(attr.state);
  out.link_layer = attr.link_layer == IBV_LINK_LAYER_ETHERNET     ? LinkLayer::ethernet
                   : attr.link_layer == IBV_LINK_LAYER_INFINIBAND ? LinkLayer::infiniband
                                                                  : LinkLayer::unknown;
  out.active_mtu = static_cast<PathMtu>(std::clamp<int>(attr.active_mtu, 1, 5));
  out.lid = attr.lid;
  out.gid_table_len = static_cast<uint32_t>(std::max(attr.gid_tbl_len, 0));
  return 0;
}

int IbvOps::query_gids(ContextHandle ctx, uint8_t port, std::vector<GidEntry>& out) {
  out.clear();
  PortInfo info;
  if (int rc = query_port(ctx, port, info); rc != 0) return rc;
  for (uint32_t i = 0; i < info.gid_table_len; ++i) {
    ibv_gid_entry e{};
    // ENODATA: an empty slot of the table.
    if (ibv_query_gid_ex(ptr<ibv_context>(ctx), port, i, &e, 0) != 0) continue;
    GidEntry g{.index = e.gid_index, .netdev_ifindex = e.ndev_ifindex};
    std::memcpy(g.gid.data(), e.gid.raw, g.gid.size());
    g.type = e.gid_type == IBV_GID_TYPE_IB        ? GidType::ib
             : e.gid_type == IBV_GID_TYPE_ROCE_V1 ? GidType::roce_v1
             : e.gid_type == IBV_GID_TYPE_ROCE_V2 ? GidType::roce_v2
                                                  : GidType::other;
    out.push_back(g);
  }
  return 0;
}

int IbvOps::alloc_pd(ContextHandle ctx, PdHandle& out) {
  errno = 0;
  ibv_pd* pd = ibv_alloc_pd(ptr<ibv_context>(ctx));
  if (!pd) return last_errno();
  out = handle<PdHandle>(pd);
  return 0;
}

void IbvOps::dealloc_pd(PdHandle pd) {
  if (pd) ibv_dealloc_pd(ptr<ibv_pd>(pd));
}

int IbvOps::create_channel(ContextHandle ctx, ChannelHandle& out, int& fd) {
  errno = 0;
  ibv_comp_channel* ch = ibv_create_comp_channel(ptr<ibv_context>(ctx));
  if (!ch) return last_errno();
  const int flags = fcntl(ch->fd, F_GETFL);
  if (flags < 0 || fcntl(ch->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    const int rc = last_errno();
    ibv_destroy_comp_channel(ch);
    return rc;
  }
  out = handle<ChannelHandle>(ch);
  fd = ch->fd;
  return 0;
}

void IbvOps::destroy_channel(ChannelHandle ch) {
  if (ch) ibv_destroy_comp_channel(ptr<ibv_comp_channel>(ch));
}

int IbvOps::create_cq(ContextHandle ctx, uint32_t depth, ChannelHandle ch, CqHandle& out) {
  errno = 0;
  ibv_cq* cq = ibv_create_cq(ptr<ibv_context>(ctx), static_cast<int>(depth), nullptr, ptr<ibv_comp_channel>(ch), 0);
  if (!cq) return last_errno();
  out = handle<CqHandle>(cq);
  return 0;
}

void IbvOps::destroy_cq(CqHandle cq) {
  if (cq) ibv_destroy_cq(ptr<ibv_cq>(cq));
}

int IbvOps::create_qp(PdHandle pd, CqHandle send_cq, CqHandle recv_cq, const QpCaps& caps, QpHandle& out,
                      uint32_t& qpn) {
  ibv_qp_init_attr attr{};
  attr.send_cq = ptr<ibv_cq>(send_cq);
  attr.recv_cq = ptr<ibv_cq>(recv_cq);
  attr.cap.max_send_wr = caps.max_send_wr;
  attr.cap.max_recv_wr = caps.max_recv_wr;
  attr.cap.max_send_sge = 1;
  attr.cap.max_recv_sge = 1;
  attr.qp_type = IBV_QPT_RC;
  attr.sq_sig_all = 0;
  errno = 0;
  ibv_qp* qp = ibv_create_qp(ptr<ibv_pd>(pd), &attr);
  if (!qp) return last_errno();
  out = handle<QpHandle>(qp);
  qpn = qp->qp_num;
  return 0;
}

void IbvOps::destroy_qp(QpHandle qp) {
  if (qp) ibv_destroy_qp(ptr<ibv_qp>(qp));
}

int IbvOps::modify_qp_init(QpHandle qp, const QpInitAttrs& a) {
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_INIT;
  attr.pkey_index = 0;
  attr.port_num = a.port;
  attr.qp_access_flags = static_cast<unsigned>(access_flags(a.access));
  return ibv_modify_qp(ptr<ibv_qp>(qp), &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
}

int IbvOps::modify_qp_rtr(QpHandle qp, const QpRtrAttrs& a) {
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_RTR;
  attr.path_mtu = static_cast<ibv_mtu>(a.path_mtu);
  attr.dest_qp_num = a.dest_qpn;
  attr.rq_psn = a.rq_psn;
  attr.max_dest_rd_atomic = a.max_dest_rd_atomic;
  attr.min_rnr_timer = a.min_rnr_timer;
  attr.ah_attr.port_num = a.port;
  attr.ah_attr.dlid = a.dlid;
  attr.ah_attr.sl = 0;
  attr.ah_attr.src_path_bits = 0;
  attr.ah_attr.is_global = a.use_grh ? 1 : 0;
  if (a.use_grh) {
    std::memcpy(attr.ah_attr.grh.dgid.raw, a.dgid.data(), a.dgid.size());
    attr.ah_attr.grh.sgid_index = a.sgid_index;
    attr.ah_attr.grh.hop_limit = a.hop_limit;
    attr.ah_attr.grh.traffic_class = a.traffic_class;
    attr.ah_attr.grh.flow_label = 0;
  }
  return ibv_modify_qp(ptr<ibv_qp>(qp), &attr,
                       IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
                           IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
}

int IbvOps::modify_qp_rts(QpHandle qp, const QpRtsAttrs& a) {
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_RTS;
  attr.sq_psn = a.sq_psn;
  attr.timeout = a.timeout;
  attr.retry_cnt = a.retry_cnt;
  attr.rnr_retry = a.rnr_retry;
  attr.max_rd_atomic = a.max_rd_atomic;
  return ibv_modify_qp(ptr<ibv_qp>(qp), &attr,
                       IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                           IBV_QP_MAX_QP_RD_ATOMIC);
}

int IbvOps::modify_qp_error(QpHandle qp) {
  ibv_qp_attr attr{};
  attr.qp_state = IBV_QPS_ERR;
  return ibv_modify_qp(ptr<ibv_qp>(qp), &attr, IBV_QP_STATE);
}

int IbvOps::reg_mr(PdHandle pd, void* addr, uint64_t length, uint32_t access, MrInfo& out) {
  errno = 0;
  ibv_mr* mr = ibv_reg_mr(ptr<ibv_pd>(pd), addr, length, access_flags(access));
  if (!mr) return last_errno();
  out = MrInfo{.mr = handle<MrHandle>(mr), .lkey = mr->lkey, .rkey = mr->rkey};
  return 0;
}

int IbvOps::dereg_mr(MrHandle mr) { return mr ? ibv_dereg_mr(ptr<ibv_mr>(mr)) : 0; }

int IbvOps::post_write(QpHandle qp, const WriteWr& w) {
  ibv_sge sge{.addr = w.local_addr, .length = w.length, .lkey = w.lkey};
  ibv_send_wr wr{};
  wr.wr_id = w.wr_id;
  wr.sg_list = w.length > 0 ? &sge : nullptr;
  wr.num_sge = w.length > 0 ? 1 : 0;
  wr.opcode = w.has_imm ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE;
  wr.send_flags = IBV_SEND_SIGNALED;
  if (w.has_imm) wr.imm_data = htonl(w.imm);
  wr.wr.rdma.remote_addr = w.remote_addr;
  wr.wr.rdma.rkey = w.rkey;
  ibv_send_wr* bad = nullptr;
  return ibv_post_send(ptr<ibv_qp>(qp), &wr, &bad);
}

int IbvOps::post_recv(QpHandle qp, uint64_t wr_id) {
  ibv_recv_wr wr{};
  wr.wr_id = wr_id;
  wr.sg_list = nullptr;
  wr.num_sge = 0;
  ibv_recv_wr* bad = nullptr;
  return ibv_post_recv(ptr<ibv_qp>(qp), &wr, &bad);
}

int IbvOps::poll_cq(CqHandle cq, std::span<WorkCompletion> out) {
  ibv_wc wc[32];
  int total = 0;
  while (static_cast<size_t>(total) < out.size()) {
    const int want = static_cast<int>(std::min<size_t>(out.size() - static_cast<size_t>(total), 32));
    const int n = ibv_poll_cq(ptr<ibv_cq>(cq), want, wc);
    if (n < 0) return total > 0 ? total : -EIO;
    for (int i = 0; i < n; ++i) {
      WorkCompletion& c = out[static_cast<size_t>(total + i)];
      c.wr_id = wc[i].wr_id;
      c.status = wc_status(wc[i].status);
      c.vendor_status = static_cast<uint32_t>(wc[i].status);
      // Only a successful completion's opcode is defined (ibv_poll_cq(3)).
      c.opcode = wc[i].status == IBV_WC_SUCCESS ? wc_opcode(wc[i].opcode) : WcOpcode::other;
      c.byte_len = wc[i].byte_len;
      c.has_imm = wc[i].status == IBV_WC_SUCCESS && (wc[i].wc_flags & IBV_WC_WITH_IMM) != 0;
      c.imm = c.has_imm ? ntohl(wc[i].imm_data) : 0;
      c.qp_num = wc[i].qp_num;
    }
    total += n;
    if (n < want) break;
  }
  return total;
}

int IbvOps::req_notify_cq(CqHandle cq) { return ibv_req_notify_cq(ptr<ibv_cq>(cq), 0); }

int IbvOps::get_cq_event(ChannelHandle ch, CqHandle& cq) {
  ibv_cq* ev_cq = nullptr;
  void* ev_ctx = nullptr;
  errno = 0;
  if (ibv_get_cq_event(ptr<ibv_comp_channel>(ch), &ev_cq, &ev_ctx) != 0) return last_errno(EAGAIN);
  cq = handle<CqHandle>(ev_cq);
  return 0;
}

void IbvOps::ack_cq_events(CqHandle cq, uint32_t n) {
  if (cq && n > 0) ibv_ack_cq_events(ptr<ibv_cq>(cq), n);
}

}  // namespace railyard::verbs
