#pragma once
// BMC credentials: from a file only its owner can read, or from a systemd
// credential ($CREDENTIALS_DIRECTORY/<name>), never from argv or the
// environment (both are readable by other users through /proc).

#include <sys/stat.h>
#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace railyard::redfish {

struct Credentials {
  std::string user;
  std::string password;
};

struct CredentialsResult {
  std::optional<Credentials> credentials;
  /// Why not, with the path and the fix ("chmod 600 /etc/...").
  std::string error;
};

/// Walks the "user:password" lines of `text`: blank lines and '#' comments
/// are skipped, a trailing '\r' is dropped, the password may contain ':'.
/// Calls `each` for every line until it returns false. Returns the 1-based
/// number of the first line without ':' or with an empty user (the walk stops
/// there), 0 when there was none. For files of one user or of several.
std::size_t for_each_credential(std::string_view text, const std::function<bool(Credentials)>& each);

/// The first line that is neither blank nor a '#' comment, "user:password"
/// (the password may contain ':'). `source` names the file in errors.
CredentialsResult parse_credentials(std::string_view text, std::string_view source);

/// "" when a file with this status may hold a secret for a process running
/// as `euid`: a regular file owned by `euid` or root, with no group or other
/// permission bits. Otherwise the complaint, naming `path` and the fix.
std::string check_secret_file(const struct stat& st, uid_t euid, std::string_view path);

/// Opens `path` without following a final symlink, checks it with
/// check_secret_file() and parses it.
CredentialsResult load_credentials_file(const std::string& path);

/// `credentials_directory` is $CREDENTIALS_DIRECTORY as systemd set it for
/// the service (nullptr or "" when the unit has no credentials); `name` a
/// plain file name (LoadCredential=NAME:...).
CredentialsResult load_systemd_credential(std::string_view name, const char* credentials_directory);

}  // namespace railyard::redfish
