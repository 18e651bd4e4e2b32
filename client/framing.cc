#include "client/framing.h"

#include <google/protobuf/message_lite.h>

namespace railyard::framing {

uint32_t decode_length(const unsigned char header[kHeaderBytes]) {
  return (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) | (uint32_t{header[2]} << 8) |
         uint32_t{header[3]};
}

std::string encode(const google::protobuf::MessageLite& message) {
  const size_t body = message.ByteSizeLong();
  std::string frame(kHeaderBytes + body, '\0');
  frame[0] = static_cast<char>((body >> 24) & 0xff);
  frame[1] = static_cast<char>((body >> 16) & 0xff);
  frame[2] = static_cast<char>((body >> 8) & 0xff);
  frame[3] = static_cast<char>(body & 0xff);
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(frame.data() + kHeaderBytes));
  return frame;
}

Split split(std::string_view stream, uint32_t max_body_bytes) {
  if (stream.size() < kHeaderBytes) return {};
  const uint32_t length = decode_length(reinterpret_cast<const unsigned char*>(stream.data()));
  if (length > max_body_bytes) return {.status = SplitStatus::oversized};
  if (stream.size() - kHeaderBytes < length) return {};
  return {.status = SplitStatus::frame,
          .body = stream.substr(kHeaderBytes, length),
          .consumed = kHeaderBytes + length};
}

}  // namespace railyard::framing
