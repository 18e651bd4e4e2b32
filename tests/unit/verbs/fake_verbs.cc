#include "tests/unit/verbs/fake_verbs.h"

#include <cerrno>
#include <cstring>

namespace railyard::verbs::testing {

FakeDevice& FakeVerbs::add_roce_device(const std::string& name, int n) {
  FakeDevice d{.name = name};
  GidEntry v1{.index = 0, .type = GidType::roce_v1, .netdev_ifindex = static_cast<uint32_t>(10 + n)};
  v1.gid = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(n)};
  GidEntry v2{.index = 1, .type = GidType::roce_v2, .netdev_ifindex = static_cast<uint32_t>(10 + n)};
  v2.gid = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, static_cast<uint8_t>(n), 1};
  d.gids = {v1, v2};
  devices_.push_back(d);
  return devices_.back();
}

FakeDevice* FakeVerbs::device(const std::string& name) {
  for (FakeDevice& d : devices_)
    if (d.name == name) return &d;
  return nullptr;
}

int FakeVerbs::devices(std::vector<DeviceInfo>& out) {
  out.clear();
  if (devices_errno) return devices_errno;
  for (const FakeDevice& d : devices_) out.push_back(DeviceInfo{.name = d.name, .node_guid = 0x1234});
  return 0;
}

int FakeVerbs::open(std::string_view name, ContextHandle& out) {
  if (!device(std::string(name))) return ENODEV;
  out = ContextHandle{next_handle_++};
  ctxs_[out.value] = std::string(name);
  return 0;
}

void FakeVerbs::close(ContextHandle ctx) { ctxs_.erase(ctx.value); }

int FakeVerbs::query_port(ContextHandle ctx, uint8_t port, PortInfo& out) {
  if (!ctxs_.count(ctx.value) || port != 1) return EINVAL;
  out = device(ctxs_[ctx.value])->port;
  return 0;
}

int FakeVerbs::query_gids(ContextHandle ctx, uint8_t port, std::vector<GidEntry>& out) {
  if (!ctxs_.count(ctx.value) || port != 1) return EINVAL;
  out = device(ctxs_[ctx.value])->gids;
  return 0;
}

int FakeVerbs::alloc_pd(ContextHandle ctx, PdHandle& out) {
  out = PdHandle{next_handle_++};
  pds_[out.value] = ctxs_.at(ctx.value);
  return 0;
}

void FakeVerbs::dealloc_pd(PdHandle pd) { pds_.erase(pd.value); }

int FakeVerbs::create_channel(ContextHandle, ChannelHandle& out, int& fd) {
  out = ChannelHandle{next_handle_++};
  channels_.insert(out.value);
  fd = -1;
  return 0;
}

void FakeVerbs::destroy_channel(ChannelHandle ch) { channels_.erase(ch.value); }

int FakeVerbs::create_cq(ContextHandle, uint32_t depth, ChannelHandle, CqHandle& out) {
  out = CqHandle{next_handle_++};
  cqs_[out.value] = Cq{.depth = depth};
  return 0;
}

void FakeVerbs::destroy_cq(CqHandle cq) { cqs_.erase(cq.value); }

int FakeVerbs::create_qp(PdHandle pd, CqHandle send_cq, CqHandle, const QpCaps& caps, QpHandle& out, uint32_t& qpn) {
  if (create_qp_errno) return create_qp_errno;
  out = QpHandle{next_handle_++};
  qpn = next_qpn_++;
  qps_[out.value] = Qp{.qpn = qpn, .pd = pd.value, .cq = send_cq.value, .device = pds_.at(pd.value),
                       .max_send_wr = caps.max_send_wr};
  return 0;
}

void FakeVerbs::destroy_qp(QpHandle qp) { qps_.erase(qp.value); }

int FakeVerbs::modify_qp_init(QpHandle h, const QpInitAttrs&) {
  Qp& qp = qps_.at(h.value);
  if (qp.state != kReset) return EINVAL;
  qp.state = kInit;
  return 0;
}

