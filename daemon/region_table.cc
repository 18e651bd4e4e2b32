#include "daemon/region_table.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
  owned_[id] = std::make_unique<Region>(Region{.base = static_cast<std::byte*>(base),
                                               .length = length,
                                               .fd = memfd,
                                               .owner = owner,
                                               .name = std::move(name)});
  slots_[id].store(owned_[id].get(), std::memory_order_release);
  return Registration{.error = Error::none, .id = id, .message = {}};
}

bool RegionTable::retire(uint32_t id, uint64_t owner) {
  if (id >= kMaxRegions || !owned_[id] || owned_[id]->owner != owner) return false;
  slots_[id].store(nullptr, std::memory_order_release);
  retired_.push_back(Retired{.region = std::move(owned_[id]), .epoch = epoch_.load(std::memory_order_acquire)});
  return true;
}

void RegionTable::retire_owner(uint64_t owner) {
  for (uint32_t id = 1; id < kMaxRegions; ++id) {
    if (owned_[id] && owned_[id]->owner == owner) retire(id, owner);
  }
}

void RegionTable::reclaim() {
  const uint64_t now = epoch_.load(std::memory_order_acquire);
  // Two epochs later, every lookup that could have seen the region has ended.
  std::erase_if(retired_, [now](Retired& r) {
    if (now < r.epoch + 2) return false;
    unmap(*r.region);
    return true;
  });
}

size_t RegionTable::live_count() const {
  size_t n = 0;
  for (const auto& r : owned_) n += r ? 1 : 0;
  return n;
}

}  // namespace railyard::daemon
