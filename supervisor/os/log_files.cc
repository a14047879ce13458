#include "supervisor/os/log_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace clusterd::os {

LogFiles::LogFiles(std::size_t max_queued_bytes) : max_queued_(max_queued_bytes) {}

LogFiles::~LogFiles() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool LogFiles::write(const std::string& path, std::uint64_t max_size, unsigned keep,
                     std::string lines) {
  {
    std::lock_guard lock(mutex_);
    if (queued_bytes_ + lines.size() > max_queued_) return false;
    queued_bytes_ += lines.size();
    queue_.push_back({path, max_size, keep, std::move(lines)});
    // Started at the first write: a master without log files keeps its one thread.
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  }
  wake_.notify_one();
  return true;
}

void LogFiles::reopen() {
  {
    std::lock_guard lock(mutex_);
    reopen_ = true;
  }
  wake_.notify_one();
}

void LogFiles::flush() {
  std::unique_lock lock(mutex_);
  if (!thread_.joinable()) return;
  idle_.wait(lock, [this] { return queue_.empty() && !writing_ && !reopen_; });
}

std::deque<std::string> LogFiles::take_errors() {
  std::lock_guard lock(mutex_);
  return std::exchange(errors_, {});
}

void LogFiles::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stop_ || reopen_ || !queue_.empty(); });
    if (reopen_) {
      reopen_ = false;
      lock.unlock();
      files_.clear();  // closed; each opened again at its next write
      lock.lock();
    }
    if (queue_.empty()) {
      idle_.notify_all();
      if (stop_) return;
      continue;
    }
    Batch batch = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    write_batch(batch);
    lock.lock();
    writing_ = false;
    queued_bytes_ -= batch.lines.size();
    if (queue_.empty()) idle_.notify_all();
  }
}

void LogFiles::write_batch(Batch& batch) {
  File* file = &open_file(batch.path);
  if (batch.max_size > 0 && file->size > 0 && file->size + batch.lines.size() > batch.max_size) {
    files_.erase(batch.path);
    rotate(batch.path, batch.keep);
    file = &open_file(batch.path);
  }
  if (!file->fd) return;
  std::string_view rest = batch.lines;
  while (!rest.empty()) {
    const ssize_t n = ::write(file->fd.get(), rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      error("writing " + batch.path + ": " + std::strerror(errno));
      return;
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
    file->size += static_cast<std::uint64_t>(n);
  }
}

LogFiles::File& LogFiles::open_file(const std::string& path) {
  File& file = files_[path];
  if (file.fd) return file;
  file.fd.reset(open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640));
  if (!file.fd) {
    error("opening " + path + ": " + std::strerror(errno));
    files_.erase(path);
    static File none;
    return none;
  }
  struct stat st {};
  file.size = fstat(file.fd.get(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  return file;
}

// FILE.keep goes; FILE.(n) becomes FILE.(n+1); FILE becomes FILE.1. With keep 0, FILE goes.
void LogFiles::rotate(const std::string& path, unsigned keep) {
  const auto name = [&](unsigned n) { return n == 0 ? path : path + "." + std::to_string(n); };
  if (keep == 0) {
    unlink(path.c_str());
    return;
  }
  unlink(name(keep).c_str());
  for (unsigned n = keep; n > 0; --n) {
    if (std::rename(name(n - 1).c_str(), name(n).c_str()) != 0 && errno != ENOENT) {
      error("rotating " + name(n - 1) + ": " + std::strerror(errno));
    }
  }
}

void LogFiles::error(const std::string& what) {
  std::lock_guard lock(mutex_);
  if (errors_.size() < 100) errors_.push_back(what);
}

}  // namespace clusterd::os