int FakeVerbs::modify_qp_rtr(QpHandle h, const QpRtrAttrs& a) {
  if (rtr_errno) return rtr_errno;
  Qp& qp = qps_.at(h.value);
  if (qp.state != kInit || a.dest_qpn == 0) return EINVAL;
  qp.dest_qpn = a.dest_qpn;
  qp.state = kRtr;
  return 0;
}

int FakeVerbs::modify_qp_rts(QpHandle h, const QpRtsAttrs&) {
  Qp& qp = qps_.at(h.value);
  if (qp.state != kRtr) return EINVAL;
  qp.state = kRts;
  return 0;
}

int FakeVerbs::modify_qp_error(QpHandle h) {
  to_error(qps_.at(h.value));
  return 0;
}

int FakeVerbs::reg_mr(PdHandle pd, void* addr, uint64_t length, uint32_t access, MrInfo& out) {
  const MrHandle h{next_handle_++};
  Mr mr{.pd = pd.value, .addr = reinterpret_cast<uint64_t>(addr), .length = length, .lkey = next_key_++,
        .rkey = next_key_++, .access = access};
  mrs_[h.value] = mr;
  out = MrInfo{.mr = h, .lkey = mr.lkey, .rkey = mr.rkey};
  return 0;
}

int FakeVerbs::dereg_mr(MrHandle h) {
  auto it = mrs_.find(h.value);
  if (it == mrs_.end()) return EINVAL;
  for (const auto& [_, qp] : qps_)
    for (const WriteWr& w : qp.sq)
      if (qp.pd == it->second.pd && w.lkey == it->second.lkey) ++dereg_in_flight;
  mrs_.erase(it);
  ++deregs;
  return 0;
}

uint64_t FakeVerbs::live_mrs() const { return mrs_.size(); }

uint32_t FakeVerbs::qp_state_of(uint32_t qpn) const {
  for (const auto& [_, qp] : qps_)
    if (qp.qpn == qpn) return qp.state;
  return 99;
}

int FakeVerbs::post_write(QpHandle h, const WriteWr& wr) {
  if (post_write_errno_count > 0) {
    --post_write_errno_count;
    return post_write_errno;
  }
  Qp& qp = qps_.at(h.value);
  if (qp.state != kRts) return EINVAL;
  if (qp.sq.size() >= qp.max_send_wr) return ENOMEM;
  qp.sq.push_back(wr);
  return 0;
}

int FakeVerbs::post_recv(QpHandle h, uint64_t wr_id) {
  Qp& qp = qps_.at(h.value);
  if (qp.state == kReset) return EINVAL;
  if (qp.state == kError) {
    push(qp.cq, WorkCompletion{.wr_id = wr_id, .status = WcStatus::flushed, .qp_num = qp.qpn});
    return 0;
  }
  qp.rq.push_back(wr_id);
  return 0;
}

int FakeVerbs::poll_cq(CqHandle h, std::span<WorkCompletion> out) {
  Cq& cq = cqs_.at(h.value);
  size_t n = 0;
  while (n < out.size() && !cq.q.empty()) {
    out[n++] = cq.q.front();
    cq.q.pop_front();
  }
  return static_cast<int>(n);
}

int FakeVerbs::req_notify_cq(CqHandle) { return 0; }
int FakeVerbs::get_cq_event(ChannelHandle, CqHandle&) { return EAGAIN; }
void FakeVerbs::ack_cq_events(CqHandle, uint32_t) {}

void FakeVerbs::push(uintptr_t h, const WorkCompletion& wc) {
  auto it = cqs_.find(h);
  if (it == cqs_.end()) return;
  it->second.q.push_back(wc);
  if (it->second.q.size() > it->second.depth) ++cq_overflows;
}

