/* librailyard's C API: the same operations as client/workload.h, for
 * workloads written in C or bound from other languages.
 *
 *   ry_workload* w;
 *   if (ry_connect("/run/railyard/workload.sock", "decode-0", &w) != RY_OK) puts(ry_last_message());
 *   ry_region r;  ry_register_region(w, 64 << 20, 0, "kv", &r);
 *   ry_transfer t = {.local_region = r.id, .length = 4096, .peer = "gpu-08", .remote_region = 7};
 *   uint64_t id;  ry_post(w, &t, &id);
 *   poll ry_event_fd(w), then: ry_completion c; while (ry_next_completion(w, &c)) ...
 *   ry_close(w);
 *
 * Every call is thread-safe. A failed call returns its error; ry_last_message()
 * (per thread) says what failed and what to do. */
#ifndef RAILYARD_H
#define RAILYARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ry_error {
  RY_OK = 0,
  RY_BAD_REQUEST = 1,
  RY_UNKNOWN_PEER = 2,
  RY_UNKNOWN_REGION = 3,
  RY_OUT_OF_RANGE = 4,
  RY_REGION_IN_USE = 5,
  RY_NO_FD = 6,
  RY_PEER_UNREACHABLE = 7,
  RY_REMOTE_REJECTED = 8,
  RY_CHECKSUM = 9,
  RY_BUSY = 10,
  RY_REMOTE_STALE = 11,    /* the peer took a newer transfer in its slot: not delivered */
  RY_REMOTE_CONFLICT = 12, /* the peer holds a transfer contradicting this one: not delivered */
  RY_DAEMON_GONE = 100,
  RY_SYSTEM = 101
} ry_error;

typedef struct ry_workload ry_workload;

typedef struct ry_region {
  uint32_t id;
  void* data; /* mapped in this process; the daemon maps the same pages */
  uint64_t length;
} ry_region;

typedef struct ry_transfer {
  uint32_t local_region;
  uint64_t local_offset;
  uint64_t length;
  const char* peer;
  uint32_t remote_region;
  uint64_t remote_offset;
  int activation; /* non-zero: class activation (strict priority); zero: kv */
  int checksum;   /* non-zero: the receiver verifies a CRC32C of the transfer */
  uint64_t cookie;
} ry_transfer;

typedef struct ry_completion {
  uint64_t transfer_id;
  uint64_t cookie;
  ry_error error;
  uint64_t bytes;
  uint64_t duration_ns;
} ry_completion;

typedef struct ry_inbound {
  char peer[64];
  uint64_t transfer_id;
  uint32_t region_id;
  uint64_t offset;
  uint64_t length;
  int activation;
  int checksum_verified;
} ry_inbound;

ry_error ry_connect(const char* socket_path, const char* name, ry_workload** out);
void ry_close(ry_workload* w);
ry_error ry_register_region(ry_workload* w, uint64_t length, uint32_t id, const char* name, ry_region* out);
ry_error ry_deregister_region(ry_workload* w, uint32_t id);
ry_error ry_post(ry_workload* w, const ry_transfer* t, uint64_t* transfer_id);
/* Readable while completions or inbound transfers are queued. */
int ry_event_fd(const ry_workload* w);
/* 1 and fills *out when one was queued, else 0. */
int ry_next_completion(ry_workload* w, ry_completion* out);
int ry_next_inbound(ry_workload* w, ry_inbound* out);
const char* ry_last_message(void);
const char* ry_error_name(ry_error e);

#ifdef __cplusplus
}
#endif

#endif /* RAILYARD_H */
