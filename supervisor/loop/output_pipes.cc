#include "supervisor/loop/output_pipes.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include "supervisor/loop/guard.h"

namespace clusterd::loop {

namespace {

constexpr int kPipeSize = 256 * 1024;  // a burst the master has not read yet fits
constexpr int kReadsPerWake = 4;       // then the other events get their turn
constexpr int kDrainReads = 64;        // at an exit: up to 4 MiB, more than a pipe holds
// A worker that writes a line at a time would wake the master once per line. After a wake-up
// that found less than this, the next read waits a moment, so that lines arrive in batches:
// a line is late by at most kBatchDelay, the master wakes at most 500 times a second per pipe.
constexpr long kBatchBytes = 16 * 1024;
constexpr auto kBatchDelay = std::chrono::milliseconds(2);

void make_pipe(os::UniqueFd& read_end, os::UniqueFd& write_end) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::system_category(), "pipe2");
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  fcntl(fds[1], F_SETPIPE_SZ, kPipeSize);  // best effort: the default 64 KiB works too
  // Only the master's end is non-blocking: a worker that writes faster than the master reads
  // waits, as it would on a terminal.
  fcntl(fds[0], F_SETFL, O_RDONLY | O_NONBLOCK);  // a new pipe's read end: no other flag
}

}  // namespace

OutputPipes::Pipes OutputPipes::open() {
  Pipes pipes;
  make_pipe(pipes.out_read, pipes.out_write);
  make_pipe(pipes.err_read, pipes.err_write);
  return pipes;
}

void OutputPipes::watch(daemon::WorkerHandle handle, Pipes& pipes) {
  for (auto [fd, stream] : {std::pair{&pipes.out_read, daemon::OutputStream::Out},
                            std::pair{&pipes.err_read, daemon::OutputStream::Err}}) {
    if (!*fd) continue;  // taken over in a live upgrade after that stream ended
    auto reader = std::make_shared<Reader>(io_, handle, stream, fd->release());
    readers_.emplace(handle, reader);
    wait(reader);
  }
}

void OutputPipes::wait(const std::shared_ptr<Reader>& reader) {
  reader->fd.async_wait(asio::posix::stream_descriptor::wait_read,
                        [this, reader](const std::error_code& ec) {
                          if (ec) return;  // closed
                          const long got = read_some(reader, kReadsPerWake);
                          if (got < 0) return;
                          if (got >= kBatchBytes) return wait(reader);
                          reader->pause.expires_after(kBatchDelay);
                          reader->pause.async_wait([this, reader](const std::error_code& e) {
                            if (!e) wait(reader);
                          });
                        });
}

void OutputPipes::drain(daemon::WorkerHandle handle) {
  const auto [first, last] = readers_.equal_range(handle);
  std::vector<std::shared_ptr<Reader>> readers;
  for (auto it = first; it != last; ++it) readers.push_back(it->second);
  for (const auto& reader : readers) read_some(reader, kDrainReads);
}

long OutputPipes::read_some(const std::shared_ptr<Reader>& reader, int reads) {
  long total = 0;
  for (int i = 0; i < reads; ++i) {
    const ssize_t n = ::read(reader->fd.native_handle(), buffer_.data(), buffer_.size());
    if (n > 0) {
      const std::string_view bytes(buffer_.data(), static_cast<std::size_t>(n));
      guard("worker output", [&] { events_->on_output(reader->handle, reader->stream, bytes); });
      total += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return total;
    // End of file (every writer is gone), or an error: this stream is over.
    guard("worker output", [&] { events_->on_output_end(reader->handle, reader->stream); });
    const auto [first, last] = readers_.equal_range(reader->handle);
    for (auto it = first; it != last; ++it) {
      if (it->second == reader) {
        readers_.erase(it);
        break;
      }
    }
    std::error_code ignored;
    reader->fd.close(ignored);
    reader->pause.cancel();
    return -1;
  }
  return total;
}

std::pair<int, int> OutputPipes::fds_of(daemon::WorkerHandle handle) const {
  std::pair<int, int> out{-1, -1};
  const auto [from, to] = readers_.equal_range(handle);
  for (auto it = from; it != to; ++it) {
    const int fd = const_cast<Reader&>(*it->second).fd.native_handle();
    (it->second->stream == daemon::OutputStream::Out ? out.first : out.second) = fd;
  }
  return out;
}

}  // namespace clusterd::loop
