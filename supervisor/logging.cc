// The master's log: one line per event on stderr (or the journal), never blocking. A log reader
// that stops reading (a pipe nobody drains, a stopped terminal) must not stop supervision, so the
// master writes through a descriptor of its own in non-blocking mode: a pipe or a terminal is
// opened anew (/proc/self/fd/2 gives a new open file description: the workers keep the blocking one
// they inherit as their fd 2), a socket gets MSG_DONTWAIT. A line that does not fit is dropped and
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
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <stdexcept>
#include <string>

#include "supervisor/os/journal.h"
#include "supervisor/os/system.h"
#include "text/journal_fields.h"
#include "text/printable.h"

namespace clusterd {

namespace {

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

  // Writes `lines` (at most kMaxLine bytes of whole lines), or drops them (counted; false) when
  // the reader does not keep up.
  bool write_line(std::string_view line, unsigned lines = 1) {
    if (line.size() > kMaxLine) line = line.substr(0, kMaxLine);
    if (dropped_ > 0) {
      char note[96];
      const int n = std::snprintf(note, sizeof note,
                                  "clusterd: %llu log lines dropped: stderr was not read\n",
                                  static_cast<unsigned long long>(dropped_));
      if (!put(std::string_view(note, static_cast<std::size_t>(n)))) {
        dropped_ += lines;
        return false;
      }
      dropped_ = 0;
    }
    if (put(line)) return true;
    dropped_ += lines;
    return false;
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

// What a log line is about, on this thread (LogScope).
thread_local const LogFields* current_fields = nullptr;

void add_fields(std::string& entry, const LogFields& f) {
  if (!f.app.empty()) add_journal_field(entry, "CLUSTERD_APP", f.app);
  if (f.worker >= 0) add_journal_field(entry, "CLUSTERD_WORKER", std::to_string(f.worker));
  if (f.generation != 0) {
    add_journal_field(entry, "CLUSTERD_GENERATION", std::to_string(f.generation));
  }
  if (f.pid != 0) add_journal_field(entry, "CLUSTERD_PID", std::to_string(f.pid));
  if (!f.event.empty()) add_journal_field(entry, "CLUSTERD_EVENT", f.event);
}

// Where every line goes: stderr, or journald's native socket when stderr is the journal (then
// with the fields of the current LogScope; stderr with a "<N>" prefix if the socket fails).
class Output {
 public:
  explicit Output(bool journal) : journal_(journal) {}

  bool journal() const { return journal_; }

  // Worker lines for stderr, written together at flush() (or when a pipe's atomic write would
  // be exceeded): one write(2) per read of a worker's pipe, not one per line. Returns the bytes
  // dropped now (none: they are only queued).
  std::size_t batch(std::string line) {
    std::size_t dropped = 0;
    if (pending_.size() + line.size() + 1 > kMaxLine) dropped = flush();
    if (line.size() >= kMaxLine) line.resize(kMaxLine - 1);
    pending_ += line;
    pending_ += '\n';
    ++pending_lines_;
    return dropped;
  }
  // The bytes dropped (the reader is behind).
  std::size_t flush() {
    if (pending_.empty()) return 0;
    const std::size_t size = pending_.size();
    const bool ok = stderr_.write_line(pending_, pending_lines_);
    pending_.clear();
    pending_lines_ = 0;
    return ok ? 0 : size;
  }

  bool line(int priority, std::string_view text, std::string_view timestamped) {
    flush();
    if (journal_ && journal_socket_.available()) {
      std::string entry;
      add_journal_field(entry, "MESSAGE", text);
      add_journal_field(entry, "PRIORITY", std::to_string(priority));
      add_journal_field(entry, "SYSLOG_IDENTIFIER", "clusterd");
      if (current_fields != nullptr) add_fields(entry, *current_fields);
      switch (journal_socket_.send(entry)) {
        case os::JournalSocket::Result::Sent:
          return true;
        case os::JournalSocket::Result::Dropped:
          return false;
        case os::JournalSocket::Result::Failed:
          break;  // the stream below still reaches it
      }
    }
    std::string out;
    if (journal_) {  // sd-daemon "<N>" priority prefix, so `journalctl -p warning` works
      out = "<" + std::to_string(priority) + ">";
      out.append(text);
    } else {
      out.assign(timestamped);
    }
    if (out.size() >= kMaxLine) out.resize(kMaxLine - 1);  // the newline stays
    out.push_back('\n');
    return stderr_.write_line(out);
  }

 private:
  bool journal_;
  os::JournalSocket journal_socket_;
  NonBlockingStderr stderr_;
  std::string pending_;
  unsigned pending_lines_ = 0;
};

Output* output = nullptr;  // set once by setup_logging(), before any other thread exists

class Sink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (output == nullptr) return;
    // Every record is one line: a newline or an escape sequence in what it quotes (a worker's
    // STATUS=, a name from a request, a config key) is written as \xNN, so nothing can forge
    // a line of its own or drive the terminal the log is shown on.
    const std::string safe = printable(std::string_view(msg.payload.data(), msg.payload.size()));
    spdlog::details::log_msg escaped = msg;
    escaped.payload = spdlog::string_view_t(safe.data(), safe.size());
    spdlog::memory_buf_t formatted;
    formatter_->format(escaped, formatted);
    std::string_view line(formatted.data(), formatted.size());
    while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    output->line(journal_priority(msg.level), safe, line);
  }
  void flush_() override {}
};

}  // namespace

LogScope::LogScope(const LogFields& fields) : previous_(current_fields) {
  current_fields = &fields;
}

LogScope::~LogScope() { current_fields = previous_; }

std::size_t write_output_line(std::string_view line, bool err) {
  if (output == nullptr) return line.size() + 1;
  const std::string safe = printable(line);
  if (output->journal()) return output->line(err ? 3 : 6, safe, safe) ? 0 : line.size() + 1;
  // A timestamp like the daemon's own lines; the local time is worked out once a second.
  static std::time_t stamped = -1;
  static char stamp[40];
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  if (seconds != stamped) {
    std::tm local{};
    localtime_r(&seconds, &local);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &local);
    stamped = seconds;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  char milli[8];
  std::snprintf(milli, sizeof milli, ".%03d ", static_cast<int>(ms.count() % 1000));
  return output->batch(std::string(stamp) + milli + safe);
}

std::size_t flush_output() { return output == nullptr ? 0 : output->flush(); }

void setup_logging(const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  if (parsed == spdlog::level::off && level != "off") {
    throw std::invalid_argument("unknown log level '" + level +
                                "'; expected trace, debug, info, warn, error or off");
  }
  static Output the_output(os::stderr_is_journal());
  output = &the_output;
  auto logger = std::make_shared<spdlog::logger>("clusterd", std::make_shared<Sink>());
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

}  // namespace clusterd
