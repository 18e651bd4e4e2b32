#include "daemon/region_table.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace railyard::daemon {

RegionTable::~RegionTable() {
  for (auto& r : owned_) {
    if (r) unmap(*r);
  }
  for (auto& r : retired_) unmap(*r.region);
}

void RegionTable::unmap(Region& r) {
  if (r.base != nullptr) ::munmap(r.base, r.length);
  if (r.fd >= 0) ::close(r.fd);
  r.base = nullptr;
  r.fd = -1;
}

RegionTable::Registration RegionTable::add(uint32_t requested_id, int memfd, uint64_t length, uint64_t owner,
                                           std::string name) {
  auto refuse = [memfd](Error e, std::string message) {
    ::close(memfd);
    return Registration{.error = e, .id = 0, .message = std::move(message)};
  };
  uint32_t id = requested_id;
  if (id >= kMaxRegions) {
    return refuse(Error::id_out_of_range,
                  fmt::format("region id {} is out of range; use 1 to {} or 0 to let the daemon choose", id,
                              kMaxRegions - 1));
  }
  if (id != 0 && owned_[id]) {
    return refuse(Error::id_in_use, fmt::format("region id {} is already registered (\"{}\"); pick another id or 0",
                                                id, owned_[id]->name));
  }
  if (id == 0) {
    for (uint32_t i = 1; i < kMaxRegions && id == 0; ++i) {
      if (!owned_[i]) id = i;
    }
    if (id == 0)
      return refuse(Error::full, fmt::format("all {} region slots are in use; deregister some", kMaxRegions - 1));
  }
  const int seals = ::fcntl(memfd, F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
    return refuse(Error::not_a_sealed_memfd,
                  "the region must be a memfd sealed with F_SEAL_SHRINK (memfd_create with MFD_ALLOW_SEALING, then "
                  "fcntl F_ADD_SEALS), so it cannot shrink while the daemon writes into it; librailyard does this");
  }
  struct stat st {};
  if (::fstat(memfd, &st) != 0 || static_cast<uint64_t>(st.st_size) < length || length == 0) {
    return refuse(Error::too_small, fmt::format("the memfd holds {} bytes but the region claims {}; ftruncate it first",
                                                static_cast<uint64_t>(st.st_size), length));
  }
  void* base = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (base == MAP_FAILED) {
    return refuse(Error::map_failed, fmt::format("cannot map the region ({} bytes): {}", length, std::strerror(errno)));
  }
  owned_[id] = std::make_unique<Region>();
  owned_[id]->base = static_cast<std::byte*>(base);
  owned_[id]->length = length;
  owned_[id]->fd = memfd;
  owned_[id]->owner = owner;
  owned_[id]->name = std::move(name);
  slots_[id].store(owned_[id].get(), std::memory_order_release);
  if (observer_) observer_(id, true);
  return Registration{.error = Error::none, .id = id, .message = {}};
}

void RegionTable::add_internal(uint32_t id, uint64_t length, std::string name) {
  const int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(length)) != 0 || ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    throw std::runtime_error(fmt::format("cannot create the {}-byte region \"{}\": {}", length, name, why));
  }
  auto r = add(id, fd, length, 0, name);
  if (r.error != Error::none) throw std::runtime_error(fmt::format("region \"{}\": {}", name, r.message));
}

RegionTable::Error RegionTable::pin(uint32_t id, uint64_t owner, uint64_t offset, uint64_t length, Pin& out,
                                    std::string& message) {
  if (id >= kMaxRegions || !owned_[id] || (owner != 0 && owned_[id]->owner != owner)) {
    message = fmt::format("region {} is not registered by this workload", id);
    return Error::unknown;
  }
  Region& r = *owned_[id];
  if (offset > r.length || length > r.length - offset) {
    message = fmt::format("range [{}, {}) is outside region {} ({} bytes)", offset, offset + length, id, r.length);
    return Error::too_small;
  }
  r.pins.fetch_add(1, std::memory_order_acq_rel);
  out.region = &r;
  out.bytes = std::span<const std::byte>(r.base + offset, length);
  return Error::none;
}

void RegionTable::unpin(Pin& pin) {
  if (pin.region == nullptr) return;
  static_cast<Region*>(pin.region)->pins.fetch_sub(1, std::memory_order_acq_rel);
  pin.region = nullptr;
}

bool RegionTable::retire(uint32_t id, uint64_t owner) {
  if (id >= kMaxRegions || !owned_[id] || owned_[id]->owner != owner) return false;
  slots_[id].store(nullptr, std::memory_order_release);
  retired_.push_back(Retired{.region = std::move(owned_[id]), .epoch = epoch_.load(std::memory_order_acquire)});
  if (observer_) observer_(id, false);
  return true;
}

void RegionTable::retire_owner(uint64_t owner) {
  for (uint32_t id = 1; id < kMaxRegions; ++id) {
    if (owned_[id] && owned_[id]->owner == owner) retire(id, owner);
  }
}

void RegionTable::reclaim() {
  const uint64_t now = epoch_.load(std::memory_order_acquire);
  // Two epochs later, every lookup that could have seen the region has
  // ended; pins are transfers still sending from it.
  std::erase_if(retired_, [now](Retired& r) {
    if (now < r.epoch + 2 || r.region->pins.load(std::memory_order_acquire) != 0) return false;
    unmap(*r.region);
    return true;
  });
}

}  // namespace railyard::daemon
