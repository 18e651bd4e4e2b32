#pragma once
// One RC queue pair to one peer on one rail, and its connection state machine:
//
//   idle --prepare--> local_ready --accept(connect)--> exchanged --connect--> rtr --> rts
//     ^                    |                               |                   |      |
//     +------reset---------+------------ any failure ------+-------------------+--> error
//
// prepare() creates the QP, moves it RESET->INIT and posts the receives that
// absorb WRITE_WITH_IMM, so the local connection data can be sent. accept()
// takes the peer's validated connection data; connect() moves INIT->RTR->RTS.
// The QP may be written to only once the peer said that its own QP is in RTR
// for this QP's epoch (remote_ready), so no WRITE reaches a QP still in INIT.
// fail() moves the QP to ERROR (outstanding work completes as flushed);
// reset() destroys it, which ends all DMA of its work requests.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "drivers/nic/verbs/conn_data.h"
#include "drivers/nic/verbs/verbs_ops.h"

namespace railyard::verbs {

enum class ConnState : uint8_t { idle, local_ready, exchanged, rtr, rts, error };
std::string_view conn_state_name(ConnState s);

/// What the local side of every QP on a rail shares.
struct LocalEndpoint {
  PdHandle pd;
  CqHandle cq;  ///< send and receive completions of every QP on the rail
  uint8_t port = 1;
  uint8_t rail = 0;
  PathMtu mtu = PathMtu::mtu1024;
  LinkLayer link_layer = LinkLayer::ethernet;
  Gid gid{};
  uint8_t gid_index = 0;
  uint16_t lid = 0;
  uint64_t node = 0;
};

struct QpTuning {
  uint32_t send_depth = 128;
  uint32_t recv_depth = 128;
  uint8_t timeout = 14;
  uint8_t retry_cnt = 7;
  uint8_t rnr_retry = 7;
  uint8_t min_rnr_timer = 12;
  uint8_t traffic_class = 0;
  uint8_t hop_limit = 64;
};

/// wr_id of a receive: bit 63 set, then the QP's epoch (31 bits), the peer
/// (16 bits) and the rail (8 bits); send wr_ids never have bit 63 set.
inline constexpr uint64_t kRecvWrBit = uint64_t{1} << 63;
inline constexpr uint64_t recv_wr_id(uint16_t peer, uint8_t rail, uint64_t epoch) {
  return kRecvWrBit | ((epoch & 0x7fffffff) << 24) | (uint64_t{peer} << 8) | rail;
}
struct RecvWrFields {
  uint16_t peer;
  uint8_t rail;
  uint32_t epoch31;
};
inline constexpr RecvWrFields parse_recv_wr_id(uint64_t id) {
  return {static_cast<uint16_t>((id >> 8) & 0xffff), static_cast<uint8_t>(id & 0xff),
          static_cast<uint32_t>((id >> 24) & 0x7fffffff)};
}

class QpConnection {
 public:
  QpConnection(VerbsOps& ops, const LocalEndpoint& local, const QpTuning& tuning, uint16_t peer_slot,
               uint64_t peer_node);
  ~QpConnection();
  QpConnection(const QpConnection&) = delete;
  QpConnection& operator=(const QpConnection&) = delete;

  ConnState state() const { return state_; }
  /// RTR or RTS: connected to the peer's QP of epoch remote_epoch().
  bool connected() const { return state_ == ConnState::rtr || state_ == ConnState::rts; }
  /// RTS and the peer confirmed its QP is connected to this one.
  bool sendable() const { return state_ == ConnState::rts && remote_ready_; }
  QpHandle qp() const { return qp_; }
  uint32_t qpn() const { return qpn_; }
  uint64_t epoch() const { return epoch_; }
  uint64_t remote_epoch() const { return remote_.epoch; }
  uint64_t peer_node() const { return peer_node_; }
  uint32_t recv_posted() const { return recv_posted_; }
  /// errno of the last failed verbs call, for the log.
  int last_error() const { return last_error_; }

  /// idle -> local_ready. `epoch` must be new (non-zero, never used before
  /// for this peer and rail); `psn` is the starting send PSN (24 bits).
  /// Returns 0 or the errno of the verbs call that failed (state: error).
  int prepare(uint64_t epoch, uint32_t psn);

  /// The connection data to send to the peer: a connect message (QP, regions
  /// and readiness) or, once in RTS, optionally just regions and readiness.
  ConnectionData local_data(ConnKind kind, std::span<const RemoteRegion> regions) const;

  /// Takes the peer's decoded message. connect: only in local_ready (moves to
  /// exchanged), or — with the epoch already accepted — in rtr/rts as an
  /// update. regions: only for the accepted epoch. Validates the binding
  /// (sender, receiver, rail, epoch) and the link layer.
  ConnError accept(const ConnectionData& remote);

  /// exchanged -> rtr -> rts. Returns 0 or errno (state: error).
  int connect();

  /// Any state with a QP -> error (the QP to ERROR: its work flushes).
  void fail();
  /// Destroys the QP; back to idle, the peer's data forgotten.
  void reset();

  /// Reposts one receive after an IMM completion; 0 or errno.
  int repost_recv();
  /// A receive completion was consumed (success or flushed).
  void recv_consumed() {
    if (recv_posted_ > 0) --recv_posted_;
  }

  /// The peer's region `id` on this rail, or nullptr.
  const RemoteRegion* remote_region(uint32_t id) const;

 private:
  VerbsOps& ops_;
  LocalEndpoint local_;
  QpTuning tuning_;
  uint16_t peer_slot_;
  uint64_t peer_node_;
  ConnState state_ = ConnState::idle;
  QpHandle qp_;
  uint32_t qpn_ = 0;
  uint32_t psn_ = 0;
  uint64_t epoch_ = 0;
  uint32_t recv_posted_ = 0;
  int last_error_ = 0;
  bool remote_ready_ = false;
  ConnectionData remote_;
};

}  // namespace railyard::verbs
