// The pipes of workers started with capture_output: the worker writes its stdout and stderr into
// them, the loop reads them when they are readable (a bounded number of reads per wake-up, so
// one flooding worker cannot starve the rest) and hands the bytes to HostEvents::on_output.
// Before a worker's exit is reported, what it left in its pipes is read first (drain).
#pragma once

#include <array>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <map>
#include <memory>

#include "supervisor/daemon/host.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::loop {

class OutputPipes {
 public:
  explicit OutputPipes(asio::io_context& io) : io_(io) {}
  void start(daemon::HostEvents& events) { events_ = &events; }

  /// A worker's two pipes: the write ends go to the child (as its fds 1 and 2), the read ends
  /// to watch(). Throws std::system_error.
  struct Pipes {
    os::UniqueFd out_read, out_write, err_read, err_write;
  };
  static Pipes open();
  /// Reads `pipes`' read ends for `handle` from now on, until each reaches end of file.
  void watch(daemon::WorkerHandle handle, Pipes& pipes);
  /// The read ends still open for `handle` (stdout, stderr); -1 for one that ended.
  std::pair<int, int> fds_of(daemon::WorkerHandle handle) const;
  /// Delivers what `handle`'s pipes hold now (its last words, before its exit is reported).
  void drain(daemon::WorkerHandle handle);

 private:
  struct Reader {
    Reader(asio::io_context& io, daemon::WorkerHandle h, daemon::OutputStream s, int native)
        : handle(h), stream(s), fd(io, native), pause(io) {}
    daemon::WorkerHandle handle = 0;
    daemon::OutputStream stream = daemon::OutputStream::Out;
    asio::posix::stream_descriptor fd;
    asio::steady_timer pause;  // a trickle is read in batches: see wait()
  };
  void wait(const std::shared_ptr<Reader>& reader);
  /// Up to `reads` reads: the bytes read, or -1 once the pipe ended (the reader is gone then).
  long read_some(const std::shared_ptr<Reader>& reader, int reads);

  asio::io_context& io_;
  daemon::HostEvents* events_ = nullptr;
  std::multimap<daemon::WorkerHandle, std::shared_ptr<Reader>> readers_;
  std::array<char, 64 * 1024> buffer_{};
};

}  // namespace clusterd::loop
