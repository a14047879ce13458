#include "supervisor/os/log_files.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <system_error>

#include "supervisor/os/log_open.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kMaxErrors = 100;              // kept until taken
constexpr auto kSayEvery = std::chrono::seconds(1);  // per file, whatever the problem

struct Batch {
  std::uint64_t max_size = 0;
  unsigned keep = 0;
  std::string lines;
  bool truncate = false;  // empty the file (opening it first) instead of writing
};

// What a file's thread needs of the options (a copy: a thread left behind outlives LogFiles).
struct Settings {
  std::chrono::milliseconds idle_after;
  bool openat2 = true;
  std::function<void(const std::string&)> before_write;
};

}  // namespace

// What the loop and the files' threads share; every field under `mutex`.
struct LogFiles::Shared {
  std::mutex mutex;
  std::condition_variable changed;  // a batch done, a thread ended
  std::deque<std::string> errors;
  std::map<std::string, std::uint64_t> lost;
  std::function<void()> news;
  bool news_sent = false;  // since the last take
  bool stopped = false;

  void tell() {
    if (news && !news_sent) news();
    news_sent = true;
  }
  void error(std::string what) {
    if (errors.size() < kMaxErrors) errors.push_back(std::move(what));
    tell();
  }
};

// One file: its queue (under Shared::mutex) and, its thread's only, what is open.
struct LogFiles::Writer {
  explicit Writer(std::string p) : path(std::move(p)) {}

  static void run(const std::shared_ptr<Shared>& shared, const std::shared_ptr<Writer>& self,
                  const Settings& settings);
  std::size_t write_batch(Shared& shared, const Batch& batch, const Settings& settings);
  void open(const Settings& settings);
  void rotate(Shared& shared, const Batch& batch, const Settings& settings);
  void report(Shared& shared, const std::string& what);
  void close() {
    file.reset();
    dir.reset();
  }

  const std::string path;
  // Under Shared::mutex.
  std::deque<Batch> queue;
  std::size_t queued = 0;  // bytes in `queue` and in the batch being written
  bool running = false;    // a thread serves this file
  bool busy = false;       // it is writing (or opening) now
  bool reopen = false;
  bool stop = false;
  bool left_behind = false;  // stop() gave up on it: it touches nothing when it returns
  SteadyClock::time_point progress{};
  std::condition_variable wake;
  std::thread thread;  // the loop's only

  // The thread's only (one thread at a time: the next starts after the last was joined).
  UniqueFd dir;
  UniqueFd file;
  std::uint64_t size = 0;
  bool rotate_failed = false;  // FILE stayed where it was: not tried again until it is reopened
  std::string said;            // the last problem reported
  SteadyClock::time_point said_at{};
  bool written_since = true;  // a batch reached the file since `said`
};

void LogFiles::Writer::run(const std::shared_ptr<Shared>& shared,
                           const std::shared_ptr<Writer>& self, const Settings& settings) {
  Writer& w = *self;
  std::unique_lock lock(shared->mutex);
  // A close can wait as long as a write (a network filesystem flushes): done unlocked and busy,
  // so that stop() can give up on it too.
  const auto close_unlocked = [&] {
    w.busy = true;
    w.progress = SteadyClock::now();
    lock.unlock();
    w.close();
    lock.lock();
    w.busy = false;
    w.progress = SteadyClock::now();
    shared->changed.notify_all();
  };
  while (true) {
    const bool woken = w.wake.wait_for(lock, settings.idle_after,
                                       [&] { return w.stop || w.reopen || !w.queue.empty(); });
    if (w.reopen) {
      w.reopen = false;
      close_unlocked();  // each opened again (its directory walked again) at its next write
      if (w.left_behind) return;
    }
    if (w.queue.empty()) {
      if (!w.stop && woken) continue;
      close_unlocked();
      if (w.left_behind) return;
      if (!w.queue.empty()) continue;  // a line came while it closed
      w.running = false;               // idle or stopped: the next write starts a thread again
      shared->changed.notify_all();
      return;
    }
    const Batch batch = std::move(w.queue.front());
    w.queue.pop_front();
    w.busy = true;
    w.progress = SteadyClock::now();
    lock.unlock();
    const std::size_t lost = w.write_batch(*shared, batch, settings);
    lock.lock();
    if (w.left_behind) return;  // its bytes were counted by stop()
    w.busy = false;
    w.progress = SteadyClock::now();
    w.queued -= batch.lines.size();
    if (lost > 0) {
      shared->lost[w.path] += lost;
      shared->tell();
    }
    shared->changed.notify_all();
  }
}

