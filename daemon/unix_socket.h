#pragma once
// What railyardd's Unix sockets (control, workload) share: binding a
// listener safely, and deciding who may talk to it from SO_PEERCRED.

#include <sys/socket.h>
#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace railyard::daemon {

using UnixAcceptor = boost::asio::local::stream_protocol::acceptor;

/// The group's id, or nullopt (with a warning naming `what`) when it does
/// not exist; an empty name means root only.
std::optional<gid_t> resolve_group(const std::string& name, std::string_view what,
                                   std::string_view key = "control.group");

/// Binds and listens on `path`: creates its directory, reclaims a stale
/// socket left by a crashed daemon, refuses when another process serves it,
/// creates the file with no permissions and then applies `mode` and `gid`.
/// Throws std::runtime_error naming `what` (e.g. "control") and the fix.
std::unique_ptr<UnixAcceptor> bind_unix_listener(boost::asio::io_context& io, std::string_view what,
                                                 const std::string& path, mode_t mode, std::optional<gid_t> gid);

/// Stops listening and removes the socket file; a no-op when already closed.
void close_unix_listener(std::unique_ptr<UnixAcceptor>& acceptor, const std::string& path);

/// Applies mode and group to an existing socket file; throws on failure.
void set_socket_access(std::string_view what, const std::string& path, mode_t mode, std::optional<gid_t> gid);

/// The process at the other end of a Unix socket.
struct PeerIdentity {
  ucred cred{};
  std::vector<gid_t> groups;  // supplementary groups (SO_PEERGROUPS)
};

/// False (errno set) when the kernel could not say.
bool read_peer_identity(int fd, PeerIdentity& out);

/// Root, or a peer whose primary or supplementary groups include `gid`.
bool peer_authorised(const PeerIdentity& peer, std::optional<gid_t> gid);

}  // namespace railyard::daemon
