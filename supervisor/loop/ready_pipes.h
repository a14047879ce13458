// `ready: fd` (s6's notification-fd protocol): the read end of each such worker's ready pipe,
// watched until a whole line arrives (HostEvents::on_ready_line, once), the pipe ends, or 4 KiB
// came without a newline (a worker that writes garbage there is not made ready by it).
#pragma once

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <map>
#include <memory>

#include "supervisor/daemon/host.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::loop {

class ReadyPipes {
 public:
  explicit ReadyPipes(asio::io_context& io) : io_(io) {}
  void start(daemon::HostEvents& events) { events_ = &events; }
  /// Watches `read_end` for `handle` from now on.
  void watch(daemon::WorkerHandle handle, os::UniqueFd read_end);

 private:
  struct Pipe {
    Pipe(asio::io_context& io, int fd) : stream(io, fd) {}
    asio::posix::stream_descriptor stream;
    std::size_t seen = 0;  // bytes read so far without a newline
  };
  void wait(daemon::WorkerHandle handle, const std::shared_ptr<Pipe>& pipe);

  asio::io_context& io_;
  daemon::HostEvents* events_ = nullptr;
  std::map<daemon::WorkerHandle, std::shared_ptr<Pipe>> pipes_;
};

}  // namespace clusterd::loop
