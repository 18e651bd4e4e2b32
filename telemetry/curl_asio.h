#pragma once
// libcurl's multi interface driven by a Boost.Asio io_context: curl tells us
// which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when to wake it
// (CURLMOPT_TIMERFUNCTION); the loop waits on those sockets and one
// steady_timer and calls curl_multi_socket_action. Nothing blocks the loop
// (name resolution uses libcurl's threaded resolver).
//
// Generic: the caller configures an easy handle and submits it with a
// completion callback. Used by remote-write and the Redfish client.
// Single-threaded: use it only from the thread running the io_context.

#include <curl/curl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

namespace railyard::telemetry {

struct CurlEasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

/// A new easy handle (curl_global_init runs once, first). Null on failure.
CurlEasy make_curl_easy();

/// Appends `line` to `list`; false when out of memory.
bool append_header(CurlSlist& list, const std::string& line);

class CurlMulti {
 public:
  /// Called once when a transfer ends, on the loop (never inside submit()).
  /// For CURLE_OK, read CURLINFO_RESPONSE_CODE from the easy handle.
  using Done = std::function<void(CURLcode)>;

  explicit CurlMulti(boost::asio::io_context& io);
  /// Ends every transfer still running; their callbacks are not called.
  ~CurlMulti();
  CurlMulti(const CurlMulti&) = delete;
  CurlMulti& operator=(const CurlMulti&) = delete;

  /// Starts `easy`, which the caller keeps alive and unchanged until `done`
  /// runs or cancel() returns. False (and `done` is dropped) when curl
  /// refuses the handle, e.g. because it is already running.
  bool submit(CURL* easy, Done done);
  /// Stops a running transfer without calling its callback; no-op otherwise.
  void cancel(CURL* easy);
  std::size_t active() const { return transfers_.size(); }
  CURLM* native() const { return multi_; }

 private:
  struct Socket;
  static int on_socket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void watch(curl_socket_t fd, int what);
  void forget(curl_socket_t fd);
  void arm(const std::shared_ptr<Socket>& socket);
  void on_ready(const std::shared_ptr<Socket>& socket, int direction, const boost::system::error_code& ec);
  void on_timeout(const boost::system::error_code& ec);
  void action(curl_socket_t fd, int mask);
  void finish_done();

  boost::asio::io_context& io_;
  CURLM* multi_;
  boost::asio::steady_timer timer_;
  std::unordered_map<curl_socket_t, std::shared_ptr<Socket>> sockets_;
  std::unordered_map<CURL*, Done> transfers_;
  std::shared_ptr<int> alive_;  // handlers hold a weak_ptr: expired once we are gone
};

}  // namespace railyard::telemetry
