#pragma once
// Length-delimited protobuf framing used on railyard's Unix sockets: a 4-byte
// big-endian body length, then the serialized message.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace google::protobuf {
class MessageLite;
}

namespace railyard::framing {

inline constexpr size_t kHeaderBytes = 4;

/// Reads the body length from a frame header.
uint32_t decode_length(const unsigned char header[kHeaderBytes]);

/// Serializes `message` as one frame (header and body).
std::string encode(const google::protobuf::MessageLite& message);

enum class SplitStatus {
  frame,       // one complete frame: `body` is valid
  need_more,   // the stream holds only part of a frame so far
  oversized,   // the header announces more than the allowed maximum
};

struct Split {
  SplitStatus status = SplitStatus::need_more;
  std::string_view body;
  size_t consumed = 0;  // bytes of the stream this frame used
};

/// Looks for the first frame at the start of `stream`.
Split split(std::string_view stream, uint32_t max_body_bytes);

}  // namespace railyard::framing
