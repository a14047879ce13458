// The master's log: one line per event on stderr, never blocking. A log reader that stops
// reading (a pipe nobody drains, a stopped terminal) must not stop supervision, so the master
// writes through a descriptor of its own in non-blocking mode: a pipe or a terminal is opened
// anew (/proc/self/fd/2 gives a new open file description: the workers keep the blocking one they
// inherit as their fd 2), a socket gets MSG_DONTWAIT. A line that does not fit is dropped and
// counted; the next line that gets through says how many were lost.
#include "supervisor/logging.h"

#include <fcntl.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "text/printable.h"

namespace clusterd {

namespace {

// journald reads our stderr when JOURNAL_STREAM names the very file stderr is ("dev:inode").
bool stderr_is_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) return false;
  return dev == static_cast<unsigned long long>(st.st_dev) &&
         ino == static_cast<unsigned long long>(st.st_ino);
}

int journal_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 7;
    case spdlog::level::info:
      return 6;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::err:
      return 3;
    case spdlog::level::critical:
      return 2;
    case spdlog::level::off:
    case spdlog::level::n_levels:
      break;
  }
  return 6;
}

// A line of at most PIPE_BUF bytes goes into a pipe whole or not at all.
constexpr std::size_t kMaxLine = 4096;

class NonBlockingStderr {
 public:
  NonBlockingStderr() {
    struct stat st {};
    if (fstat(2, &st) != 0) return;
    if (S_ISSOCK(st.st_mode)) {
      socket_ = true;
    } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
      const int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
      if (fd >= 0) fd_ = fd;
    }
  }
  ~NonBlockingStderr() {
    if (fd_ != 2) close(fd_);
  }
  NonBlockingStderr(const NonBlockingStderr&) = delete;
  NonBlockingStderr& operator=(const NonBlockingStderr&) = delete;

  // Writes one line, or drops it (counted) when the reader does not keep up.
  void write_line(std::string_view line) {
    if (line.size() > kMaxLine) line = line.substr(0, kMaxLine);
    if (dropped_ > 0) {
      char note[96];
      const int n = std::snprintf(note, sizeof note,
                                  "clusterd: %llu log lines dropped: stderr was not read\n",
                                  static_cast<unsigned long long>(dropped_));
      if (!put(std::string_view(note, static_cast<std::size_t>(n)))) {
        ++dropped_;
        return;
      }
      dropped_ = 0;
    }
    if (!put(line)) ++dropped_;
  }

 private:
  bool put(std::string_view data) {
    while (true) {
      const ssize_t n = socket_ ? send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL)
                                : write(fd_, data.data(), data.size());
      if (n >= 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        if (data.empty()) return true;
        continue;  // a partial write (a terminal, a file): the rest follows
      }
      if (errno == EINTR) continue;
      return false;  // EAGAIN: the reader is behind; anything else: nowhere to write
    }
  }

  int fd_ = 2;
  bool socket_ = false;
  unsigned long long dropped_ = 0;
};

class StderrSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit StderrSink(bool journal) : journal_(journal) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    if (journal_) {  // sd-daemon "<N>" priority prefix, so `journalctl -p warning` works
      formatted.push_back('<');
      formatted.push_back(static_cast<char>('0' + journal_priority(msg.level)));
      formatted.push_back('>');
    }
    // Every record is one line: a newline or an escape sequence in what it quotes (a worker's
    // STATUS=, a name from a request, a config key) is written as \xNN, so nothing can forge
    // a line of its own or drive the terminal the log is shown on.
    const std::string safe = printable(std::string_view(msg.payload.data(), msg.payload.size()));
    spdlog::details::log_msg escaped = msg;
    escaped.payload = spdlog::string_view_t(safe.data(), safe.size());
    formatter_->format(escaped, formatted);
    out_.write_line(std::string_view(formatted.data(), formatted.size()));
  }
  void flush_() override {}

 private:
  bool journal_;
  NonBlockingStderr out_;
};

}  // namespace

void setup_logging(const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level '" + level +
                                "'; expected trace, debug, info, warn, error or off");
  }
  const bool journal = stderr_is_journal();
  auto logger = std::make_shared<spdlog::logger>("clusterd", std::make_shared<StderrSink>(journal));
  // journald adds its own timestamp.
  logger->set_pattern(journal ? "%v" : "%Y-%m-%d %H:%M:%S.%e %l %v");
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace clusterd
