/* librailyard's C API against a running railyardd: connect, register, post a
 * transfer to PEER's probe region (255, present on every daemon), wait on the
 * event fd for its completion, and check the documented errors.
 *   c_api WORKLOAD_SOCKET PEER */
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "client/railyard.h"

static int passed, failed;
#define CHECK(what, cond)                                      \
  do {                                                         \
    if (cond) {                                                \
      printf("ok   - %s\n", what);                            \
      ++passed;                                                \
    } else {                                                   \
      printf("FAIL - %s (%s)\n", what, ry_last_message());    \
      ++failed;                                                \
    }                                                          \
  } while (0)

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: c_api WORKLOAD_SOCKET PEER\n");
    return 2;
  }
  ry_workload* w = NULL;
  CHECK("absent socket gives RY_DAEMON_GONE", ry_connect("/nonexistent/workload.sock", "c", &w) == RY_DAEMON_GONE &&
                                                  strstr(ry_last_message(), "daemon not running") != NULL);
  CHECK("connect", ry_connect(argv[1], "c-api-test", &w) == RY_OK);
  if (w == NULL) return 1;
  ry_region r;
  CHECK("register a 1 MiB region", ry_register_region(w, 1 << 20, 0, "c", &r) == RY_OK && r.length == 1 << 20);
  memset(r.data, 0xab, r.length);
  ry_transfer t = {.local_region = r.id, .length = 1 << 20, .peer = argv[2], .remote_region = 255, .checksum = 1,
                   .cookie = 42};
  uint64_t id = 0;
  CHECK("post 1 MiB to the peer", ry_post(w, &t, &id) == RY_OK && id != 0);
  struct pollfd p = {.fd = ry_event_fd(w), .events = POLLIN};
  ry_completion c;
  int got = 0;
  for (int i = 0; i < 100 && !got; ++i) {
    poll(&p, 1, 100);
    got = ry_next_completion(w, &c);
  }
  CHECK("its completion arrives through the event fd", got && c.transfer_id == id && c.cookie == 42 &&
                                                           c.error == RY_OK && c.bytes == (1u << 20));
  t.peer = "nobody";
  CHECK("unknown peer gives RY_UNKNOWN_PEER", ry_post(w, &t, &id) == RY_UNKNOWN_PEER);
  CHECK("error names", strcmp(ry_error_name(RY_OUT_OF_RANGE), "out_of_range") == 0);
  ry_close(w);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
