#pragma once
// Answers control requests. No I/O: the server feeds it decoded requests, and
// the fuzz target drives it with arbitrary bytes.

#include <functional>
#include <string_view>

#include "railyard/v1/control.pb.h"

namespace railyard::daemon {

/// Parses one frame body; false when the bytes are not a Request.
bool decode_request(std::string_view body, v1::Request& out);

class ControlService {
 public:
  using StatusSource = std::function<v1::StatusReply()>;

  explicit ControlService(StatusSource status) : status_(std::move(status)) {}

  v1::Response handle(const v1::Request& request) const;

  /// The answer sent to a peer that may not use the socket.
  static v1::Response permission_denied(std::string_view reason);

 private:
  StatusSource status_;
};

}  // namespace railyard::daemon
