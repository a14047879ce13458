// The log files of `logs: capture` apps, written by a thread of its own: a slow or full disk
// stalls that thread, never the master's loop. What it has not written yet is bounded in bytes;
// past the bound a batch is refused (the caller counts it as dropped). Each file is rotated past
// its max_size (FILE -> FILE.1 -> ... -> FILE.keep, the oldest removed), and reopened on request
// (after logrotate moved it away).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

class LogFiles {
 public:
  explicit LogFiles(std::size_t max_queued_bytes = 8 << 20);
  ~LogFiles();  // writes what is queued, then stops the thread
  LogFiles(const LogFiles&) = delete;
  LogFiles& operator=(const LogFiles&) = delete;

  /// Queues whole lines for `path`; false (nothing queued) when over the bound.
  bool write(const std::string& path, std::uint64_t max_size, unsigned keep, std::string lines);
  /// Every file is opened anew before its next write.
  void reopen();
  /// Blocks until everything queued so far is written (tests, a clean stop).
  void flush();
  /// Errors the thread met (cannot open, disk full), one line each, since the last call.
  std::deque<std::string> take_errors();

 private:
  struct Batch {
    std::string path;
    std::uint64_t max_size = 0;
    unsigned keep = 0;
    std::string lines;
  };
  struct File {
    UniqueFd fd;
    std::uint64_t size = 0;
  };
  void run();
  void write_batch(Batch& batch);
  File& open_file(const std::string& path);
  void rotate(const std::string& path, unsigned keep);
  void error(const std::string& what);

  std::size_t max_queued_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Batch> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool reopen_ = false;
  bool stop_ = false;
  std::deque<std::string> errors_;
  std::map<std::string, File> files_;  // the thread's only
  std::thread thread_;
};

}  // namespace clusterd::os