// The bytes of `batch` that reached no file.
std::size_t LogFiles::Writer::write_batch(Shared& shared, const Batch& batch,
                                          const Settings& settings) {
  try {
    if (file) {
      const LogFileState state = log_file_state(file.get());
      size = state.size;
      if (!state.linked) file.reset();  // removed (by hand, or by whoever may): a new one
    }
    if (!file) open(settings);
    if (batch.truncate) {
      if (::ftruncate(file.get(), 0) != 0) {
        report(shared, "emptying " + path + ": " + std::strerror(errno));
      } else {
        size = 0;
      }
      return 0;
    }
    if (batch.max_size > 0 && size > 0 && size + batch.lines.size() > batch.max_size &&
        !rotate_failed) {
      rotate(shared, batch, settings);
    }
  } catch (const LogRefused& e) {
    report(shared, e.what());
    close();  // the directory is walked again next time
    return batch.lines.size();
  }
  if (settings.before_write) settings.before_write(path);
  std::string_view rest = batch.lines;
  while (!rest.empty()) {
    const ssize_t n = ::write(file.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      report(shared, "writing " + path + ": " + std::strerror(n < 0 ? errno : EIO));
      return rest.size();
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
    size += static_cast<std::uint64_t>(n);
  }
  written_since = true;
  return 0;
}

void LogFiles::Writer::open(const Settings& settings) {
  const LogPath where = split_log_path(path);
  if (!dir) {
    try {
      dir = open_log_dir(where.dir);
    } catch (const LogRefused& e) {
      throw LogRefused("not writing " + path + ": " + e.what());
    }
  }
  file = open_log_file(dir.get(), where.name, path, settings.openat2);
  const LogFileState state = log_file_state(file.get());
  size = state.size;
  rotate_failed = false;
}

void LogFiles::Writer::rotate(Shared& shared, const Batch& batch, const Settings& settings) {
  const std::uint64_t before = log_file_state(file.get()).inode;
  file.reset();
  const std::string failed = rotate_log(dir.get(), split_log_path(path).name, batch.keep, path);
  if (!failed.empty()) report(shared, failed);
  open(settings);
  // Still the same file (something in the way of its rename): it grows past max_size rather than
  // losing lines, and the rename is not tried at every batch.
  if (log_file_state(file.get()).inode == before) rotate_failed = true;
}

// Each problem is said once (again only after a batch reached the file since), and a file says
// at most one line a second, whatever its worker does to it.
void LogFiles::Writer::report(Shared& shared, const std::string& what) {
  const SteadyClock::time_point now = SteadyClock::now();
  if (what == said && !written_since) return;
  if (now - said_at < kSayEvery) return;
  said = what;
  said_at = now;
  written_since = false;
  std::lock_guard lock(shared.mutex);
  shared.error(what);
}

LogFiles::LogFiles() : LogFiles(Options{}) {}

LogFiles::LogFiles(Options options)
    : options_(std::move(options)), shared_(std::make_shared<Shared>()) {}

LogFiles::~LogFiles() { stop(); }

bool LogFiles::write(const std::string& path, std::uint64_t max_size, unsigned keep,
                     std::string lines) {
  return enqueue(path, max_size, keep, std::move(lines), false);
}

bool LogFiles::truncate(const std::string& path) { return enqueue(path, 0, 0, {}, true); }

bool LogFiles::enqueue(const std::string& path, std::uint64_t max_size, unsigned keep,
                       std::string lines, bool truncate) {
  std::shared_ptr<Writer>& slot = writers_[path];
  if (!slot) slot = std::make_shared<Writer>(path);
  Writer& w = *slot;
  const std::size_t size = lines.size();
  bool start = false;
  {
    // A running thread decides to end (idle) under this lock, with an empty queue: a batch
    // queued here is seen by it, or it has ended and a new one is started below.
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopped || w.queued + size > options_.max_queued_bytes) return false;
    start = !w.running;
    w.running = true;
    w.queued += size;
    if (!start) w.queue.push_back({max_size, keep, std::move(lines), truncate});
  }
  if (start) {
    // The thread before (if any) has ended or is ending: running is cleared as its last act.
    if (w.thread.joinable()) w.thread.join();
    try {
      w.thread = std::thread(
          [shared = shared_, self = slot,
           settings = Settings{options_.idle_after, options_.openat2, options_.before_write}] {
            Writer::run(shared, self, settings);
          });
    } catch (const std::system_error& e) {
      std::lock_guard lock(shared_->mutex);
      w.running = false;
      w.queued -= size;
      shared_->error("writing " + path + ": cannot start its thread: " + e.what());
      return false;
    }
    std::lock_guard lock(shared_->mutex);
    w.queue.push_back({max_size, keep, std::move(lines), truncate});
  }
  w.wake.notify_one();
  return true;
}

