#include <gtest/gtest.h>

#include "client/framing.h"
#include "daemon/control_service.h"

namespace railyard {
namespace {

TEST(Framing, RoundTrip) {
  v1::Request request;
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  request.set_request_id(42);
  request.mutable_status();
  const std::string frame = framing::encode(request);
  ASSERT_GE(frame.size(), framing::kHeaderBytes);
  EXPECT_EQ(framing::decode_length(reinterpret_cast<const unsigned char*>(frame.data())),
            frame.size() - framing::kHeaderBytes);

  const std::string stream = frame + "trailing";
  auto split = framing::split(stream, 1024);
  ASSERT_EQ(split.status, framing::SplitStatus::frame);
  EXPECT_EQ(split.consumed, frame.size());
  v1::Request decoded;
  ASSERT_TRUE(daemon::decode_request(split.body, decoded));
  EXPECT_EQ(decoded.request_id(), 42u);
  EXPECT_TRUE(decoded.has_status());
}

TEST(Framing, PartialAndOversized) {
  v1::Request request;
  request.set_request_id(7);
  const std::string frame = framing::encode(request);
  EXPECT_EQ(framing::split(frame.substr(0, 2), 1024).status, framing::SplitStatus::need_more);
  EXPECT_EQ(framing::split(frame.substr(0, frame.size() - 1), 1024).status, framing::SplitStatus::need_more);
  const std::string huge_header("\x01\x00\x00\x00", 4);
  EXPECT_EQ(framing::split(huge_header, 1024).status, framing::SplitStatus::oversized);
}

class ControlServiceTest : public ::testing::Test {
 protected:
  daemon::ControlService service{[] {
    v1::StatusReply s;
    s.set_version("test-version");
    return s;
  }};
};

TEST_F(ControlServiceTest, StatusAnswersWithRequestId) {
  v1::Request request;
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  request.set_request_id(9);
  request.mutable_status();
  const v1::Response r = service.handle(request);
  EXPECT_EQ(r.status(), v1::STATUS_OK);
  EXPECT_EQ(r.request_id(), 9u);
  EXPECT_EQ(r.status_reply().version(), "test-version");
}

TEST_F(ControlServiceTest, WrongVersionIsRefusedWithTheSupportedOne) {
  v1::Request request;
  request.set_protocol_version(99);
  request.mutable_status();
  const v1::Response r = service.handle(request);
  EXPECT_EQ(r.status(), v1::STATUS_UNSUPPORTED_VERSION);
  EXPECT_NE(r.error().find("version 99 is not supported"), std::string::npos);
  EXPECT_NE(r.error().find("speaks version 1"), std::string::npos);
}

TEST_F(ControlServiceTest, EmptyRequestIsBad) {
  v1::Request request;
  request.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  EXPECT_EQ(service.handle(request).status(), v1::STATUS_BAD_REQUEST);
}

TEST(ControlDecode, GarbageIsNotARequest) {
  v1::Request request;
  EXPECT_FALSE(daemon::decode_request(std::string_view("\xff\xff\xff\xff\xff", 5), request));
}

}  // namespace
}  // namespace railyard
