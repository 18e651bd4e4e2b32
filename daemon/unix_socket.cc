#include "daemon/unix_socket.h"

#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

#include "common/log.h"

namespace railyard::daemon {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;

std::optional<gid_t> resolve_group(const std::string& name, std::string_view what, std::string_view key) {
  if (name.empty()) return std::nullopt;
  std::vector<char> buffer(16384);
  group entry{};
  group* found = nullptr;
  if (::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 || found == nullptr) {
    log::warning(
        "{}: group '{}' ({}) does not exist; its members cannot use the {} socket until it does (create it "
        "with systemd-sysusers or groupadd, then reload)",
        what, name, key, what);
    return std::nullopt;
  }
  return found->gr_gid;
}

void set_socket_access(std::string_view what, const std::string& path, mode_t mode, std::optional<gid_t> gid) {
  if (gid && ::chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0)
    throw std::runtime_error(fmt::format("{}: cannot give {} to group {}: {}", what, path, *gid, std::strerror(errno)));
  if (::chmod(path.c_str(), mode) != 0)
    throw std::runtime_error(fmt::format("{}: cannot chmod {} to {:04o}: {}", what, path, mode, std::strerror(errno)));
}

std::unique_ptr<UnixAcceptor> bind_unix_listener(asio::io_context& io, std::string_view what, const std::string& path,
                                                 mode_t mode, std::optional<gid_t> gid) {
  std::error_code fs_error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), fs_error);
  if (fs_error)
    throw std::runtime_error(fmt::format("{}: cannot create the directory of {}: {}; choose a writable place", what,
                                         path, fs_error.message()));

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error(
          fmt::format("{}: {} exists and is not a socket; remove it or configure another path", what, path));
    stream::socket probe(io);
    boost::system::error_code ec;
    probe.connect(stream::endpoint(path), ec);
    if (!ec)
      throw std::runtime_error(fmt::format(
          "{}: another process already serves {} (is railyardd running?); stop it or configure another path", what,
          path));
    ::unlink(path.c_str());  // left behind by a daemon that did not stop cleanly
  }

  auto acceptor = std::make_unique<UnixAcceptor>(io);
  boost::system::error_code ec;
  acceptor->open(stream(), ec);
  // No permissions at creation, then open up: nobody can connect in between.
  const mode_t old_umask = ::umask(0777);
  if (!ec) acceptor->bind(stream::endpoint(path), ec);
  ::umask(old_umask);
  if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error(fmt::format("{}: cannot listen on {}: {}", what, path, ec.message()));
  set_socket_access(what, path, mode, gid);
  return acceptor;
}

void close_unix_listener(std::unique_ptr<UnixAcceptor>& acceptor, const std::string& path) {
  if (!acceptor) return;
  boost::system::error_code ignored;
  acceptor->close(ignored);
  acceptor.reset();
  ::unlink(path.c_str());
}

bool read_peer_identity(int fd, PeerIdentity& out) {
  socklen_t len = sizeof out.cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &out.cred, &len) != 0) return false;
  out.groups.resize(32);
  len = static_cast<socklen_t>(out.groups.size() * sizeof(gid_t));
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, out.groups.data(), &len) != 0) {
    if (errno != ERANGE) return false;
    out.groups.resize(len / sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, out.groups.data(), &len) != 0) return false;
  }
  out.groups.resize(len / sizeof(gid_t));
  return true;
}

bool peer_authorised(const PeerIdentity& peer, std::optional<gid_t> gid) {
  if (peer.cred.uid == 0) return true;
  if (!gid) return false;
  return peer.cred.gid == *gid || std::find(peer.groups.begin(), peer.groups.end(), *gid) != peer.groups.end();
}

}  // namespace railyard::daemon
