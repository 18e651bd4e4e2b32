#pragma once
// A fake VerbsOps for unit tests only: devices, ports and GID tables as the
// test describes them, and an in-process "fabric" that executes RDMA WRITEs
// between the fake QPs (memcpy into the destination, WRITE_WITH_IMM consumes
// a posted receive), with the checks a real HCA makes (QP states, lkey/rkey
// and ranges, receive-not-ready) and faults to inject: a device that stops
// answering (retry exceeded, then flushes), a paused device (work stays in
// flight), failing verbs calls. It records every executed WRITE and every
// deregistration that happened while a WRITE still used the MR.

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "drivers/nic/verbs/verbs_ops.h"

namespace railyard::verbs::testing {

struct FakeDevice {
  std::string name;
  PortInfo port{.state = PortState::active, .link_layer = LinkLayer::ethernet, .active_mtu = PathMtu::mtu4096,
                .lid = 0, .gid_table_len = 4};
  std::vector<GidEntry> gids;
  bool broken = false;  ///< WRITEs from its QPs fail with retry exceeded
  bool paused = false;  ///< WRITEs from its QPs stay in flight
};

struct ExecutedWrite {
  std::string device;
  uint32_t src_qpn = 0;
  uint32_t dst_qpn = 0;
  uint64_t local_addr = 0;
  uint64_t remote_addr = 0;
  uint32_t length = 0;
  bool imm = false;
  uint32_t imm_value = 0;
};

class FakeVerbs final : public VerbsOps {
 public:
  /// A RoCE device with one active port and a RoCE v2 IPv4-mapped GID at index 1
  /// (10.0.<n>.1 on ifindex 10+n) behind a RoCE v1 one at index 0.
  FakeDevice& add_roce_device(const std::string& name, int n);

  // --- faults ---
  int devices_errno = 0;
  int create_qp_errno = 0;
  int rtr_errno = 0;
  int post_write_errno = 0;       ///< returned once by the next post_write, then cleared
  int post_write_errno_count = 0; ///< how many posts return post_write_errno
  FakeDevice* device(const std::string& name);

  /// Executes up to `max` queued WRITEs, one per QP per pass so the rails
  /// interleave. Returns how many WRITEs completed (successfully or not).
  size_t step(size_t max = SIZE_MAX);
  size_t pending_writes() const;

  std::vector<ExecutedWrite> executed;
  uint64_t dereg_in_flight = 0;  ///< deregistrations while a queued WRITE used the MR
  uint64_t cq_overflows = 0;
  uint64_t deregs = 0;
  uint64_t live_mrs() const;
  uint32_t qp_state_of(uint32_t qpn) const;  // 0 reset,1 init,2 rtr,3 rts,4 error, 99 none

  // --- VerbsOps ---
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

  uint64_t open_contexts() const { return ctxs_.size(); }
  uint64_t open_qps() const { return qps_.size(); }

 private:
  enum QpState : uint32_t { kReset, kInit, kRtr, kRts, kError };
  struct Qp {
    uint32_t qpn = 0;
    uintptr_t pd = 0, cq = 0;
    std::string device;
    QpState state = kReset;
    uint32_t dest_qpn = 0;
    uint32_t max_send_wr = 0;
    std::deque<WriteWr> sq;
    std::deque<uint64_t> rq;
  };
  struct Mr {
    uintptr_t pd = 0;
    uint64_t addr = 0, length = 0;
    uint32_t lkey = 0, rkey = 0, access = 0;
  };
  struct Cq {
    uint32_t depth = 0;
    std::deque<WorkCompletion> q;
  };

  void push(uintptr_t cq, const WorkCompletion& wc);
  void to_error(Qp& qp);
  bool execute(Qp& qp);  // one WRITE; false when it must wait
  Qp* qp_by_num(uint32_t qpn);
  const Mr* find_mr(uintptr_t pd, uint32_t key, bool remote, uint64_t addr, uint64_t len) const;

  std::vector<FakeDevice> devices_;
  uintptr_t next_handle_ = 1;
  uint32_t next_qpn_ = 0x100;
  uint32_t next_key_ = 0x1000;
  std::map<uintptr_t, std::string> ctxs_;      // ctx -> device
  std::map<uintptr_t, std::string> pds_;       // pd -> device
  std::map<uintptr_t, Cq> cqs_;
  std::map<uintptr_t, Qp> qps_;
  std::map<uintptr_t, Mr> mrs_;
  std::set<uintptr_t> channels_;
};

}  // namespace railyard::verbs::testing
