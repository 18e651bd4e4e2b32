#include "daemon/control_service.h"

#include <fmt/format.h>

namespace railyard::daemon {

bool decode_request(std::string_view body, v1::Request& out) {
  return out.ParseFromArray(body.data(), static_cast<int>(body.size()));
}

namespace {
v1::Response error_response(const v1::Request& request, v1::Status status, std::string message) {
  v1::Response response;
  response.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  response.set_request_id(request.request_id());
  response.set_status(status);
  response.set_error(std::move(message));
  return response;
}
}  // namespace

v1::Response ControlService::handle(const v1::Request& request) const {
  if (request.protocol_version() != v1::PROTOCOL_VERSION_CURRENT) {
    return error_response(request, v1::STATUS_UNSUPPORTED_VERSION,
                          fmt::format("protocol version {} is not supported; this railyardd speaks version {}: "
                                      "use a railctl of the same release",
                                      request.protocol_version(), static_cast<int>(v1::PROTOCOL_VERSION_CURRENT)));
  }
  v1::Response response;
  response.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  response.set_request_id(request.request_id());
  switch (request.body_case()) {
    case v1::Request::kStatus:
      *response.mutable_status_reply() = status_();
      break;
    case v1::Request::BODY_NOT_SET:
      return error_response(request, v1::STATUS_BAD_REQUEST,
                            "the request names no operation (or one this railyardd does not know): upgrade the "
                            "daemon or use a railctl of the same release");
  }
  response.set_status(v1::STATUS_OK);
  return response;
}

v1::Response ControlService::permission_denied(std::string_view reason) {
  v1::Response response;
  response.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  response.set_status(v1::STATUS_PERMISSION_DENIED);
  response.set_error(std::string(reason));
  return response;
}

}  // namespace railyard::daemon
