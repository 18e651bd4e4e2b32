#include "drivers/bmc/redfish/credentials.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace railyard::redfish {

std::size_t for_each_credential(std::string_view text, const std::function<bool(Credentials)>& each) {
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return line_no;
    if (!each(Credentials{std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))})) return 0;
  }
  return 0;
}

CredentialsResult parse_credentials(std::string_view text, std::string_view source) {
  CredentialsResult r;
  const std::size_t bad = for_each_credential(text, [&r](Credentials c) {
    r.credentials = std::move(c);
    return false;  // the first line is the one
  });
  if (bad != 0) {
    r.error = fmt::format("{}:{}: expected one line 'user:password'", source, bad);
  } else if (!r.credentials) {
    r.error = fmt::format("{}: no 'user:password' line", source);
  }
  return r;
}

std::string check_secret_file(const struct stat& st, uid_t euid, std::string_view path) {
  if (!S_ISREG(st.st_mode)) return fmt::format("{}: not a regular file", path);
  if (st.st_uid != euid && st.st_uid != 0) {
    return fmt::format("{}: owned by uid {}, not by this user (uid {}) or root; chown it", path, st.st_uid, euid);
  }
  if ((st.st_mode & 077) != 0) {
    return fmt::format("{}: mode {:04o} lets group or others read the BMC password; run 'chmod 600 {}'", path,
                       st.st_mode & 07777, path);
  }
  return {};
}

CredentialsResult load_credentials_file(const std::string& path) {
  CredentialsResult r;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
  if (fd < 0) {
    r.error = fmt::format("{}: cannot open: {}", path, std::strerror(errno));
    return r;
  }
  struct stat st {};
  std::string text;
  if (::fstat(fd, &st) != 0) {
    r.error = fmt::format("{}: cannot stat: {}", path, std::strerror(errno));
  } else if (auto complaint = check_secret_file(st, ::geteuid(), path); !complaint.empty()) {
    r.error = std::move(complaint);
  } else if (st.st_size > 64 * 1024) {
    r.error = fmt::format("{}: too large for a credentials file", path);
  } else {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        r.error = fmt::format("{}: cannot read: {}", path, std::strerror(errno));
        break;
      }
      if (n == 0) break;
      text.append(buf, static_cast<std::size_t>(n));
      if (text.size() > 64 * 1024) {
        r.error = fmt::format("{}: too large for a credentials file", path);
        break;
      }
    }
  }
  ::close(fd);
  if (!r.error.empty()) return r;
  return parse_credentials(text, path);
}

CredentialsResult load_systemd_credential(std::string_view name, const char* credentials_directory) {
  CredentialsResult r;
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..") {
    r.error = fmt::format("credential name '{}' must be a plain file name", name);
    return r;
  }
  if (credentials_directory == nullptr || *credentials_directory == '\0') {
    r.error = fmt::format(
        "credential '{}': $CREDENTIALS_DIRECTORY is not set; give the unit LoadCredential={}:/path/to/file", name,
        name);
    return r;
  }
  return load_credentials_file(fmt::format("{}/{}", credentials_directory, name));
}

}  // namespace railyard::redfish
