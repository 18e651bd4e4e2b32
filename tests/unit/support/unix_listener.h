#pragma once
// A listening Unix stream socket at `path` for tests that play railyardd's
// side of a socket (scripted daemons). Throws when it cannot listen.

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace railyard::testing {

inline int listen_unix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long: " + path);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot listen on " + path);
  }
  return fd;
}

}  // namespace railyard::testing
