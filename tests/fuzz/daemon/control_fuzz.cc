// Arbitrary bytes as a control-socket stream: frames are split and decoded
// exactly as the daemon does, and each decoded request is answered. Every
// response must carry the current protocol version and a status.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "client/framing.h"
#include "daemon/control_service.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace railyard;
  static const daemon::ControlService service([] { return v1::StatusReply(); });
  std::string_view stream(reinterpret_cast<const char*>(data), size);
  while (true) {
    const auto split = framing::split(stream, 4096);
    if (split.status != framing::SplitStatus::frame) break;
    stream.remove_prefix(split.consumed);
    v1::Request request;
    if (!daemon::decode_request(split.body, request)) continue;
    const v1::Response response = service.handle(request);
    if (response.protocol_version() != v1::PROTOCOL_VERSION_CURRENT) std::abort();
    if (response.status() == v1::STATUS_UNSPECIFIED) std::abort();
    if (response.request_id() != request.request_id()) std::abort();
  }
  return 0;
}
