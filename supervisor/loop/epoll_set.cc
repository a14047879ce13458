#include "supervisor/loop/epoll_set.h"

#include <sys/epoll.h>

#include <array>
#include <cerrno>
#include <system_error>

#include "supervisor/loop/guard.h"

namespace clusterd::loop {

namespace {

constexpr int kEventsPerWake = 64;

int make_epoll() {
  const int fd = epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
  return fd;
}

int control(int epoll, int op, int fd, std::uint64_t key, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = key;
  return epoll_ctl(epoll, op, fd, &event);
}

}  // namespace

EpollSet::EpollSet(asio::io_context& io) : epoll_(io, make_epoll()) {}

void EpollSet::start(Ready ready) {
  ready_ = std::move(ready);
  wait();  // an empty set is never readable: the wait costs nothing while there is no member
}

void EpollSet::wait() {
  epoll_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const std::error_code& ec) {
    if (ec) return;  // closed
    std::array<epoll_event, kEventsPerWake> events;
    const int n = epoll_wait(epoll_.native_handle(), events.data(), kEventsPerWake, 0);
    for (int i = 0; i < n; ++i) {
      guard("a pipe or notify socket became readable", [&] { ready_(events[i].data.u64); });
    }
    wait();
  });
}

void EpollSet::add(int fd, std::uint64_t key, std::uint32_t events) {
  if (control(epoll_.native_handle(), EPOLL_CTL_ADD, fd, key, events) != 0) {
    throw std::system_error(errno, std::system_category(), "epoll_ctl(EPOLL_CTL_ADD)");
  }
}

void EpollSet::rearm(int fd, std::uint64_t key, std::uint32_t events) {
  control(epoll_.native_handle(), EPOLL_CTL_MOD, fd, key, events);
}

void EpollSet::remove(int fd) { epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, fd, nullptr); }

}  // namespace clusterd::loop
