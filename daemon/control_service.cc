#include "daemon/control_service.h"

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "common/control_limits.h"
#include "common/log.h"

namespace railyard::daemon {

bool decode_request(std::string_view body, v1::Request& out) {
  return out.ParseFromArray(body.data(), static_cast<int>(body.size()));
}

namespace {
v1::Response response_to(const v1::Request& request, v1::Status status, std::string error = {}) {
  v1::Response response;
  response.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  response.set_request_id(request.request_id());
  response.set_status(status);
  response.set_error(std::move(error));
  return response;
}
}  // namespace

void ControlService::handle(const v1::Request& request, ControlReply reply) const {
  // A started daemon never exits on a request: what a handler throws (a bug,
  // or memory running out) becomes an error answer and a log line.
  auto replied = std::make_shared<bool>(false);
  auto shared_reply = std::make_shared<ControlReply>(std::move(reply));
  auto once = [replied, shared_reply](v1::Response response) {
    *replied = true;
    (*shared_reply)(std::move(response));
  };
  try {
    dispatch(request, once);
  } catch (const std::exception& e) {
    log::err("control: the {} request failed: {}; the daemon carries on (please report this)", request_name(request),
             e.what());
    if (!*replied)
      once(response_to(request, v1::STATUS_INTERNAL,
                       fmt::format("railyardd failed on this request ({}) and carries on; see its log", e.what())));
  }
}

void ControlService::dispatch(const v1::Request& request, ControlReply reply) const {
  if (request.protocol_version() != v1::PROTOCOL_VERSION_CURRENT) {
    return reply(response_to(request, v1::STATUS_UNSUPPORTED_VERSION,
                             fmt::format("protocol version {} is not supported; this railyardd speaks version {}: "
                                         "use a railctl of the same release",
                                         request.protocol_version(),
                                         static_cast<int>(v1::PROTOCOL_VERSION_CURRENT))));
  }
  v1::Response response = response_to(request, v1::STATUS_OK);
  switch (request.body_case()) {
    case v1::Request::kStatus:
      *response.mutable_status_reply() = handlers_.status();
      return reply(std::move(response));
    case v1::Request::kRails:
      *response.mutable_rails_reply() = handlers_.rails();
      return reply(std::move(response));
    case v1::Request::kPeers:
      *response.mutable_peers_reply() = handlers_.peers();
      return reply(std::move(response));
    case v1::Request::kTransfers:
      *response.mutable_transfers_reply() = handlers_.transfers();
      return reply(std::move(response));
    case v1::Request::kFault: {
      std::string error;
      const v1::Status status = handlers_.fault(request.fault(), error, *response.mutable_fault_reply());
      if (status != v1::STATUS_OK) return reply(response_to(request, status, std::move(error)));
      return reply(std::move(response));
    }
    case v1::Request::kWatch:
      return reply(stream_update(request, 0));
    case v1::Request::kBmc:
      *response.mutable_bmc_reply() = handlers_.bmc();
      return reply(std::move(response));
    case v1::Request::kSend:
      return handlers_.send(request.send(), [response = std::move(response), reply = std::move(reply)](
                                                v1::Status status, std::string error, v1::SendReply result) mutable {
        response.set_status(status);
        response.set_error(std::move(error));
        if (status == v1::STATUS_OK) *response.mutable_send_reply() = std::move(result);
        reply(std::move(response));
      });
    case v1::Request::kPolicy:
      *response.mutable_policy_reply() = handlers_.policy();
      return reply(std::move(response));
    case v1::Request::kThrottle: {
      std::string error;
      const v1::Status status = handlers_.throttle(request.throttle(), error, *response.mutable_policy_reply());
      if (status != v1::STATUS_OK) return reply(response_to(request, status, std::move(error)));
      return reply(std::move(response));
    }
    case v1::Request::kDrain:
      *response.mutable_policy_reply() = handlers_.drain();
      return reply(std::move(response));
    case v1::Request::kMigrate:
      return handlers_.migrate(request.migrate(), [response = std::move(response), reply = std::move(reply)](
                                                      v1::Status status, std::string error,
                                                      v1::MigrationStatus result) mutable {
        response.set_status(status);
        response.set_error(std::move(error));
        if (status == v1::STATUS_OK) *response.mutable_migration_reply() = std::move(result);
        reply(std::move(response));
      });
    case v1::Request::kWorkload:
      *response.mutable_workload_reply() = handlers_.workload();
      return reply(std::move(response));
    case v1::Request::BODY_NOT_SET:
      break;
  }
  reply(response_to(request, v1::STATUS_BAD_REQUEST,
                    "the request names no operation (or one this railyardd does not know): upgrade the daemon or use "
                    "a railctl of the same release"));
}

v1::Response ControlService::stream_update(const v1::Request& request, uint64_t skipped) const {
  v1::Response response = response_to(request, v1::STATUS_OK);
  *response.mutable_watch_update() = handlers_.watch(request.watch());
  response.mutable_watch_update()->set_skipped(skipped);
  return response;
}

std::chrono::milliseconds ControlService::watch_interval(const v1::WatchRequest& request) {
  if (request.interval_ms() == 0) return std::chrono::milliseconds(1000);
  return std::chrono::milliseconds(
      std::clamp<uint32_t>(request.interval_ms(), control::kMinWatchIntervalMs, control::kMaxWatchIntervalMs));
}

bool ControlService::is_action(const v1::Request& request) {
  // No default: a new request type does not compile until it is placed here.
  switch (request.body_case()) {
    case v1::Request::kStatus:
    case v1::Request::kRails:
    case v1::Request::kPeers:
    case v1::Request::kTransfers:
    case v1::Request::kBmc:
    case v1::Request::kWatch:
    case v1::Request::kPolicy:
    case v1::Request::kWorkload:
    case v1::Request::BODY_NOT_SET:  // answered as a bad request
      return false;
    case v1::Request::kSend:
    case v1::Request::kFault:
    case v1::Request::kThrottle:
    case v1::Request::kDrain:
    case v1::Request::kMigrate:
      return true;
  }
  return true;
}

std::string ControlService::request_name(const v1::Request& request) {
  const auto* field = v1::Request::descriptor()->FindFieldByNumber(static_cast<int>(request.body_case()));
  return field ? field->name() : "an empty request";
}

v1::Response ControlService::permission_denied(std::string_view reason) {
  v1::Response response;
  response.set_protocol_version(v1::PROTOCOL_VERSION_CURRENT);
  response.set_status(v1::STATUS_PERMISSION_DENIED);
  response.set_error(std::string(reason));
  return response;
}

}  // namespace railyard::daemon
