// Many descriptors watched as one: an epoll set of its own, which the loop watches as a single
// asio descriptor. A member costs an entry in the kernel's set and nothing in the master's heap,
// where an asio descriptor costs its reactor state and each pending wait an operation (with
// 1,024 workers, their output pipes and notify sockets were ~1.7 KiB a worker).
#pragma once

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>

namespace clusterd::loop {

class EpollSet {
 public:
  using Ready = std::function<void(std::uint64_t key)>;
  explicit EpollSet(asio::io_context& io);  // throws std::system_error
  /// From now on, `ready(key)` for each member the kernel reports ready (up to 64 a wake-up, the
  /// others at the next); for as long as the loop runs.
  void start(Ready ready);
  /// Adds `fd` with `key` for `events` (EPOLLIN, EPOLLET, ...). Throws std::system_error.
  void add(int fd, std::uint64_t key, std::uint32_t events);
  /// Sets a member's events again (EPOLL_CTL_MOD): reported at once if ready by then.
  void rearm(int fd, std::uint64_t key, std::uint32_t events);
  /// Takes `fd` out of the set (before it is closed: a duplicate elsewhere would keep it in).
  void remove(int fd);

 private:
  void wait();
  asio::posix::stream_descriptor epoll_;
  Ready ready_;
};

}  // namespace clusterd::loop
