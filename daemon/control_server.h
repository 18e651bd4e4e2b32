#pragma once
// The control socket: a Unix stream socket speaking length-delimited protobuf
// (client/framing.h). Peers are identified with SO_PEERCRED/SO_PEERGROUPS;
// only root and members of the configured group are served.

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "daemon/control_service.h"

namespace railyard::daemon {

class ControlServer {
 public:
  struct Settings {
    std::string socket_path;
    mode_t socket_mode = 0660;
    std::string group;       // all requests; empty: root only
    std::string read_group;  // read-only requests (ControlService::is_action); empty: none
    uint32_t max_message_bytes = 1u << 20;
  };

  ControlServer(boost::asio::io_context& io, const ControlService& service);
  ~ControlServer();

  /// Binds and starts accepting. Throws std::runtime_error saying what to fix.
  void open(const Settings& settings);

  /// Applies new settings; binds a new path before giving up the old one, so a
  /// failure (thrown, with the reason) leaves the server as it was.
  void apply(const Settings& settings);

  /// Stops accepting, closes every connection, removes the socket file.
  void close();

  const std::string& socket_path() const { return settings_.socket_path; }

  struct Counters {
    uint64_t accepted = 0;
    uint64_t refused = 0;    // peers that are neither root nor in either group
    uint64_t malformed = 0;  // connections closed for a bad frame
  };
  const Counters& counters() const { return counters_; }

 private:
  class Session;
  using Acceptor = boost::asio::local::stream_protocol::acceptor;

  void accept();
  void on_accept(boost::asio::local::stream_protocol::socket socket);

  boost::asio::io_context& io_;
  const ControlService& service_;
  Settings settings_;
  std::optional<gid_t> gid_;
  std::optional<gid_t> read_gid_;
  std::unique_ptr<Acceptor> acceptor_;
  std::set<std::shared_ptr<Session>> sessions_;
  Counters counters_;
};

}  // namespace railyard::daemon
