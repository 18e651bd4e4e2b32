#pragma once
// Typed views of a libbpf skeleton's maps: the key and value types are fixed
// at compile time (the structs of the program's *_abi.h) and checked against
// the map's BTF-declared sizes once, at construction; every call then goes
// straight to the map's fd (no void*, no name look-ups per call). Failures
// return false with errno set and bump failed_calls() (Katran's
// bpfFailedCalls), so a caller on a hot or async path never throws.

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

namespace railyard::ebpf {

namespace detail {
/// Throws std::runtime_error when `map` is null or its key/value sizes or
/// per-CPU-ness differ from the C++ types'.
void check_map(const bpf_map* map, size_t key_size, size_t value_size, bool per_cpu);
/// Possible CPUs (the number of values a per-CPU lookup returns); throws on failure.
size_t possible_cpus();

/// What both map kinds share: the handle, and the failure count every call feeds.
class MapBase {
 public:
  int fd() const noexcept { return map_ ? bpf_map__fd(map_) : -1; }
  bpf_map* handle() const noexcept { return map_; }
  uint64_t failed_calls() const noexcept { return failed_; }

 protected:
  MapBase() = default;
  explicit MapBase(bpf_map* map) : map_(map) {}
  /// libbpf's result (0 or -errno) as true/false, with errno set and the failure counted.
  bool count(int rc) const noexcept {
    if (rc == 0) return true;
    ++failed_;
    errno = -rc;
    return false;
  }

  bpf_map* map_ = nullptr;

 private:
  mutable uint64_t failed_ = 0;
};
}  // namespace detail

/// A map with one value per key (ARRAY, HASH, ...).
template <class Key, class Value>
class BpfMap : public detail::MapBase {
  static_assert(std::is_trivially_copyable_v<Key> && std::is_trivially_copyable_v<Value>);

 public:
  BpfMap() = default;
  explicit BpfMap(bpf_map* map) : MapBase(map) { detail::check_map(map, sizeof(Key), sizeof(Value), false); }

  bool lookup(const Key& key, Value& out) const noexcept {
    return count(bpf_map__lookup_elem(map_, &key, sizeof(Key), &out, sizeof(Value), 0));
  }
  bool update(const Key& key, const Value& value, uint64_t flags = BPF_ANY) noexcept {
    return count(bpf_map__update_elem(map_, &key, sizeof(Key), &value, sizeof(Value), flags));
  }
};

/// A per-CPU map: a lookup yields one Value per possible CPU.
template <class Key, class Value>
class BpfPerCpuMap : public detail::MapBase {
  static_assert(std::is_trivially_copyable_v<Key> && std::is_trivially_copyable_v<Value>);
  static_assert(sizeof(Value) % 8 == 0, "the kernel lays per-CPU values out at 8-byte strides");

 public:
  BpfPerCpuMap() = default;
  explicit BpfPerCpuMap(bpf_map* map) : MapBase(map), cpus_(detail::possible_cpus()) {
    detail::check_map(map, sizeof(Key), sizeof(Value), true);
  }

  /// Values per lookup (possible CPUs).
  size_t cpus() const noexcept { return cpus_; }
  /// Fills `out` (exactly cpus() values) with each CPU's value.
  bool lookup(const Key& key, std::span<Value> out) const noexcept {
    if (out.size() != cpus_) return count(-EINVAL);
    return count(bpf_map__lookup_elem(map_, &key, sizeof(Key), out.data(), out.size_bytes(), 0));
  }
  /// Sets every CPU's value (`values` holds cpus() of them), e.g. to zero counters.
  bool update(const Key& key, std::span<const Value> values, uint64_t flags = BPF_ANY) noexcept {
    if (values.size() != cpus_) return count(-EINVAL);
    return count(bpf_map__update_elem(map_, &key, sizeof(Key), values.data(), values.size_bytes(), flags));
  }

 private:
  size_t cpus_ = 0;
};

}  // namespace railyard::ebpf
