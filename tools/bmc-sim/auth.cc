#include "tools/bmc-sim/auth.h"

#include <boost/beast/core/detail/base64.hpp>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "drivers/bmc/redfish/credentials.h"

namespace railyard::bmcsim {

std::optional<Credentials> parse_credentials(std::string_view text, std::string_view source, std::string& error) {
  Credentials out;
  const std::size_t bad_line = redfish::for_each_credential(text, [&](redfish::Credentials c) {
    out.emplace(std::move(c.user), std::move(c.password));
    return true;
  });
  if (bad_line != 0) {
    error = fmt::format("{}:{}: expected user:password", source, bad_line);
    return std::nullopt;
  }
  if (out.empty()) {
    error = fmt::format("{}: no user:password line", source);
    return std::nullopt;
  }
  return out;
}

std::optional<Credentials> load_credentials(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = fmt::format("{}: cannot open the credentials file", path);
    return std::nullopt;
  }
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return parse_credentials(text, path, error);
}

namespace {
bool same(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}
}  // namespace

std::optional<std::string> check_basic(std::string_view header, const Credentials& credentials) {
  constexpr std::string_view kBasic = "Basic ";
  if (header.size() <= kBasic.size() || header.substr(0, kBasic.size()) != kBasic) return std::nullopt;
  std::string_view encoded = header.substr(kBasic.size());
  while (!encoded.empty() && encoded.back() == ' ') encoded.remove_suffix(1);
  namespace b64 = boost::beast::detail::base64;
  std::string decoded(b64::decoded_size(encoded.size()), '\0');
  const auto [written, read] = b64::decode(decoded.data(), encoded.data(), encoded.size());
  if (encoded.find_first_not_of('=', read) != std::string_view::npos) return std::nullopt;
  decoded.resize(written);
  const auto colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  const std::string_view user(decoded.data(), colon);
  const auto it = credentials.find(user);
  if (it == credentials.end() || !same(it->second, std::string_view(decoded).substr(colon + 1))) return std::nullopt;
  return std::string(user);
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  std::string out;
  for (unsigned char c : raw) out += fmt::format("{:02x}", c);
  return out;
}

SessionStore::SessionStore(std::size_t max_sessions, std::chrono::seconds idle_timeout,
                           std::function<std::string(std::size_t)> random)
    : max_(max_sessions), timeout_(idle_timeout), random_(std::move(random)) {}

void SessionStore::expire(Clock::time_point now) {
  std::erase_if(by_id_, [this, now](const auto& kv) { return now - kv.second.last_used >= timeout_; });
}

std::optional<SessionStore::Session> SessionStore::login(std::string_view user, std::string_view password,
                                                          const Credentials& credentials, Clock::time_point now,
                                                          LoginError& error) {
  expire(now);
  const auto it = credentials.find(user);
  if (it == credentials.end() || !same(it->second, password)) {
    error = LoginError::bad_credentials;
    return std::nullopt;
  }
  if (by_id_.size() >= max_) {
    error = LoginError::exhausted;
    return std::nullopt;
  }
  error = LoginError::none;
  Session s{.id = random_(8), .token = random_(16), .user = std::string(user), .last_used = now};
  by_id_.emplace(s.id, s);
  return s;
}

const SessionStore::Session* SessionStore::use(std::string_view token, Clock::time_point now) {
  expire(now);
  for (auto& [id, s] : by_id_) {
    if (same(s.token, token)) {
      s.last_used = now;
      return &s;
    }
  }
  return nullptr;
}

const SessionStore::Session* SessionStore::find(std::string_view id, Clock::time_point now) {
  expire(now);
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

bool SessionStore::remove(std::string_view id) {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  by_id_.erase(it);
  return true;
}

std::vector<SessionStore::Session> SessionStore::list(Clock::time_point now) {
  expire(now);
  std::vector<Session> out;
  for (const auto& [id, s] : by_id_) out.push_back(s);
  return out;
}

std::size_t SessionStore::size(Clock::time_point now) {
  expire(now);
  return by_id_.size();
}

}  // namespace railyard::bmcsim
