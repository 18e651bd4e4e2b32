#pragma once
// Answers control requests. No I/O: the server feeds it decoded requests and
// writes what it answers; the fuzz target drives it with arbitrary bytes.
// Most answers are immediate; `send` (a probe through the fabric) answers
// when its transfers finish.

#include <chrono>
#include <functional>
#include <string_view>

#include "railyard/v1/control.pb.h"

namespace railyard::daemon {

/// Parses one frame body; false when the bytes are not a Request.
bool decode_request(std::string_view body, v1::Request& out);

using ControlReply = std::function<void(v1::Response)>;

/// Where the answers come from; every member must be set.
struct ControlHandlers {
  std::function<v1::StatusReply()> status;
  std::function<v1::RailsReply()> rails;
  std::function<v1::PeersReply()> peers;
  std::function<v1::TransfersReply()> transfers;
  std::function<v1::BmcReply()> bmc;
  std::function<v1::Status(const v1::FaultRequest&, std::string& error, v1::FaultReply& reply)> fault;
  /// One update of a watch stream (the server calls it every interval).
  std::function<v1::WatchUpdate(const v1::WatchRequest&)> watch;
  /// Calls `done` exactly once, with an OK response carrying a SendReply or an error response.
  std::function<void(const v1::SendRequest&, std::function<void(v1::Status, std::string, v1::SendReply)> done)> send;
  std::function<v1::PolicyReply()> policy;
  /// An operator override ("auto" clears it); BAD_REQUEST with `error` for an unknown level.
  std::function<v1::Status(const v1::ThrottleRequest&, std::string& error, v1::PolicyReply& reply)> throttle;
  std::function<v1::PolicyReply()> drain;
  /// Calls `done` exactly once: when the migration ends (or at once, when not waiting or refused).
  std::function<void(const v1::MigrateRequest&, std::function<void(v1::Status, std::string, v1::MigrationStatus)> done)>
      migrate;
  std::function<v1::WorkloadReply()> workload;
};

class ControlService {
 public:
  explicit ControlService(ControlHandlers handlers) : handlers_(std::move(handlers)) {}

  /// Calls `reply` exactly once, now or later. A watch request is answered
  /// with its first update; the server then streams more (stream_update).
  void handle(const v1::Request& request, ControlReply reply) const;

  /// The next update of a watch stream opened by `request`.
  v1::Response stream_update(const v1::Request& request, uint64_t skipped) const;

  /// Bounds a watch interval to what the daemon serves.
  static std::chrono::milliseconds watch_interval(const v1::WatchRequest& request);

  /// The answer sent to a peer that may not use the socket.
  static v1::Response permission_denied(std::string_view reason);

  /// True for requests that change something or load the rails (send, fault,
  /// throttle, drain, migrate): refused to control.read_group's members.
  static bool is_action(const v1::Request& request);
  /// The request's operation as railctl names it ("status", "drain", ...).
  static std::string request_name(const v1::Request& request);

 private:
  void dispatch(const v1::Request& request, ControlReply reply) const;
  ControlHandlers handlers_;
};

}  // namespace railyard::daemon
