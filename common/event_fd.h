#pragma once
// An eventfd one thread writes to wake another sleeping in poll on it, and
// the waiting push the data planes use for their event rings: a control
// thread that fell behind is waited for, never dropped from.

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <system_error>

#include "common/spsc_ring.h"

namespace railyard {

class EventFd {
 public:
  /// Non-blocking, close-on-exec. Throws std::system_error.
  EventFd() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  ~EventFd() { ::close(fd_); }
  EventFd(const EventFd&) = delete;
  EventFd& operator=(const EventFd&) = delete;

  int fd() const { return fd_; }
  void wake() const {
    const uint64_t one = 1;
    (void)!::write(fd_, &one, sizeof one);
  }
  /// Resets the count, so the next poll sleeps until the next wake().
  void drain() const {
    uint64_t count;
    (void)!::read(fd_, &count, sizeof count);
  }

 private:
  const int fd_;
};

/// Pushes `value`, waking the consumer and retrying every 100 us while the
/// ring is full; gives up only when `running` turns false (shutdown).
template <class T>
void push_waiting(SpscRing<T>& ring, const T& value, const EventFd& consumer, const std::atomic<bool>& running) {
  while (!ring.push(value)) {
    consumer.wake();
    if (!running.load(std::memory_order_relaxed)) return;
    ::usleep(100);
  }
}

}  // namespace railyard
