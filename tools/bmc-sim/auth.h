#pragma once
// Who may talk to the simulated BMC: users from a credentials file, HTTP
// Basic, and Redfish sessions (X-Auth-Token) that expire when idle and are
// limited in number, as on a small BMC.

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace railyard::bmcsim {

/// user -> password.
using Credentials = std::map<std::string, std::string, std::less<>>;

/// "user:password" per line; blank lines and '#' comments ignored. On error
/// returns nullopt with "file:line: what".
std::optional<Credentials> parse_credentials(std::string_view text, std::string_view source, std::string& error);
std::optional<Credentials> load_credentials(const std::string& path, std::string& error);

/// The user of a valid "Authorization: Basic ..." header value, or nullopt.
std::optional<std::string> check_basic(std::string_view header, const Credentials& credentials);

/// Random hex string of 2*bytes characters (OpenSSL RAND_bytes).
std::string random_hex(std::size_t bytes);

class SessionStore {
 public:
  using Clock = std::chrono::steady_clock;

  struct Session {
    std::string id;
    std::string token;
    std::string user;
    Clock::time_point last_used;
  };

  enum class LoginError { none, bad_credentials, exhausted };

  SessionStore(std::size_t max_sessions, std::chrono::seconds idle_timeout,
               std::function<std::string(std::size_t)> random = random_hex);

  /// A new session, or why not. Expired sessions are dropped first.
  std::optional<Session> login(std::string_view user, std::string_view password, const Credentials& credentials,
                               Clock::time_point now, LoginError& error);
  /// The session of `token`, its idle timer restarted; nullptr when unknown or expired.
  const Session* use(std::string_view token, Clock::time_point now);
  const Session* find(std::string_view id, Clock::time_point now);
  bool remove(std::string_view id);
  std::vector<Session> list(Clock::time_point now);
  std::size_t size(Clock::time_point now);
  std::chrono::seconds idle_timeout() const { return timeout_; }
  std::size_t max_sessions() const { return max_; }

 private:
  void expire(Clock::time_point now);

  std::size_t max_;
  std::chrono::seconds timeout_;
  std::function<std::string(std::size_t)> random_;
  std::map<std::string, Session, std::less<>> by_id_;
};

}  // namespace railyard::bmcsim
