// The C API (client/railyard.h) over the C++ one (client/workload.h).
#include <cstring>
#include <new>
#include <string>

#include "client/railyard.h"
#include "client/workload.h"

struct ry_workload {
  railyard::Workload impl;
};

namespace {
thread_local std::string g_last_message;

// ry_error and railyard::Error are converted by value.
#define RY_SAME(cpp, c) static_assert(static_cast<int>(railyard::Error::cpp) == c)
RY_SAME(none, RY_OK);
RY_SAME(bad_request, RY_BAD_REQUEST);
RY_SAME(unknown_peer, RY_UNKNOWN_PEER);
RY_SAME(unknown_region, RY_UNKNOWN_REGION);
RY_SAME(out_of_range, RY_OUT_OF_RANGE);
RY_SAME(region_in_use, RY_REGION_IN_USE);
RY_SAME(no_fd, RY_NO_FD);
RY_SAME(peer_unreachable, RY_PEER_UNREACHABLE);
RY_SAME(remote_rejected, RY_REMOTE_REJECTED);
RY_SAME(checksum, RY_CHECKSUM);
RY_SAME(busy, RY_BUSY);
RY_SAME(remote_stale, RY_REMOTE_STALE);
RY_SAME(remote_conflict, RY_REMOTE_CONFLICT);
RY_SAME(daemon_gone, RY_DAEMON_GONE);
RY_SAME(system, RY_SYSTEM);
#undef RY_SAME

template <class T>
ry_error fail(const railyard::Result<T>& r) {
  g_last_message = r.message();
  return static_cast<ry_error>(r.error());
}
}  // namespace

extern "C" {

ry_error ry_connect(const char* socket_path, const char* name, ry_workload** out) {
  auto w = railyard::Workload::connect(socket_path ? socket_path : "", name ? name : "");
  if (!w) return fail(w);
  *out = new (std::nothrow) ry_workload{std::move(w.value())};
  if (*out == nullptr) {
    g_last_message = "out of memory";
    return RY_SYSTEM;
  }
  return RY_OK;
}

void ry_close(ry_workload* w) { delete w; }

ry_error ry_register_region(ry_workload* w, uint64_t length, uint32_t id, const char* name, ry_region* out) {
  auto r = w->impl.register_region(length, id, name ? name : "");
  if (!r) return fail(r);
  *out = ry_region{.id = r.value().id, .data = r.value().data, .length = r.value().length};
  return RY_OK;
}

ry_error ry_deregister_region(ry_workload* w, uint32_t id) {
  auto r = w->impl.deregister_region(id);
  return r ? RY_OK : fail(r);
}

ry_error ry_post(ry_workload* w, const ry_transfer* t, uint64_t* transfer_id) {
  auto r = w->impl.post({.local_region = t->local_region,
                         .local_offset = t->local_offset,
                         .length = t->length,
                         .peer = t->peer ? t->peer : "",
                         .remote_region = t->remote_region,
                         .remote_offset = t->remote_offset,
                         .traffic_class = t->activation ? railyard::TrafficClass::activation : railyard::TrafficClass::kv,
                         .checksum = t->checksum != 0,
                         .cookie = t->cookie});
  if (!r) return fail(r);
  if (transfer_id) *transfer_id = r.value();
  return RY_OK;
}

int ry_event_fd(const ry_workload* w) { return w->impl.event_fd(); }

int ry_next_completion(ry_workload* w, ry_completion* out) {
  auto c = w->impl.next_completion();
  if (!c) return 0;
  *out = ry_completion{.transfer_id = c->transfer_id, .cookie = c->cookie, .error = static_cast<ry_error>(c->error),
                       .bytes = c->bytes, .duration_ns = c->duration_ns};
  return 1;
}

int ry_next_inbound(ry_workload* w, ry_inbound* out) {
  auto i = w->impl.next_inbound();
  if (!i) return 0;
  std::memset(out, 0, sizeof *out);
  std::strncpy(out->peer, i->peer.c_str(), sizeof out->peer - 1);
  out->transfer_id = i->transfer_id;
  out->region_id = i->region_id;
  out->offset = i->offset;
  out->length = i->length;
  out->activation = i->traffic_class == railyard::TrafficClass::activation;
  out->checksum_verified = i->checksum_verified;
  return 1;
}

const char* ry_last_message(void) { return g_last_message.c_str(); }

const char* ry_error_name(ry_error e) { return railyard::error_name(static_cast<railyard::Error>(e)); }

}  // extern "C"
