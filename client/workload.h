#pragma once
// librailyard: what a workload links to move its memory through railyardd.
//
//   auto w = railyard::Workload::connect("/run/railyard/workload.sock", "decode-0");
//   auto region = w.value().register_region(64 << 20);      // memfd, sealed, mapped here and in the daemon
//   w.value().post({.local_region = region.value().id, .length = 4 << 20, .peer = "gpu-08",
//                   .remote_region = 1, .traffic_class = TrafficClass::kv});
//   poll(w.value().event_fd()) ... while (auto c = w.value().next_completion()) { ... }
//
// A background thread reads the daemon's events; completions, inbound
// transfers, throttle commands and migration commands queue up and make
// event_fd() readable. Every call is thread-safe.
//
// A decode workload also registers its KV region with register_decode(),
// report()s its sequences at least every 100 ms, and answers each
// MigrationCommand from next_migration() with ack(command_id, ok, message, sequences).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace railyard {

/// Errors a call or a completion can carry. Values match railyard.v1.WorkloadError.
enum class Error : int {
  none = 0,
  bad_request = 1,
  unknown_peer = 2,
  unknown_region = 3,
  out_of_range = 4,
  region_in_use = 5,
  no_fd = 6,
  peer_unreachable = 7,
  remote_rejected = 8,
  checksum = 9,
  busy = 10,
  remote_stale = 11,     ///< the peer holds a newer transfer in the slot (forged traffic?): not delivered; post again
  remote_conflict = 12,  ///< the peer holds a transfer that contradicts this one: not delivered; post again
  daemon_gone = 100,  ///< the connection to railyardd is lost: reconnect
  system = 101,       ///< a local system call failed (memfd, mmap, socket)
};

/// Short name of an error, e.g. "out_of_range".
const char* error_name(Error e);

enum class TrafficClass : uint8_t { activation = 1, kv = 2 };

/// A value or an error with a message saying what failed and what to do.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e, std::string message) : error_(e), message_(std::move(message)) {}
  bool ok() const { return error_ == Error::none; }
  explicit operator bool() const { return ok(); }
  T& value() { return *value_; }
  const T& value() const { return *value_; }
  Error error() const { return error_; }
  const std::string& message() const { return message_; }

 private:
  std::optional<T> value_;
  Error error_ = Error::none;
  std::string message_;
};

struct Region {
  uint32_t id = 0;
  std::byte* data = nullptr;  ///< mapped in this process; the daemon maps the same pages
  uint64_t length = 0;
};

struct TransferSpec {
  uint32_t local_region = 0;
  uint64_t local_offset = 0;
  uint64_t length = 0;
  std::string peer;
  uint32_t remote_region = 0;
  uint64_t remote_offset = 0;
  TrafficClass traffic_class = TrafficClass::kv;
  bool checksum = false;  ///< the receiver verifies a CRC32C of the transfer
  uint64_t cookie = 0;    ///< echoed in the completion
};

struct Completion {
  uint64_t transfer_id = 0;
  uint64_t cookie = 0;
  Error error = Error::none;
  uint64_t bytes = 0;
  uint64_t duration_ns = 0;
};

struct Inbound {
  std::string peer;
  uint64_t transfer_id = 0;
  uint32_t region_id = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
  TrafficClass traffic_class = TrafficClass::kv;
  bool checksum_verified = false;
};

/// The host's throttle level from railyardd's policy. Apply it, then ack()
/// its command_id (a command not acknowledged in 2 s counts as failed).
struct ThrottleCommand {
  uint32_t level = 0;       ///< 0 normal, 1 admission, 2 batch, 3+ (GPU power, CPU): includes 1 and 2
  std::string level_name;   ///< "normal", "admission", "batch", ...
  std::string reason;
  uint64_t command_id = 0;
  bool drain = false;       ///< emergency: stop taking work now
};

