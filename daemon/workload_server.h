#pragma once
// The workload socket: workloads (through librailyard) register memory
// regions (memfd over SCM_RIGHTS) and post transfers; the daemon answers each
// request and pushes completions and inbound-transfer notices. Same framing
// and the same SO_PEERCRED rule as the control socket.

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "daemon/region_table.h"
#include "daemon/unix_socket.h"
#include "railyard/v1/workload.pb.h"

namespace railyard::daemon {

/// What the workload server needs from the fabric.
struct TransferPort {
  struct Posted {
    v1::WorkloadError error = v1::WORKLOAD_ERROR_NONE;
    std::string message;
    uint64_t transfer_id = 0;
  };
  std::function<Posted(uint64_t owner, const v1::PostTransfer&)> post;
  std::function<void(uint64_t owner)> abandon_owner;  // its transfers stop; completions are not delivered
  std::function<std::vector<std::string>()> peer_names;
};

class WorkloadServer {
 public:
  struct Settings {
    std::string socket_path;
    mode_t socket_mode = 0660;
    std::string group;
    std::string host_name;
  };

  WorkloadServer(boost::asio::io_context& io, RegionTable& regions, TransferPort port);
  ~WorkloadServer();

  void open(const Settings& settings);  // throws std::runtime_error with the fix
  void close();

  /// Delivers an unprompted event (completion, inbound transfer) to the
  /// workload `owner`; dropped if it has gone.
  void deliver(uint64_t owner, const v1::WorkloadEvent& event);

  /// For inbound transfers: the workload that registered region `id`.
  std::optional<uint64_t> owner_of_region(uint32_t id) const;

  size_t workloads() const { return sessions_.size(); }

  /// Sends `command` (its level becomes the one in force: a workload that
  /// connects later gets it too) to every connected workload; returns how
  /// many it went to. Their acks are collected: when every one of them has
  /// answered (or gone), `on_throttle_result` is called once with ok = all
  /// applied, and the first failure's message.
  size_t throttle(const v1::ThrottleCommand& command);
  void on_throttle_result(std::function<void(uint64_t command_id, bool ok, const std::string& message)> f) {
    throttle_result_ = std::move(f);
  }

  /// The host's decode workload (at most one), as it registered and last reported.
  struct Decode {
    uint64_t owner = 0;
    std::string name;
    v1::DecodeWorkload layout;
    v1::SequenceReport report;
    std::chrono::steady_clock::time_point reported;
  };
  const std::optional<Decode>& decode() const { return decode_; }
  /// Sends a migration step to the decode workload; `done` gets its Ack, or a
  /// failed one when the workload is absent, goes away, or has not answered
  /// within `timeout`. The command id is filled in here.
  void migration_command(v1::MigrationCommand command, std::chrono::milliseconds timeout,
                         std::function<void(const v1::Ack&)> done);

 private:
  class Session;
  void accept();
  void on_session_end(uint64_t owner);
  void on_ack(uint64_t owner, const v1::Ack& ack);
  void settle_throttle();
  void register_decode(uint64_t owner, const std::string& name, const v1::DecodeWorkload& layout, std::string& error);
  /// False when `owner` is not the decode workload (the report is refused).
  bool report(uint64_t owner, const v1::SequenceReport& report);
  /// The decode workload stops being one: its pending migration commands fail.
  void drop_decode(const std::string& why);
  void finish_migration_command(uint64_t command_id, const v1::Ack& ack);

  boost::asio::io_context& io_;
  RegionTable& regions_;
  TransferPort port_;
  Settings settings_;
  std::optional<gid_t> gid_;
  std::unique_ptr<UnixAcceptor> acceptor_;
  std::map<uint64_t, std::shared_ptr<Session>> sessions_;
  std::map<uint32_t, uint64_t> region_owner_;
  uint64_t next_owner_ = 1;
  std::optional<v1::ThrottleCommand> throttle_;  // in force
  std::set<uint64_t> awaiting_ack_;                 // owners that have not answered throttle_
  bool throttle_ok_ = true;
  std::string throttle_message_;
  std::function<void(uint64_t, bool, const std::string&)> throttle_result_;
  std::optional<Decode> decode_;
  struct PendingCommand {
    std::function<void(const v1::Ack&)> done;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  std::map<uint64_t, PendingCommand> migration_commands_;
  uint64_t next_migration_command_ = uint64_t{1} << 62;  // apart from the policy's throttle command ids
};

}  // namespace railyard::daemon