void LogFiles::reopen() {
  std::lock_guard lock(shared_->mutex);
  for (auto& [path, w] : writers_) {
    w->reopen = true;
    w->wake.notify_one();
  }
}

void LogFiles::flush() {
  std::unique_lock lock(shared_->mutex);
  shared_->changed.wait(lock, [&] {
    for (const auto& [path, w] : writers_) {
      if (!w->queue.empty() || w->busy) return false;
    }
    return true;
  });
}

void LogFiles::stop() {
  std::unique_lock lock(shared_->mutex);
  if (shared_->stopped) return;
  shared_->stopped = true;
  for (auto& [path, w] : writers_) {
    w->stop = true;
    w->wake.notify_one();
  }
  // Each thread writes what it has; one whose write, open or close has not returned for
  // give_up_after is left behind. Every wait is bounded: this re-checks at least every 50 ms.
  while (true) {
    bool waiting = false;
    const SteadyClock::time_point now = SteadyClock::now();
    for (auto& [path, w] : writers_) {
      if (!w->running || w->left_behind) continue;
      if (!w->busy || now - w->progress < options_.give_up_after) {
        waiting = true;
        continue;
      }
      w->left_behind = true;
      shared_->lost[path] += w->queued;
      shared_->errors.push_back(
          "writing " + path + ": a write, open or close has not returned for " +
          std::to_string(options_.give_up_after.count()) + " ms: " + std::to_string(w->queued) +
          " bytes left unwritten at exit");
      w->queue.clear();
      w->queued = 0;
    }
    if (!waiting) break;
    shared_->changed.wait_for(lock, std::chrono::milliseconds(50));
  }
  shared_->news = nullptr;
  lock.unlock();
  for (auto& [path, w] : writers_) {
    if (!w->thread.joinable()) continue;
    if (w->left_behind) {
      w->thread.detach();  // it holds what it uses; the process ends without it
    } else {
      w->thread.join();
    }
  }
}

std::deque<std::string> LogFiles::take_errors() {
  std::lock_guard lock(shared_->mutex);
  shared_->news_sent = false;
  return std::exchange(shared_->errors, {});
}

std::map<std::string, std::uint64_t> LogFiles::take_lost() {
  std::lock_guard lock(shared_->mutex);
  shared_->news_sent = false;
  return std::exchange(shared_->lost, {});
}

void LogFiles::on_news(std::function<void()> callback) {
  std::lock_guard lock(shared_->mutex);
  if (!shared_->stopped) shared_->news = std::move(callback);
}

}  // namespace clusterd::os
