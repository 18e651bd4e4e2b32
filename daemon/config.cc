#include "daemon/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <set>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <toml++/toml.h>

#include <fmt/format.h>

namespace railyard::config {
namespace {

// Reads one TOML table: each take_* marks its key as known, and finish()
// reports every key nobody took, so a typo never passes silently.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string prefix, std::string file,
              std::vector<Problem>& problems)
      : table_(table), prefix_(std::move(prefix)), file_(std::move(file)), problems_(problems) {}

  // Calls `apply` with the string value of `key` if present; `apply` returns
  // an error message (saying what is allowed) or nullopt.
  void take_string(std::string_view key,
                   const std::function<std::optional<std::string>(const std::string&)>& apply) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (!node->is_string()) {
      report(*node, key, fmt::format("{} is {}, expected a string", show(*node), type_name(*node)));
      return;
    }
    const std::string value = node->value<std::string>().value_or("");
    if (auto error = apply(value)) report(*node, key, fmt::format("{}: {}", show(*node), *error));
  }

  void take_integer(std::string_view key, int64_t min, int64_t max,
                    const std::function<void(int64_t)>& apply) {
    const toml::node* node = take(key);
    if (node == nullptr) return;
    if (!node->is_integer()) {
      report(*node, key, fmt::format("{} is {}, expected an integer from {} to {}", show(*node),
                                     type_name(*node), min, max));
      return;
    }
    const int64_t value = node->value<int64_t>().value_or(0);
    if (value < min || value > max) {
      report(*node, key, fmt::format("{} is out of range; allowed: {} to {}", value, min, max));
      return;
    }
    apply(value);
  }

  void finish() {
    for (auto&& [key, node] : table_) {
      if (taken_.count(std::string(key.str())) != 0) continue;
      std::string allowed;
      for (const auto& k : taken_order_) allowed += (allowed.empty() ? "" : ", ") + k;
      Problem p{.file = file_,
                .line = key.source().begin.line,
                .column = key.source().begin.column,
                .key = join(key.str()),
                .message = fmt::format("unknown key; allowed keys in [{}]: {}", prefix_, allowed)};
      problems_.push_back(std::move(p));
    }
  }

 private:
  const toml::node* take(std::string_view key) {
    taken_.insert(std::string(key));
    taken_order_.emplace_back(key);
    return table_.get(key);
  }

  void report(const toml::node& node, std::string_view key, std::string message) {
    problems_.push_back(Problem{.file = file_,
                                .line = node.source().begin.line,
                                .column = node.source().begin.column,
                                .key = join(key),
                                .message = std::move(message)});
  }

  std::string join(std::string_view key) const { return prefix_ + "." + std::string(key); }

  // Values as the operator wrote them: strings in double quotes.
  static std::string show(const toml::node& node) {
    if (const auto* s = node.as_string()) return fmt::format("\"{}\"", s->get());
    std::ostringstream out;
    node.visit([&out](auto&& v) { out << v; });
    return out.str();
  }

  static std::string_view type_name(const toml::node& node) {
    switch (node.type()) {
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "an integer";
      case toml::node_type::floating_point: return "a float";
      case toml::node_type::boolean: return "a boolean";
      case toml::node_type::table: return "a table";
      case toml::node_type::array: return "an array";
      default: return "a date/time";
    }
  }

  const toml::table& table_;
  std::string prefix_;
  std::string file_;
  std::vector<Problem>& problems_;
  std::set<std::string> taken_;
  std::vector<std::string> taken_order_;
};

std::string kernel_host_name() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name) != 0 || name[0] == '\0') return "localhost";
  return name;
}

std::optional<std::string> check_host_name(const std::string& v) {
  if (v.empty() || v.size() > 64) return "allowed: 1 to 64 characters of letters, digits, '.', '-', '_'";
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
      return fmt::format("character '{}' is not allowed; allowed: letters, digits, '.', '-', '_'", c);
  }
  return std::nullopt;
}

std::optional<std::string> check_socket_path(const std::string& v) {
  // sun_path holds 108 bytes including the terminating NUL.
  if (v.empty() || v.front() != '/') return "allowed: an absolute path such as \"/run/railyard/control.sock\"";
  if (v.size() > 107) return fmt::format("is {} bytes long; a Unix socket path allows at most 107", v.size());
  return std::nullopt;
}

std::optional<mode_t> parse_mode(const std::string& v) {
  if (v.empty() || v.size() > 4) return std::nullopt;
  mode_t mode = 0;
  for (char c : v) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = static_cast<mode_t>(mode * 8 + static_cast<mode_t>(c - '0'));
  }
  if (mode > 0777) return std::nullopt;
  return mode;
}

