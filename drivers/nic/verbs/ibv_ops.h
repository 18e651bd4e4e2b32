#pragma once
// VerbsOps over rdma-core's libibverbs: the production implementation. Built
// only when meson finds libibverbs (kHaveVerbs); nothing else in the driver
// includes <infiniband/verbs.h>.

#include "drivers/nic/verbs/verbs_ops.h"

namespace railyard::verbs {

class IbvOps final : public VerbsOps {
 public:
  int devices(std::vector<DeviceInfo>& out) override;
  int open(std::string_view device, ContextHandle& out) override;
  void close(ContextHandle ctx) override;
  int query_port(ContextHandle ctx, uint8_t port, PortInfo& out) override;
  int query_gids(ContextHandle ctx, uint8_t port, std::vector<GidEntry>& out) override;

  int alloc_pd(ContextHandle ctx, PdHandle& out) override;
  void dealloc_pd(PdHandle pd) override;
  int create_channel(ContextHandle ctx, ChannelHandle& out, int& fd) override;
  void destroy_channel(ChannelHandle ch) override;
  int create_cq(ContextHandle ctx, uint32_t depth, ChannelHandle ch, CqHandle& out) override;
  void destroy_cq(CqHandle cq) override;
  int create_qp(PdHandle pd, CqHandle send_cq, CqHandle recv_cq, const QpCaps& caps, QpHandle& out,
                uint32_t& qpn) override;
  void destroy_qp(QpHandle qp) override;
  int modify_qp_init(QpHandle qp, const QpInitAttrs& attrs) override;
  int modify_qp_rtr(QpHandle qp, const QpRtrAttrs& attrs) override;
  int modify_qp_rts(QpHandle qp, const QpRtsAttrs& attrs) override;
  int modify_qp_error(QpHandle qp) override;
  int reg_mr(PdHandle pd, void* addr, uint64_t length, uint32_t access, MrInfo& out) override;
  int dereg_mr(MrHandle mr) override;

  int post_write(QpHandle qp, const WriteWr& wr) override;
  int post_recv(QpHandle qp, uint64_t wr_id) override;
  int poll_cq(CqHandle cq, std::span<WorkCompletion> out) override;
  int req_notify_cq(CqHandle cq) override;
  int get_cq_event(ChannelHandle ch, CqHandle& cq) override;
  void ack_cq_events(CqHandle cq, uint32_t n) override;
};

}  // namespace railyard::verbs
