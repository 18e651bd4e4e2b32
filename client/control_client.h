#pragma once
// Blocking client for railyardd's control socket, used by railctl and tests.

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>

#include "railyard/v1/control.pb.h"

namespace railyard::client {

enum class ControlErrorKind {
  not_running,  // nothing listens at the socket path
  permission,   // the socket or the daemon refused this user
  timeout,      // the daemon did not answer in time
  protocol,     // the daemon's answer could not be understood
  io,           // any other failure of the socket
};

class ControlError : public std::runtime_error {
 public:
  ControlError(ControlErrorKind kind, const std::string& message)
      : std::runtime_error(message), kind_(kind) {}
  ControlErrorKind kind() const { return kind_; }

 private:
  ControlErrorKind kind_;
};

class ControlClient {
 public:
  /// Connects to the daemon; throws ControlError with a message fit for an operator.
  static ControlClient connect(const std::string& socket_path, std::chrono::milliseconds timeout);

  ControlClient(ControlClient&& other) noexcept;
  ControlClient& operator=(ControlClient&&) = delete;
  ~ControlClient();

  /// Sends one request (protocol version and id are filled in) and waits for
  /// its response. Throws ControlError on transport failure; a response with a
  /// non-OK status is returned as is.
  v1::Response call(v1::Request request);

  /// Sends a request that opens a stream (watch) and hands each response to
  /// `on_response` until it returns false. Throws ControlError like call().
  void stream(v1::Request request, const std::function<bool(const v1::Response&)>& on_response);

 private:
  ControlClient(int fd, std::string path, std::chrono::milliseconds timeout)
      : fd_(fd), path_(std::move(path)), timeout_(timeout) {}
  void write_all(const std::string& bytes);
  void read_exact(char* out, size_t size);
  v1::Response read_response();

  int fd_ = -1;
  std::string path_;
  std::chrono::milliseconds timeout_;
  uint64_t next_request_id_ = 1;
};

}  // namespace railyard::client