void read_daemon(const toml::table& t, const std::string& file, DaemonSection& out,
                 std::vector<Problem>& problems) {
  TableReader r(t, "daemon", file, problems);
  r.take_string("host_name", [&](const std::string& v) {
    auto error = check_host_name(v);
    if (!error) out.host_name = v;
    return error;
  });
  r.take_string("log_level", [&](const std::string& v) -> std::optional<std::string> {
    if (!log::parse_level(v, out.log_level))
      return "allowed: \"err\", \"warning\", \"notice\", \"info\", \"debug\"";
    return std::nullopt;
  });
  r.finish();
}

void read_control(const toml::table& t, const std::string& file, ControlSection& out,
                  std::vector<Problem>& problems) {
  TableReader r(t, "control", file, problems);
  r.take_string("socket", [&](const std::string& v) {
    auto error = check_socket_path(v);
    if (!error) out.socket_path = v;
    return error;
  });
  r.take_string("socket_mode", [&](const std::string& v) -> std::optional<std::string> {
    auto mode = parse_mode(v);
    if (!mode) return "allowed: octal permission digits such as \"0660\", at most \"0777\"";
    if ((*mode & 0600) != 0600) return "the owner (root) needs read and write (0600 at least)";
    out.socket_mode = *mode;
    return std::nullopt;
  });
  r.take_string("group", [&](const std::string& v) -> std::optional<std::string> {
    if (v.size() > 32) return "allowed: a group name of at most 32 characters, or \"\" for root only";
    out.group = v;
    return std::nullopt;
  });
  r.take_integer("max_message_bytes", 64, 64 << 20,
                 [&](int64_t v) { out.max_message_bytes = static_cast<uint32_t>(v); });
  r.finish();
}

}  // namespace

std::string Problem::to_string() const {
  std::string where = file;
  if (line != 0) where += fmt::format(":{}:{}", line, column);
  if (key.empty()) return fmt::format("{}: {}", where, message);
  return fmt::format("{}: {}: {}", where, key, message);
}

namespace {
std::string join_problems(const std::vector<Problem>& problems) {
  std::string text;
  for (const auto& p : problems) text += (text.empty() ? "" : "\n") + p.to_string();
  return text;
}
}  // namespace

ConfigError::ConfigError(std::vector<Problem> problems)
    : std::runtime_error(join_problems(problems)), problems_(std::move(problems)) {}

Config defaults() {
  Config c;
  c.daemon.host_name = kernel_host_name();
  return c;
}

Config parse(std::string_view text, std::string_view source_name) {
  const std::string file(source_name);
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    throw ConfigError({Problem{.file = file,
                               .line = e.source().begin.line,
                               .column = e.source().begin.column,
                               .message = fmt::format("TOML syntax error: {}", e.description())}});
  }

  Config config = defaults();
  config.source_path = file;
  std::vector<Problem> problems;
  using Section = std::function<void(const toml::table&)>;
  const std::vector<std::pair<std::string_view, Section>> sections{
      {"daemon", [&](const toml::table& t) { read_daemon(t, file, config.daemon, problems); }},
      {"control", [&](const toml::table& t) { read_control(t, file, config.control, problems); }},
  };
  for (auto&& [key, node] : root) {
    const std::string_view name = key.str();
    auto it = std::find_if(sections.begin(), sections.end(), [name](const auto& s) { return s.first == name; });
    if (it == sections.end()) {
      std::string allowed;
      for (const auto& s : sections) allowed += fmt::format("{}[{}]", allowed.empty() ? "" : ", ", s.first);
      problems.push_back(Problem{.file = file,
                                 .line = key.source().begin.line,
                                 .column = key.source().begin.column,
                                 .key = std::string(key.str()),
                                 .message = fmt::format("unknown table; allowed: {}", allowed)});
      continue;
    }
    if (!node.is_table()) {
      problems.push_back(Problem{.file = file,
                                 .line = node.source().begin.line,
                                 .column = node.source().begin.column,
                                 .key = std::string(key.str()),
                                 .message = fmt::format("must be a table ([{}]), not a value", key.str())});
      continue;
    }
    it->second(*node.as_table());
  }
  if (!problems.empty()) throw ConfigError(std::move(problems));
  return config;
}

Config load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError({Problem{
        .file = path,
        .message = fmt::format("cannot read the config file ({}); check the path and its permissions",
                               std::strerror(errno))}});
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

Located locate_and_load(const std::string& explicit_path, std::string_view default_path) {
  if (!explicit_path.empty()) return {load_file(explicit_path), true};
  const std::string path(default_path);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return {load_file(path), true};
  return {defaults(), false};
}

}  // namespace railyard::config
