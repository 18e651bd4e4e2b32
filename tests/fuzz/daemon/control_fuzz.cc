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
  static const daemon::ControlService service(daemon::ControlHandlers{
      .status = [] { return v1::StatusReply(); },
      .rails = [] { return v1::RailsReply(); },
      .peers = [] { return v1::PeersReply(); },
      .transfers = [] { return v1::TransfersReply(); },
      .bmc = [] { return v1::BmcReply(); },
      .fault = [](const v1::FaultRequest&, std::string& error, v1::FaultReply&) {
        error = "fault injection is off";
        return v1::STATUS_BAD_REQUEST;
      },
      .watch = [](const v1::WatchRequest&) { return v1::WatchUpdate(); },
      .send = [](const v1::SendRequest&, std::function<void(v1::Status, std::string, v1::SendReply)> done) {
        done(v1::STATUS_OK, {}, {});
      },
      .policy = [] { return v1::PolicyReply(); },
      .throttle = [](const v1::ThrottleRequest& r, std::string& error, v1::PolicyReply&) {
        if (r.level() == "auto" || r.level() == "batch") return v1::STATUS_OK;
        error = "unknown level";
        return v1::STATUS_BAD_REQUEST;
      },
      .drain = [] { return v1::PolicyReply(); },
      .migrate = [](const v1::MigrateRequest&,
                    std::function<void(v1::Status, std::string, v1::MigrationStatus)> done) {
        done(v1::STATUS_BAD_REQUEST, "no decode workload", {});
      },
      .workload = [] { return v1::WorkloadReply(); }});
  std::string_view stream(reinterpret_cast<const char*>(data), size);
  while (true) {
    const auto split = framing::split(stream, 4096);
    if (split.status != framing::SplitStatus::frame) break;
    stream.remove_prefix(split.consumed);
    v1::Request request;
    if (!daemon::decode_request(split.body, request)) continue;
    int replies = 0;
    v1::Response response;
    service.handle(request, [&](v1::Response r) {
      response = std::move(r);
      ++replies;
    });
    if (replies != 1) std::abort();
    if (response.protocol_version() != v1::PROTOCOL_VERSION_CURRENT) std::abort();
    if (response.status() == v1::STATUS_UNSPECIFIED) std::abort();
    if (response.request_id() != request.request_id()) std::abort();
  }
  return 0;
}
