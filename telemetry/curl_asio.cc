#include "telemetry/curl_asio.h"

#include <poll.h>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <mutex>
#include <vector>

#include "common/log.h"

namespace railyard::telemetry {

namespace {
std::once_flag curl_init_once;
void init_curl() {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Asio's epoll reactor is edge-triggered and forgets an edge that came while
// no wait was queued; curl may leave data unread or the socket writable
// between two waits. So before queueing a wait, check readiness directly.
bool ready_now(int fd, short events) {
  pollfd p{.fd = fd, .events = events, .revents = 0};
  return ::poll(&p, 1, 0) > 0 && p.revents != 0;
}
}  // namespace

CurlEasy make_curl_easy() {
  init_curl();
  return CurlEasy(curl_easy_init());
}

bool append_header(CurlSlist& list, const std::string& line) {
  curl_slist* grown = curl_slist_append(list.get(), line.c_str());
  if (grown == nullptr) return false;
  (void)list.release();
  list.reset(grown);
  return true;
}

struct CurlMulti::Socket {
  Socket(boost::asio::io_context& io, curl_socket_t native) : fd(io), native_fd(native) {}
  boost::asio::posix::stream_descriptor fd;  // borrowed: released, never closed by us
  curl_socket_t native_fd;
  int want = 0;  // CURL_POLL_IN / CURL_POLL_OUT bits
  bool reading = false;
  bool writing = false;
  bool closed = false;
};

CurlMulti::CurlMulti(boost::asio::io_context& io)
    : io_(io), multi_(nullptr), timer_(io), alive_(std::make_shared<int>(0)) {
  init_curl();
  multi_ = curl_multi_init();
  if (multi_ == nullptr) throw std::bad_alloc();
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMulti::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMulti::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

CurlMulti::~CurlMulti() {
  for (auto& [easy, done] : transfers_) curl_multi_remove_handle(multi_, easy);
  transfers_.clear();
  curl_multi_cleanup(multi_);  // may still report sockets as removed
  for (auto& [fd, socket] : sockets_) {
    socket->closed = true;
    (void)socket->fd.release();
  }
  sockets_.clear();
  timer_.cancel();
}

bool CurlMulti::submit(CURL* easy, Done done) {
  if (transfers_.contains(easy)) return false;
  CURLMcode rc = curl_multi_add_handle(multi_, easy);
  if (rc != CURLM_OK) {
    log::warning("curl: cannot start a transfer: {}", curl_multi_strerror(rc));
    return false;
  }
  // curl asks (through on_timer) to be woken at once; the transfer starts there.
  transfers_.emplace(easy, std::move(done));
  return true;
}

void CurlMulti::cancel(CURL* easy) {
  auto it = transfers_.find(easy);
  if (it == transfers_.end()) return;
  transfers_.erase(it);
  curl_multi_remove_handle(multi_, easy);
}

int CurlMulti::on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
  auto* multi = static_cast<CurlMulti*>(self);
  if (what == CURL_POLL_REMOVE) {
    multi->forget(fd);
  } else {
    multi->watch(fd, what);
  }
  return 0;
}

int CurlMulti::on_timer(CURLM*, long timeout_ms, void* self) {
  auto* multi = static_cast<CurlMulti*>(self);
  if (timeout_ms < 0) {
    multi->timer_.cancel();
    return 0;
  }
  // Never call back into curl from here: wake from the loop, even for 0 ms.
  multi->timer_.expires_after(std::chrono::milliseconds(timeout_ms));
  multi->timer_.async_wait([multi, alive = std::weak_ptr<int>(multi->alive_)](const boost::system::error_code& ec) {
    // Aborted: re-armed or cancelled. Expired: `multi` may be gone since.
    if (ec == boost::asio::error::operation_aborted || alive.expired()) return;
    multi->on_timeout(ec);
  });
  return 0;
}

void CurlMulti::watch(curl_socket_t fd, int what) {
  auto& socket = sockets_[fd];
  if (!socket) {
    socket = std::make_shared<Socket>(io_, fd);
    boost::system::error_code ec;
    socket->fd.assign(fd, ec);
    if (ec) {
      log::warning("curl: cannot watch socket {}: {}", fd, ec.message());
      sockets_.erase(fd);
      return;
    }
  }
  socket->want = what;
  arm(socket);
}

void CurlMulti::forget(curl_socket_t fd) {
  auto it = sockets_.find(fd);
  if (it == sockets_.end()) return;
  it->second->closed = true;
  (void)it->second->fd.release();  // cancels our waits; curl closes the fd
  sockets_.erase(it);
}

void CurlMulti::arm(const std::shared_ptr<Socket>& socket) {
  const int fd = socket->native_fd;
  auto wait = [this, &socket, fd](bool& pending, short events, int direction,
                              boost::asio::posix::descriptor_base::wait_type type) {
    if (pending || (socket->want & direction) == 0) return;
    pending = true;
    if (ready_now(fd, events)) {
      boost::asio::post(io_, [this, s = socket, direction] { on_ready(s, direction, {}); });
    } else {
      socket->fd.async_wait(type, [this, s = socket, direction](const boost::system::error_code& ec) {
        on_ready(s, direction, ec);
      });
    }
  };
  wait(socket->reading, POLLIN, CURL_POLL_IN, boost::asio::posix::descriptor_base::wait_read);
  wait(socket->writing, POLLOUT, CURL_POLL_OUT, boost::asio::posix::descriptor_base::wait_write);
}

void CurlMulti::on_ready(const std::shared_ptr<Socket>& socket, int direction, const boost::system::error_code& ec) {
  // `this` may be gone when the socket was released: look at the socket first.
  if (socket->closed || ec == boost::asio::error::operation_aborted) return;
  (direction == CURL_POLL_IN ? socket->reading : socket->writing) = false;
  if ((socket->want & direction) == 0) return;
  int mask = direction == CURL_POLL_IN ? CURL_CSELECT_IN : CURL_CSELECT_OUT;
  if (ec) mask |= CURL_CSELECT_ERR;
  action(socket->native_fd, mask);
  // curl does not repeat an unchanged interest: wait again ourselves.
  if (!socket->closed) arm(socket);
}

void CurlMulti::on_timeout(const boost::system::error_code&) { action(CURL_SOCKET_TIMEOUT, 0); }

void CurlMulti::action(curl_socket_t fd, int mask) {
  int running = 0;
  CURLMcode rc = curl_multi_socket_action(multi_, fd, mask, &running);
  if (rc != CURLM_OK) log::warning("curl: socket action: {}", curl_multi_strerror(rc));
  finish_done();
}

void CurlMulti::finish_done() {
  // Collect first: a callback may start or cancel other transfers.
  std::vector<std::pair<CURL*, CURLcode>> done;
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg == CURLMSG_DONE) done.emplace_back(msg->easy_handle, msg->data.result);
  }
  for (auto [easy, result] : done) {
    auto it = transfers_.find(easy);
    if (it == transfers_.end()) continue;  // cancelled by an earlier callback
    Done callback = std::move(it->second);
    transfers_.erase(it);
    curl_multi_remove_handle(multi_, easy);
    if (callback) callback(result);
  }
}

}  // namespace railyard::telemetry
