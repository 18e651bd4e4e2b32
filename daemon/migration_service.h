#pragma once
// Live migration of decode sequences between hosts (issue 9, docs/MIGRATION.md).
//
// Source: offer the sequences to the target daemon over the peer channel;
// once it has reserved slots, copy each sequence's KV bytes from the decode
// workload's region into the target's while decoding goes on (pre-copy
// rounds: KV is append-only, so a round sends what grew since the last one);
// when what is left is small, PAUSE the sequences, copy the rest, COMMIT the
// final states; the target's workload resumes them, and only on its
// confirmation does the source RELEASE them. Any failure before that (target
// gone, session lost, a copy failed, a timeout) ABORTs: the source's workload
// decodes on.
//
// Target: answers an offer by reserving slots in its decode workload, and a
// commit by resuming the sequences there.
//
// Every host advertises its headroom to its peers each second; a migration
// without a named target goes to the peer with the most.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "railyard/v1/control.pb.h"
#include "railyard/v1/peer.pb.h"
#include "railyard/v1/workload.pb.h"

namespace railyard::daemon {

class FabricService;
class WorkloadServer;

/// A peer's advertised headroom, as a source weighs it.
struct HeadroomCandidate {
  std::string peer;
  v1::Headroom headroom;
  std::chrono::milliseconds age{0};
};
/// The best target for `sequences` sequences: a peer with a decode workload,
/// enough free slots, not draining, with a fresh advert; lowest throttle
/// level first, then the largest thermal margin, then the least congestion.
/// Empty when none qualifies. Pure: unit-tested.
std::optional<std::string> choose_target(const std::vector<HeadroomCandidate>& peers, size_t sequences,
                                         std::chrono::milliseconds max_age);

class MigrationService {
 public:
  struct Settings {
    std::string host;
    std::chrono::milliseconds offer_timeout{3000};
    std::chrono::milliseconds command_timeout{2000};  // a workload's answer to one command
    std::chrono::milliseconds commit_timeout{10000};
    std::chrono::milliseconds copy_stall_timeout{5000};  // no KV copy completed for this long: the target is gone
    std::chrono::milliseconds overall_timeout{300000};
    std::chrono::milliseconds headroom_interval{1000};
    /// Pause once what is left would copy within this, at the last round's rate...
    std::chrono::milliseconds stop_copy_time{5};
    /// ...or once a round no longer shrinks what is left (decoding outgrows the rails), or after max_rounds.
    uint32_t max_rounds = 8;
    uint64_t copy_piece_bytes = 4 << 20;  // one transfer at most this long
  };
  /// Fills what the daemon knows beyond the workload: thermal margin,
  /// congestion, throttle level, draining.
  using HeadroomSource = std::function<void(v1::Headroom&)>;
  using Done = std::function<void(const v1::MigrationStatus&)>;

  MigrationService(boost::asio::io_context& io, Settings settings, FabricService& fabric, WorkloadServer& workloads);
  ~MigrationService();

  void start();
  void stop();
  void headroom_source(HeadroomSource source) { headroom_source_ = std::move(source); }
  /// After each peer advert: the share of this host's sequences the roomiest
  /// peer could take (0–1), the policy's peer-headroom signal.
  void on_peer_headroom(std::function<void(double share)> f) { peer_headroom_ = std::move(f); }

  /// Starts moving `sequences` (every decoding one when empty) to `to` (the
  /// peer with the most headroom when empty). False with `error` when it
  /// cannot start; else `done` is called once when it ends.
  bool migrate(const std::string& to, const std::vector<uint64_t>& sequences, const std::string& reason, Done done,
               std::string& error);
  /// The outgoing migration in flight, as it stands.
  std::optional<v1::MigrationStatus> outgoing() const;

  /// `railctl workload`.
  v1::WorkloadReply workload() const;

 private:
  struct Outgoing;
  struct Incoming;
  enum class SourceState : uint8_t { offered, precopy, pausing, final_copy, committing };
  enum class TargetState : uint8_t { reserving, reserved, resuming };
  static const char* name(SourceState state);
  static const char* name(TargetState state);

  /// ABORT to this host's decode workload: un-pause `ids` (source) or drop them (target).
  void abort_workload(uint64_t migration, const std::string& peer, const std::vector<uint64_t>& ids);

  void on_message(const std::string& peer, const v1::PeerMessage& message);
  void on_peer_change(const std::string& peer, bool up);
  bool send(const std::string& peer, const v1::PeerMessage& message, std::string& error);
  void advertise();

  // Source.
  void on_accept(const std::string& peer, const v1::MigrateAccept& accept);
  void on_refuse(const std::string& peer, const v1::MigrateRefuse& refuse);
  void on_committed(const std::string& peer, const v1::MigrateCommitted& committed);
  void plan_round();
  void post_copies();
  void on_copied(uint64_t migration, uint64_t bytes, v1::WorkloadError error);
  void pause();
  void commit();
  void fail(const std::string& error);
  void finish(bool moved, const std::string& error);
  void arm(std::chrono::milliseconds timeout, const std::string& what);

  // Target.
  void on_offer(const std::string& peer, const v1::MigrateOffer& offer);
  void on_commit(const std::string& peer, const v1::MigrateCommit& commit);
  void on_abort(const std::string& peer, const v1::MigrateAbort& abort);
  void end_incoming(const std::string& peer, uint64_t id, bool resumed, const std::string& error);

  void remember(const v1::MigrationStatus& status);
  int64_t unix_ms() const;

  boost::asio::io_context& io_;
  const Settings settings_;
  FabricService& fabric_;
  WorkloadServer& workloads_;
  HeadroomSource headroom_source_;
  std::function<void(double)> peer_headroom_;
  boost::asio::steady_timer headroom_timer_;
  bool running_ = false;

  std::unique_ptr<Outgoing> outgoing_;  // one at a time
  std::map<std::pair<std::string, uint64_t>, Incoming> incoming_;
  // Migrations resumed here lately: an ABORT for one means its source never
  // heard our confirmation and decodes them again, so they must stop here.
  std::deque<std::pair<std::pair<std::string, uint64_t>, std::vector<v1::SequenceState>>> resumed_;
  uint64_t next_id_ = 1;
  std::map<std::string, std::pair<v1::Headroom, std::chrono::steady_clock::time_point>> headroom_;
  std::deque<v1::MigrationStatus> history_;
};

}  // namespace railyard::daemon
