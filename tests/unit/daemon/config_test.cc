#include "daemon/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace railyard::config {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Parses text expected to be refused and returns its problems.
std::vector<Problem> problems_of(std::string_view text) {
  try {
    parse(text, "test.toml");
  } catch (const ConfigError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "accepted:\n" << text;
  return {};
}

TEST(Config, DefaultsWithoutFile) {
  const Config c = defaults();
  EXPECT_EQ(c.control.socket_path, "/run/railyard/control.sock");
  EXPECT_EQ(c.control.socket_mode, 0660u);
  EXPECT_EQ(c.control.group, "railyard");
  EXPECT_EQ(c.control.max_message_bytes, 1u << 20);
  EXPECT_EQ(c.daemon.log_level, log::Level::info);
  EXPECT_FALSE(c.daemon.host_name.empty());
  EXPECT_TRUE(c.source_path.empty());
}

TEST(Config, EmptyFileMeansDefaults) {
  const Config c = parse("", "empty.toml");
  EXPECT_EQ(c.control.socket_path, defaults().control.socket_path);
  EXPECT_EQ(c.source_path, "empty.toml");
}

TEST(Config, EveryKeyRead) {
  const Config c = parse(R"(
[daemon]
host_name = "gpu-07.rack3"
log_level = "debug"

[control]
socket = "/tmp/ry/control.sock"
socket_mode = "0600"
group = "operators"
max_message_bytes = 4096
)",
                         "good.toml");
  EXPECT_EQ(c.daemon.host_name, "gpu-07.rack3");
  EXPECT_EQ(c.daemon.log_level, log::Level::debug);
  EXPECT_EQ(c.control.socket_path, "/tmp/ry/control.sock");
  EXPECT_EQ(c.control.socket_mode, 0600u);
  EXPECT_EQ(c.control.group, "operators");
  EXPECT_EQ(c.control.max_message_bytes, 4096u);
}

TEST(Config, EmptyGroupMeansRootOnly) {
  EXPECT_EQ(parse("[control]\ngroup = \"\"\n", "t.toml").control.group, "");
}

TEST(Config, SyntaxErrorNamesFileLineColumn) {
  auto p = problems_of("[control]\nsocket = \"/x\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].file, "test.toml");
  EXPECT_EQ(p[0].line, 2u);
  EXPECT_GT(p[0].column, 0u);
  EXPECT_THAT(p[0].to_string(), HasSubstr("TOML syntax error"));
}

TEST(Config, UnknownKeyIsAnErrorListingAllowedKeys) {
  auto p = problems_of("[control]\n\nsokcet = \"/run/x.sock\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].line, 3u);
  EXPECT_EQ(p[0].key, "control.sokcet");
  EXPECT_THAT(p[0].message, AllOf(HasSubstr("unknown key"), HasSubstr("socket, socket_mode, group, max_message_bytes")));
}

TEST(Config, UnknownTableIsAnError) {
  auto p = problems_of("[contrl]\nsocket = \"/x\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "contrl");
  EXPECT_THAT(p[0].message, AllOf(HasSubstr("unknown table"), HasSubstr("[daemon], [control]")));
}

TEST(Config, SectionGivenAsValue) {
  auto p = problems_of("control = 5\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_THAT(p[0].message, HasSubstr("must be a table"));
}

TEST(Config, WrongTypeNamesValueAndExpectation) {
  auto p = problems_of("[control]\nsocket = 5\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].key, "control.socket");
  EXPECT_EQ(p[0].line, 2u);
  EXPECT_EQ(p[0].column, 10u);
  EXPECT_THAT(p[0].message, HasSubstr("5 is an integer, expected a string"));
}

TEST(Config, BadValuesSayWhatIsAllowed) {
  struct Case {
    std::string text;
    std::string key;
    std::string expected;
  };
  const std::vector<Case> cases{
      {"[control]\nsocket = \"relative.sock\"", "control.socket", "allowed: an absolute path"},
      {"[control]\nsocket = \"/" + std::string(120, 'a') + "\"", "control.socket", "at most 107"},
      {"[control]\nsocket_mode = \"0999\"", "control.socket_mode", "allowed: octal permission digits"},
      {"[control]\nsocket_mode = \"rw\"", "control.socket_mode", "allowed: octal permission digits"},
      {"[control]\nsocket_mode = \"0060\"", "control.socket_mode", "needs read and write"},
      {"[control]\nsocket_mode = 660", "control.socket_mode", "expected a string"},
      {"[control]\nmax_message_bytes = 1", "control.max_message_bytes", "out of range; allowed: 64 to 67108864"},
      {"[control]\nmax_message_bytes = \"big\"", "control.max_message_bytes", "expected an integer"},
      {"[daemon]\nlog_level = \"loud\"", "daemon.log_level", "allowed: \"err\", \"warning\""},
      {"[daemon]\nhost_name = \"gpu 7\"", "daemon.host_name", "character ' ' is not allowed"},
      {"[daemon]\nhost_name = \"\"", "daemon.host_name", "1 to 64 characters"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto p = problems_of(c.text);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].key, c.key);
    EXPECT_EQ(p[0].line, 2u);
    EXPECT_THAT(p[0].message, HasSubstr(c.expected));
  }
}

TEST(Config, BadValueShowsTheValue) {
  auto p = problems_of("[control]\nsocket_mode = \"0999\"\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].to_string(), "test.toml:2:15: control.socket_mode: \"0999\": allowed: octal permission digits such "
                              "as \"0660\", at most \"0777\"");
}

TEST(Config, EveryProblemIsReportedAtOnce) {
  auto p = problems_of("[daemon]\nlog_level = \"x\"\nfoo = 1\n[control]\nsocket = \"rel\"\n[bar]\n");
  EXPECT_EQ(p.size(), 4u);
}

TEST(Config, MissingFileIsAnErrorThatSaysSo) {
  try {
    load_file("/nonexistent/railyard.toml");
    FAIL() << "accepted a missing file";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), AllOf(HasSubstr("/nonexistent/railyard.toml"), HasSubstr("cannot read")));
  }
}

TEST(Config, LocateFallsBackToDefaultsOnlyForTheDefaultPath) {
  Located l = locate_and_load("", "/nonexistent/default.toml");
  EXPECT_FALSE(l.from_file);
  EXPECT_THROW(locate_and_load("/nonexistent/explicit.toml", "/nonexistent/default.toml"), ConfigError);

  char path[] = "/tmp/railyard-config-test-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  std::ofstream(path) << "[daemon]\nhost_name = \"from-default-path\"\n";
  l = locate_and_load("", path);
  EXPECT_TRUE(l.from_file);
  EXPECT_EQ(l.config.daemon.host_name, "from-default-path");
  std::remove(path);
}

}  // namespace
}  // namespace railyard::config
