#include "supervisor/loop/ready_pipes.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "supervisor/loop/guard.h"

namespace clusterd::loop {

namespace {
constexpr std::size_t kMostWithoutNewline = 4096;
}

void ReadyPipes::watch(daemon::WorkerHandle handle, os::UniqueFd read_end) {
  auto pipe = std::make_shared<Pipe>(io_, read_end.release());
  pipe->stream.non_blocking(true);
  pipes_[handle] = pipe;
  wait(handle, pipe);
}

void ReadyPipes::wait(daemon::WorkerHandle handle, const std::shared_ptr<Pipe>& pipe) {
  pipe->stream.async_wait(
      asio::posix::stream_descriptor::wait_read, [this, handle, pipe](const std::error_code& ec) {
        if (ec) return;
        const auto it = pipes_.find(handle);
        if (it == pipes_.end() || it->second != pipe) return;
        char buffer[512];
        const ssize_t n = ::read(pipe->stream.native_handle(), buffer, sizeof buffer);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
          wait(handle, pipe);
          return;
        }
        const bool line =
            n > 0 && std::memchr(buffer, '\n', static_cast<std::size_t>(n)) != nullptr;
        if (line) guard("a worker's ready line", [&] { events_->on_ready_line(handle); });
        pipe->seen += n > 0 ? static_cast<std::size_t>(n) : 0;
        if (line || n <= 0 || pipe->seen >= kMostWithoutNewline) {
          pipes_.erase(it);  // closes the read end: a later write gets EPIPE, nothing more
          return;
        }
        wait(handle, pipe);
      });
}

}  // namespace clusterd::loop
