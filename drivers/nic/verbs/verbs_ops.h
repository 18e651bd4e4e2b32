#pragma once
// The one seam between the verbs rail's logic and libibverbs. Production code
// uses IbvOps (ibv_ops.h), which calls rdma-core; unit tests use a fake. The
// types here are railyard's own, so the logic (and its tests) builds without
// <infiniband/verbs.h> and without rdma-core installed.
//
// Every call is made from the data-plane thread that owns the rails, except
// the discovery calls (devices, open, query_*), which the control thread may
// make before the data plane starts.
//
// Errors are errno values (0 = success), as libibverbs returns them.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace railyard::verbs {

/// An opaque handle: the libibverbs pointer in production, an id in the fake.
template <class Tag>
struct Handle {
  uintptr_t value = 0;
  explicit operator bool() const { return value != 0; }
  friend bool operator==(Handle, Handle) = default;
};
using ContextHandle = Handle<struct ContextTag>;
using PdHandle = Handle<struct PdTag>;
using ChannelHandle = Handle<struct ChannelTag>;
using CqHandle = Handle<struct CqTag>;
using QpHandle = Handle<struct QpTag>;
using MrHandle = Handle<struct MrTag>;

using Gid = std::array<uint8_t, 16>;

struct DeviceInfo {
  std::string name;      ///< e.g. "mlx5_0", "rxe0"
  uint64_t node_guid = 0;
};

enum class PortState : uint8_t { down, init, armed, active, other };
enum class LinkLayer : uint8_t { infiniband, ethernet, unknown };
std::string_view link_layer_name(LinkLayer l);

/// Path MTU as IB encodes it: 256 << (mtu - 1) bytes.
enum class PathMtu : uint8_t { mtu256 = 1, mtu512 = 2, mtu1024 = 3, mtu2048 = 4, mtu4096 = 5 };
inline constexpr uint32_t mtu_bytes(PathMtu m) { return 128u << static_cast<uint8_t>(m); }

struct PortInfo {
  PortState state = PortState::other;
  LinkLayer link_layer = LinkLayer::unknown;
  PathMtu active_mtu = PathMtu::mtu1024;
  uint16_t lid = 0;              ///< InfiniBand only
  uint32_t gid_table_len = 0;
};

enum class GidType : uint8_t { ib, roce_v1, roce_v2, other };

struct GidEntry {
  uint32_t index = 0;
  Gid gid{};
  GidType type = GidType::other;
  uint32_t netdev_ifindex = 0;  ///< 0: no network device attached (InfiniBand)
};

struct QpCaps {
  uint32_t max_send_wr = 0;
  uint32_t max_recv_wr = 0;
};

/// RESET -> INIT.
struct QpInitAttrs {
  uint8_t port = 1;
  uint32_t access = 0;  ///< kAccess* bits allowed to the remote on this QP
};

/// INIT -> RTR.
struct QpRtrAttrs {
  uint8_t port = 1;
  PathMtu path_mtu = PathMtu::mtu1024;
  uint32_t dest_qpn = 0;
  uint32_t rq_psn = 0;        ///< the remote's send PSN
  Gid dgid{};
  uint8_t sgid_index = 0;
  bool use_grh = true;        ///< RoCE always; InfiniBand within a subnet uses the LID
  uint16_t dlid = 0;
  uint8_t hop_limit = 64;
  uint8_t traffic_class = 0;  ///< DSCP << 2 on RoCE
  uint8_t min_rnr_timer = 12; ///< 0.64 ms
  uint8_t max_dest_rd_atomic = 1;
};

/// RTR -> RTS.
struct QpRtsAttrs {
  uint32_t sq_psn = 0;
  uint8_t timeout = 14;     ///< 4.096 us << timeout: 14 = 67 ms per try
  uint8_t retry_cnt = 7;
  uint8_t rnr_retry = 7;    ///< 7 = retry forever on receiver-not-ready
  uint8_t max_rd_atomic = 1;
};

inline constexpr uint32_t kAccessLocalWrite = 1u << 0;
inline constexpr uint32_t kAccessRemoteWrite = 1u << 1;

struct MrInfo {
  MrHandle mr;
  uint32_t lkey = 0;
  uint32_t rkey = 0;
};

/// One RDMA WRITE (with immediate when has_imm). Always signalled: the logic
/// needs every slice's completion to release its memory registration.
struct WriteWr {
  uint64_t wr_id = 0;
  uint64_t local_addr = 0;
  uint32_t length = 0;
  uint32_t lkey = 0;
  uint64_t remote_addr = 0;
  uint32_t rkey = 0;
  bool has_imm = false;
  uint32_t imm = 0;  ///< host order; the ops convert to network order
};

