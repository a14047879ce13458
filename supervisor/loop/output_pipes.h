// The pipes of workers started with capture_output: the worker writes its stdout and stderr into
// them, the loop reads them when they are readable (a bounded number of reads per wake-up, so
// one flooding worker cannot starve the rest) and hands the bytes to HostEvents::on_output.
// Before a worker's exit is reported, what it left in its pipes is read first (drain).
// Every read end is in one EpollSet: a captured worker costs the master an entry in a map, not an
// asio descriptor and a timer per stream (those were ~1.3 KiB a worker).
#pragma once

#include <array>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <cstdint>
#include <map>
#include <vector>

#include "supervisor/daemon/host.h"
#include "supervisor/loop/epoll_set.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::loop {

class OutputPipes {
 public:
  explicit OutputPipes(asio::io_context& io);  // throws std::system_error
  void start(daemon::HostEvents& events);

  /// A worker's two pipes: the write ends go to the child (as its fds 1 and 2), the read ends
  /// to watch(). Throws std::system_error.
  struct Pipes {
    os::UniqueFd out_read, out_write, err_read, err_write;
  };
  static Pipes open();
  /// Reads `pipes`' read ends for `handle` from now on, until each reaches end of file.
  /// Throws std::system_error (the read ends are closed then).
  void watch(daemon::WorkerHandle handle, Pipes& pipes);
  /// The read ends still open for `handle` (stdout, stderr); -1 for one that ended.
  std::pair<int, int> fds_of(daemon::WorkerHandle handle) const;
  /// Delivers what `handle`'s pipes hold now (its last words, before its exit is reported).
  void drain(daemon::WorkerHandle handle);

 private:
  // A stream's key in the epoll set: the worker's handle and the stream (0 out, 1 err).
  static std::uint64_t key_of(daemon::WorkerHandle handle, int stream) {
    return handle << 1 | static_cast<std::uint64_t>(stream);
  }
  void on_ready(std::uint64_t key);
  /// Watches the stream again, at once (`now`) or at the next batch (see the .cc).
  void rearm(std::uint64_t key, bool now);
  void resume_paused();
  /// Up to `reads` reads of `key`'s pipe: the bytes read, or -1 once the pipe ended (it is
  /// closed and forgotten then) or is not watched.
  long read_some(std::uint64_t key, int reads);

  daemon::HostEvents* events_ = nullptr;
  EpollSet set_;
  asio::steady_timer batch_;  // armed while a stream waits in paused_
  bool batch_armed_ = false;
  struct Streams {
    std::array<os::UniqueFd, 2> fds;  // stdout, stderr
    std::array<bool, 2> paused{};     // in paused_
  };
  std::map<daemon::WorkerHandle, Streams> pipes_;
  std::vector<std::uint64_t> paused_;  // streams that wait for the next batch
  std::array<char, 64 * 1024> buffer_{};
};

}  // namespace clusterd::loop
