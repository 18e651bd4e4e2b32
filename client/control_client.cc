#include "client/control_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "client/framing.h"

namespace railyard::client {
namespace {

// Responses larger than this are a broken daemon, not a big answer.
constexpr uint32_t kMaxResponseBytes = 64u << 20;

[[noreturn]] void fail(ControlErrorKind kind, const std::string& message) { throw ControlError(kind, message); }

}  // namespace

ControlClient ControlClient::connect(const std::string& socket_path, std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path)
    fail(ControlErrorKind::io, fmt::format("socket path {} is too long (at most {} bytes)", socket_path,
                                           sizeof addr.sun_path - 1));
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(ControlErrorKind::io, fmt::format("cannot create a Unix socket: {}", std::strerror(errno)));
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    ::close(fd);
    switch (e) {
      case ENOENT:
      case ECONNREFUSED:
        fail(ControlErrorKind::not_running,
             fmt::format("daemon not running at {} (start it: systemctl start railyardd, or pass --socket)",
                         socket_path));
      case EACCES:
      case EPERM:
        fail(ControlErrorKind::permission,
             fmt::format("permission denied on {}: run as root or as a member of the daemon's control "
                         "group (control.group in railyard.toml)",
                         socket_path));
      default:
        fail(ControlErrorKind::io, fmt::format("cannot connect to {}: {}", socket_path, std::strerror(e)));
    }
  }
  return ControlClient(fd, socket_path, timeout);
}

ControlClient::ControlClient(ControlClient&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      timeout_(other.timeout_),
      next_request_id_(other.next_request_id_) {}

ControlClient::~ControlClient() {
  if (fd_ >= 0) ::close(fd_);
}

void ControlClient::write_all(const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    // The daemon may have answered and closed before reading (a refusal):
    // the answer is still there to read, so let the caller read it.
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) return;
    if (n < 0) {
      fail(ControlErrorKind::io, fmt::format("cannot send to {}: {}", path_, std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
}

void ControlClient::read_exact(char* out, size_t size) {
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  size_t done = 0;
  while (done < size) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                            std::chrono::steady_clock::now());
    if (left.count() <= 0)
      fail(ControlErrorKind::timeout,
           fmt::format("daemon at {} did not answer within {} ms", path_, timeout_.count()));
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) fail(ControlErrorKind::io, fmt::format("poll on {}: {}", path_, std::strerror(errno)));
    if (ready == 0) continue;
    ssize_t n = ::recv(fd_, out + done, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != ECONNRESET)
      fail(ControlErrorKind::io, fmt::format("cannot read from {}: {}", path_, std::strerror(errno)));
    if (n <= 0)
      fail(ControlErrorKind::io,
           fmt::format("daemon at {} closed the connection before answering (see its log: journalctl -u "
                       "railyardd)",
                       path_));
    done += static_cast<size_t>(n);
  }
}

v1::Response ControlClient::call(v1::Request request) {
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  request.set_request_id(next_request_id_++);
  write_all(framing::encode(request));
  return read_response();
}

void ControlClient::stream(v1::Request request, const std::function<bool(const v1::Response&)>& on_response) {
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  request.set_request_id(next_request_id_++);
  write_all(framing::encode(request));
  while (on_response(read_response())) {
  }
}

v1::Response ControlClient::read_response() {
  unsigned char header[framing::kHeaderBytes];
  read_exact(reinterpret_cast<char*>(header), sizeof header);
  const uint32_t length = framing::decode_length(header);
  if (length > kMaxResponseBytes)
    fail(ControlErrorKind::protocol, fmt::format("daemon at {} announced a {}-byte response; is it railyardd?",
                                                 path_, length));
  std::string body(length, '\0');
  read_exact(body.data(), body.size());
  v1::Response response;
  if (!response.ParseFromString(body))
    fail(ControlErrorKind::protocol, fmt::format("daemon at {} sent a response that does not parse", path_));
  return response;
}

}  // namespace railyard::client
