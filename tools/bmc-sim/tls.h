#pragma once
// A throw-away PKI for tests: a CA and a server certificate signed by it, so
// a client can verify the simulator with --cacert instead of turning
// verification off.

#include <filesystem>
#include <string>
#include <vector>

namespace railyard::bmcsim {

struct SelfSigned {
  std::filesystem::path ca_cert;      ///< DIR/ca.pem: give this to the client
  std::filesystem::path server_cert;  ///< DIR/server.pem
  std::filesystem::path server_key;   ///< DIR/server.key (0600)
};

/// Writes ca.pem, ca.key, server.pem and server.key into `dir` (created if
/// needed). The server certificate names localhost, 127.0.0.1, ::1 and every
/// entry of `names` (IP addresses or DNS names). Empty `error` on success.
SelfSigned make_self_signed(const std::filesystem::path& dir, const std::vector<std::string>& names,
                            std::string& error);

}  // namespace railyard::bmcsim
