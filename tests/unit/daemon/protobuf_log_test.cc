// libprotobuf's own log lines for refused messages: at most one a minute.

#include <gtest/gtest.h>

#include <string>

#include "daemon/protobuf_log.h"
#include "railyard/v1/peer.pb.h"

namespace railyard::daemon {
namespace {

TEST(LogGate, OneLineAPeriodThenTheCountHeldBack) {
  LogGate gate(60);
  EXPECT_EQ(gate.admit(1000), 0u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(gate.admit(1000 + i));
  EXPECT_FALSE(gate.admit(1059));
  EXPECT_EQ(gate.admit(1060), 6u);
  EXPECT_EQ(gate.admit(2000), 0u);
}

TEST(ProtobufLog, AFloodOfRefusedMessagesWritesOneLine) {
  // A peer message whose string field is not UTF-8: libprotobuf refuses it
  // and, left to itself, logs an ERROR line for each.
  v1::MigrateAbort abort;
  abort.set_migration_id(7);
  std::string bytes = abort.SerializeAsString();
  bytes += std::string("\x12\x02\xff\xfe", 4);  // field 2 (reason), 2 bytes, not UTF-8
  install_protobuf_log();
  testing::internal::CaptureStderr();
  int refused = 0;
  for (int i = 0; i < 1000; ++i) {
    v1::MigrateAbort parsed;
    refused += !parsed.ParseFromString(bytes);
  }
  const std::string logged = testing::internal::GetCapturedStderr();
  EXPECT_EQ(refused, 1000);
  size_t lines = 0;
  for (char c : logged) lines += c == '\n';
  EXPECT_EQ(lines, 1u) << logged.substr(0, 400);
  EXPECT_NE(logged.find("protobuf:"), std::string::npos);
}

}  // namespace
}  // namespace railyard::daemon