enum class WcStatus : uint8_t {
  success,
  retry_exceeded,      ///< IBV_WC_RETRY_EXC_ERR: the peer or the path stopped answering
  rnr_retry_exceeded,  ///< IBV_WC_RNR_RETRY_EXC_ERR: no receive posted at the peer
  remote_access,       ///< IBV_WC_REM_ACCESS_ERR: bad rkey or range at the peer
  remote_op,           ///< IBV_WC_REM_OP_ERR / REM_INV_REQ_ERR
  local_protection,    ///< IBV_WC_LOC_PROT_ERR: bad lkey or range here
  local_qp_op,         ///< IBV_WC_LOC_QP_OP_ERR / LOC_LEN_ERR
  flushed,             ///< IBV_WC_WR_FLUSH_ERR: the QP is in error; the WR never ran
  other,
};
std::string_view wc_status_name(WcStatus s);

enum class WcOpcode : uint8_t { rdma_write, recv_rdma_with_imm, recv, other };

struct WorkCompletion {
  uint64_t wr_id = 0;
  WcStatus status = WcStatus::other;
  uint32_t vendor_status = 0;  ///< the raw ibv_wc_status, for the log
  WcOpcode opcode = WcOpcode::other;
  uint32_t byte_len = 0;
  bool has_imm = false;
  uint32_t imm = 0;            ///< host order
  uint32_t qp_num = 0;
};

class VerbsOps {
 public:
  virtual ~VerbsOps() = default;

  // --- discovery (control thread, before the data plane runs) ---
  /// Fills `out`; returns 0, or the errno of ibv_get_device_list (ENOSYS when
  /// the kernel has no RDMA support).
  virtual int devices(std::vector<DeviceInfo>& out) = 0;
  virtual int open(std::string_view device, ContextHandle& out) = 0;
  virtual void close(ContextHandle ctx) = 0;
  virtual int query_port(ContextHandle ctx, uint8_t port, PortInfo& out) = 0;
  /// Every valid GID of the port (ibv_query_gid_table).
  virtual int query_gids(ContextHandle ctx, uint8_t port, std::vector<GidEntry>& out) = 0;

  // --- resources ---
  virtual int alloc_pd(ContextHandle ctx, PdHandle& out) = 0;
  virtual void dealloc_pd(PdHandle pd) = 0;
  /// A completion channel and the descriptor that polls readable when it has
  /// an event (made non-blocking).
  virtual int create_channel(ContextHandle ctx, ChannelHandle& out, int& fd) = 0;
  virtual void destroy_channel(ChannelHandle ch) = 0;
  virtual int create_cq(ContextHandle ctx, uint32_t depth, ChannelHandle ch, CqHandle& out) = 0;
  virtual void destroy_cq(CqHandle cq) = 0;
  /// An RC QP in RESET; `qpn` is its number.
  virtual int create_qp(PdHandle pd, CqHandle send_cq, CqHandle recv_cq, const QpCaps& caps, QpHandle& out,
                        uint32_t& qpn) = 0;
  /// Destroying a QP ends all DMA of its outstanding work requests.
  virtual void destroy_qp(QpHandle qp) = 0;
  virtual int modify_qp_init(QpHandle qp, const QpInitAttrs& attrs) = 0;
  virtual int modify_qp_rtr(QpHandle qp, const QpRtrAttrs& attrs) = 0;
  virtual int modify_qp_rts(QpHandle qp, const QpRtsAttrs& attrs) = 0;
  /// Moves the QP to ERROR: outstanding work requests complete as flushed.
  virtual int modify_qp_error(QpHandle qp) = 0;
  virtual int reg_mr(PdHandle pd, void* addr, uint64_t length, uint32_t access, MrInfo& out) = 0;
  virtual int dereg_mr(MrHandle mr) = 0;

  // --- data path (data-plane thread) ---
  virtual int post_write(QpHandle qp, const WriteWr& wr) = 0;
  /// A receive without scatter entries: it only absorbs a WRITE_WITH_IMM.
  virtual int post_recv(QpHandle qp, uint64_t wr_id) = 0;
  /// Returns the number of completions written to `out`, or -errno.
  virtual int poll_cq(CqHandle cq, std::span<WorkCompletion> out) = 0;
  virtual int req_notify_cq(CqHandle cq) = 0;
  /// Non-blocking: the CQ that has an event, or EAGAIN.
  virtual int get_cq_event(ChannelHandle ch, CqHandle& cq) = 0;
  virtual void ack_cq_events(CqHandle cq, uint32_t n) = 0;
};

}  // namespace railyard::verbs