void FakeVerbs::to_error(Qp& qp) {
  qp.state = kError;
  for (const WriteWr& w : qp.sq)
    push(qp.cq, WorkCompletion{.wr_id = w.wr_id, .status = WcStatus::flushed, .vendor_status = 5, .qp_num = qp.qpn});
  qp.sq.clear();
  for (uint64_t id : qp.rq)
    push(qp.cq, WorkCompletion{.wr_id = id, .status = WcStatus::flushed, .vendor_status = 5, .qp_num = qp.qpn});
  qp.rq.clear();
}

FakeVerbs::Qp* FakeVerbs::qp_by_num(uint32_t qpn) {
  for (auto& [_, qp] : qps_)
    if (qp.qpn == qpn) return &qp;
  return nullptr;
}

const FakeVerbs::Mr* FakeVerbs::find_mr(uintptr_t pd, uint32_t key, bool remote, uint64_t addr, uint64_t len) const {
  for (const auto& [_, mr] : mrs_) {
    if (mr.pd != pd || (remote ? mr.rkey : mr.lkey) != key) continue;
    if (remote && !(mr.access & kAccessRemoteWrite)) return nullptr;
    if (addr < mr.addr || addr + len > mr.addr + mr.length) return nullptr;
    return &mr;
  }
  return nullptr;
}

bool FakeVerbs::execute(Qp& qp) {
  const WriteWr w = qp.sq.front();
  const FakeDevice* dev = device(qp.device);
  auto fail = [&](WcStatus s, uint32_t vendor) {
    qp.sq.pop_front();
    push(qp.cq, WorkCompletion{.wr_id = w.wr_id, .status = s, .vendor_status = vendor, .qp_num = qp.qpn});
    to_error(qp);
    return true;
  };
  if (dev->paused) return false;
  Qp* dst = qp_by_num(qp.dest_qpn);
  if (dev->broken || !dst || dst->state == kError) return fail(WcStatus::retry_exceeded, 12);
  if (dst->state != kRtr && dst->state != kRts) return false;  // the HCA retries until it is
  if (w.length > 0 && !find_mr(qp.pd, w.lkey, false, w.local_addr, w.length))
    return fail(WcStatus::local_protection, 4);
  if (!find_mr(dst->pd, w.rkey, true, w.remote_addr, w.length)) {
    to_error(*dst);  // a remote access error breaks the responder's QP too
    return fail(WcStatus::remote_access, 10);
  }
  if (w.has_imm && dst->rq.empty()) return false;  // receiver not ready: retried
  if (w.length > 0)
    std::memcpy(reinterpret_cast<void*>(w.remote_addr), reinterpret_cast<const void*>(w.local_addr), w.length);
  executed.push_back(ExecutedWrite{.device = qp.device, .src_qpn = qp.qpn, .dst_qpn = dst->qpn,
                                   .local_addr = w.local_addr, .remote_addr = w.remote_addr, .length = w.length,
                                   .imm = w.has_imm, .imm_value = w.imm});
  qp.sq.pop_front();
  push(qp.cq, WorkCompletion{.wr_id = w.wr_id, .status = WcStatus::success, .opcode = WcOpcode::rdma_write,
                             .byte_len = w.length, .qp_num = qp.qpn});
  if (w.has_imm) {
    const uint64_t rid = dst->rq.front();
    dst->rq.pop_front();
    push(dst->cq, WorkCompletion{.wr_id = rid, .status = WcStatus::success, .opcode = WcOpcode::recv_rdma_with_imm,
                                 .byte_len = w.length, .has_imm = true, .imm = w.imm, .qp_num = dst->qpn});
  }
  return true;
}

size_t FakeVerbs::step(size_t max) {
  size_t done = 0;
  bool progress = true;
  while (done < max && progress) {
    progress = false;
    for (auto& [_, qp] : qps_) {
      if (done >= max) break;
      if (qp.state != kRts || qp.sq.empty()) continue;
      if (execute(qp)) {
        ++done;
        progress = true;
      }
    }
  }
  return done;
}

size_t FakeVerbs::pending_writes() const {
  size_t n = 0;
  for (const auto& [_, qp] : qps_) n += qp.sq.size();
  return n;
}

}  // namespace railyard::verbs::testing
