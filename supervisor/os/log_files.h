// The log files of `logs: capture` apps, each written by a thread of its own: a slow or full disk
// stalls that file's thread, never the master's loop, and a file whose write never returns (a
// hung network filesystem) stalls no other file. What a file has not written yet is bounded in
// bytes; past the bound a batch is refused (the caller counts it as dropped). Each file is opened
// as log_open.h says (no link followed that a worker could have made, a regular file only), rotated
// past its max_size (FILE -> FILE.1 -> ... -> FILE.keep, the oldest removed) in the directory it
// was opened in, and opened anew on request (after logrotate moved it away) or when it was
// removed. Lines that reach no file (it is refused, a write fails) are counted per file, and what
// failed is said once per problem, not once per line.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace clusterd::os {

class LogFiles {
 public:
  struct Options {
    std::size_t max_queued_bytes = 4 << 20;  // per file
    /// At stop, a file whose write has not returned for this long is left behind.
    std::chrono::milliseconds give_up_after{std::chrono::seconds(5)};
    /// A file's thread ends after this long without a line (its file closed); the next line
    /// starts it again.
    std::chrono::milliseconds idle_after{std::chrono::seconds(30)};
    bool openat2 = true;  // false: the fallback for kernels without it (tests)
    /// Tests: called by a file's thread before each write, to hold it as a hung disk would.
    std::function<void(const std::string& path)> before_write;
  };
  LogFiles();
  explicit LogFiles(Options options);
  ~LogFiles();  // stop()
  LogFiles(const LogFiles&) = delete;
  LogFiles& operator=(const LogFiles&) = delete;

  /// Queues whole lines for `path`; false (nothing queued) when its queue is over the bound.
  bool write(const std::string& path, std::uint64_t max_size, unsigned keep, std::string lines);
  /// Empties `path` (opened first, as a write would) after what is queued for it is written;
  /// false when it cannot be queued.
  bool truncate(const std::string& path);
  /// Every file is opened anew (its directory walked again) before its next write.
  void reopen();
  /// Blocks until everything queued so far is written or refused (tests).
  void flush();
  /// Writes what is queued and ends the threads; waits for each as long as it makes progress,
  /// leaves behind (detached, its lines counted lost) one stuck for give_up_after. Then every
  /// write is refused.
  void stop();

  /// What the threads met (a refused file, a failed write, a thread left behind), one line each,
  /// since the last call.
  std::deque<std::string> take_errors();
  /// Bytes accepted by write() that reached no file, per path, since the last call.
  std::map<std::string, std::uint64_t> take_lost();
  /// Called from a file's thread when there is something to take and there was not before (to
  /// wake the loop); never after stop() returned.
  void on_news(std::function<void()> callback);

 private:
  bool enqueue(const std::string& path, std::uint64_t max_size, unsigned keep, std::string lines,
               bool truncate);
  struct Shared;  // what the loop and the files' threads share
  struct Writer;  // one file: its queue and its thread
  Options options_;
  std::shared_ptr<Shared> shared_;
  std::map<std::string, std::shared_ptr<Writer>> writers_;  // the loop's only
};

}  // namespace clusterd::os
