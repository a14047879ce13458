// The filters of workers started with socket adoption (docs/adoption.md): each worker's filter
// listener fd is watched; a bind() or listen() it stops is read (os/adopt.h), handed to
// HostEvents::on_socket_call, and the answer carried out at once: a call waits in the kernel
// until then. A bounded number of calls per wake-up, so one worker calling bind() in a loop
// cannot starve the rest. A filter is closed once every process under it has exited.
#pragma once

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <map>
#include <memory>

#include "supervisor/daemon/host.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::loop {

class AdoptionCalls {
 public:
  explicit AdoptionCalls(asio::io_context& io) : io_(io) {}
  void start(daemon::HostEvents& events) { events_ = &events; }

  /// Answers the calls of `handle`'s filter from now on (`listener`: Child::adopt_listener).
  void watch(daemon::WorkerHandle handle, os::UniqueFd listener);
  /// The filter listener of `handle`, for a live upgrade; -1 without one.
  int fd_of(daemon::WorkerHandle handle) const;
  std::size_t watched() const { return filters_.size(); }

 private:
  using Watch = std::shared_ptr<asio::posix::stream_descriptor>;
  void wait(daemon::WorkerHandle handle, const Watch& watch);
  /// Up to `calls` calls read and answered; false once the filter is closed.
  bool answer_some(daemon::WorkerHandle handle, int listener, int calls);

  asio::io_context& io_;
  daemon::HostEvents* events_ = nullptr;
  std::map<daemon::WorkerHandle, Watch> filters_;
};

}  // namespace clusterd::loop
