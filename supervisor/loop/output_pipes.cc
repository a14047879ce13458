#include "supervisor/loop/output_pipes.h"

#include <fcntl.h>
#include <sys/epoll.h>  // EPOLLIN, EPOLLET
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
// that found less than this, the stream is watched again only at the next batch: the batch
// timer runs once kBatchDelay after the first such stream, and re-arms every stream that waited
// for it. A line is late by at most kBatchDelay, the master wakes at most 500 times a second
// per pipe (and for the batches, whatever the number of pipes).
constexpr long kBatchBytes = 16 * 1024;
constexpr auto kBatchDelay = std::chrono::milliseconds(2);
// Each stream is in the set edge-triggered: bytes written while the master reads a stream report
// it again at once (in the order of the writes: a worker's stdout written before its stderr is
// read first). A report for a stream that waits for its batch is ignored: the batch re-arms it,
// and re-arming reports what arrived meanwhile.
constexpr std::uint32_t kWatch = EPOLLIN | EPOLLET;

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

OutputPipes::OutputPipes(asio::io_context& io) : set_(io), batch_(io) {}

void OutputPipes::start(daemon::HostEvents& events) {
  events_ = &events;
  set_.start([this](std::uint64_t key) { on_ready(key); });
}

OutputPipes::Pipes OutputPipes::open() {
  Pipes pipes;
  make_pipe(pipes.out_read, pipes.out_write);
  make_pipe(pipes.err_read, pipes.err_write);
  return pipes;
}

void OutputPipes::watch(daemon::WorkerHandle handle, Pipes& pipes) {
  if (!pipes.out_read && !pipes.err_read) return;  // both ended before a live upgrade
  std::array<os::UniqueFd, 2> fds{std::move(pipes.out_read), std::move(pipes.err_read)};
  for (int stream = 0; stream < 2; ++stream) {
    if (!fds[stream]) continue;  // taken over in a live upgrade after that stream ended
    try {
      set_.add(fds[stream].get(), key_of(handle, stream), kWatch);
    } catch (const std::system_error&) {
      if (stream == 1 && fds[0]) set_.remove(fds[0].get());
      throw;
    }
  }
  pipes_[handle] = Streams{std::move(fds), {}};
}

void OutputPipes::on_ready(std::uint64_t key) {
  const auto it = pipes_.find(key >> 1);
  if (it == pipes_.end() || it->second.paused[key & 1]) return;
  const long got = read_some(key, kReadsPerWake);
  if (got >= 0) rearm(key, got >= kBatchBytes);
}

void OutputPipes::rearm(std::uint64_t key, bool now) {
  const auto it = pipes_.find(key >> 1);
  if (it == pipes_.end()) return;
  it->second.paused[key & 1] = !now;
  if (!now) {
    paused_.push_back(key);
    if (!batch_armed_) {
      batch_armed_ = true;
      batch_.expires_after(kBatchDelay);
      batch_.async_wait([this](const std::error_code& ec) {
        if (ec) return;
        batch_armed_ = false;
        resume_paused();
      });
    }
    return;
  }
  const os::UniqueFd& fd = it->second.fds[key & 1];
  if (fd) set_.rearm(fd.get(), key, kWatch);  // reports the stream if it has bytes now
}

void OutputPipes::resume_paused() {
  for (const std::uint64_t key : paused_) rearm(key, true);  // which adds nothing to paused_
  paused_.clear();
  if (paused_.capacity() > 1024) paused_.shrink_to_fit();  // after a burst of many streams
}

void OutputPipes::drain(daemon::WorkerHandle handle) {
  for (int stream = 0; stream < 2; ++stream) read_some(key_of(handle, stream), kDrainReads);
}

long OutputPipes::read_some(std::uint64_t key, int reads) {
  const daemon::WorkerHandle handle = key >> 1;
  const auto stream = (key & 1) ? daemon::OutputStream::Err : daemon::OutputStream::Out;
  long total = 0;
  for (int i = 0; i < reads; ++i) {
    // Looked up at each read: what on_output does may change the table.
    const auto it = pipes_.find(handle);
    if (it == pipes_.end() || !it->second.fds[key & 1]) return -1;
    os::UniqueFd& fd = it->second.fds[key & 1];
    const ssize_t n = ::read(fd.get(), buffer_.data(), buffer_.size());
    if (n > 0) {
      const std::string_view bytes(buffer_.data(), static_cast<std::size_t>(n));
      guard("worker output", [&] { events_->on_output(handle, stream, bytes); });
      total += n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return total;
    // End of file (every writer is gone), or an error: this stream is over.
    set_.remove(fd.get());
    fd.reset();
    if (!it->second.fds[0] && !it->second.fds[1]) pipes_.erase(it);
    guard("worker output", [&] { events_->on_output_end(handle, stream); });
    return -1;
  }
  return total;
}

std::pair<int, int> OutputPipes::fds_of(daemon::WorkerHandle handle) const {
  const auto it = pipes_.find(handle);
  if (it == pipes_.end()) return {-1, -1};
  return {it->second.fds[0].get(), it->second.fds[1].get()};
}

}  // namespace clusterd::loop