/// One decode sequence as the workload sees it (railyard.v1.SequenceState).
struct SequenceState {
  uint64_t id = 0;
  uint32_t slot = 0;         ///< its KV bytes start at region offset slot * slot_bytes
  uint64_t kv_bytes = 0;     ///< KV bytes written so far in the slot
  uint64_t tokens = 0;       ///< tokens generated so far
  uint64_t last_token = 0;   ///< the newest token (the next one depends on it)
  uint32_t kv_crc32c = 0;    ///< CRC32C of the slot's first kv_bytes; set in PAUSE's ack and in RESUME
};

/// What a decode workload reports, at least every 100 ms.
struct SequenceReport {
  std::vector<SequenceState> sequences;  ///< every sequence decoding here (not paused or reserved ones)
  double tokens_per_second = 0;          ///< over the last second, all sequences
  uint32_t free_slots = 0;
  uint32_t throttle_level = 0;           ///< the level the workload runs at
};

/// A step of a live migration, for the decode workload. Apply it, then ack()
/// its command_id with the sequences the kind asks for.
struct MigrationCommand {
  enum class Kind {
    reserve,  ///< target: reserve a free slot per sequence (id, kv_bytes, tokens); ack with (id, slot) each
    pause,    ///< source: stop decoding them after the current step; ack with their final states and kv_crc32c
    resume,   ///< target: the KV bytes are in the reserved slots; check kv_crc32c and decode on
    release,  ///< source: the target serves them now; forget them and free their slots
    abort,    ///< source: decode them on here (un-pause); target: drop the reservations
  };
  Kind kind = Kind::abort;
  uint64_t command_id = 0;
  uint64_t migration_id = 0;
  std::string peer;                      ///< the other host
  /// RESERVE: id, kv_bytes, tokens; RESUME: final states with this host's slots; others: ids.
  std::vector<SequenceState> sequences;
};

/// Short name of a migration step, e.g. "reserve".
const char* kind_name(MigrationCommand::Kind kind);

struct Empty {};

class Workload {
 public:
  /// Connects and says hello. Errors: daemon_gone ("daemon not running at PATH").
  static Result<Workload> connect(const std::string& socket_path, const std::string& name);

  Workload(Workload&&) noexcept;
  Workload& operator=(Workload&&) noexcept;
  ~Workload();

  /// Creates a memfd of `length` bytes, seals it against shrinking, maps it
  /// here and registers it; `id` 0 lets the daemon choose.
  Result<Region> register_region(uint64_t length, uint32_t id = 0, const std::string& name = "");
  Result<Empty> deregister_region(uint32_t id);

  /// Declares this workload the host's decode workload: its KV lives in the
  /// already registered region `region_id`, cut into `capacity` slots of
  /// `slot_bytes`. Call once, after register_region().
  Result<Empty> register_decode(uint32_t region_id, uint32_t capacity, uint64_t slot_bytes);

  /// Sends the decode workload's sequences. The daemon does not answer, so
  /// this returns once the report is written: daemon_gone if the connection
  /// is lost, and the error of a report the daemon refused since the last call.
  Result<Empty> report(const SequenceReport& report);

  /// Posts a transfer; returns its id once the daemon accepted it. The
  /// completion arrives later through next_completion().
  Result<uint64_t> post(const TransferSpec& spec);

  /// Readable while completions, inbound transfers or commands are queued
  /// (or the daemon went away: then calls return daemon_gone).
  int event_fd() const;
  std::optional<Completion> next_completion();
  std::optional<Inbound> next_inbound();
  /// Throttle commands, queued behind the same event_fd.
  std::optional<ThrottleCommand> next_command();
  /// Migration commands (decode workloads only), queued behind the same event_fd, in the daemon's order.
  std::optional<MigrationCommand> next_migration();
  /// Tells the daemon whether the command (throttle or migration) was
  /// applied; `sequences` answers RESERVE (id, slot) and PAUSE (final states).
  Result<Empty> ack(uint64_t command_id, bool ok = true, const std::string& message = "",
                    const std::vector<SequenceState>& sequences = {});

  const std::string& host_name() const;
  bool connected() const;

 private:
  struct State;
  explicit Workload(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace railyard
