// `watch:` on the loop: each app's os::FileWatch (an inotify instance), read when the kernel has
// events for it, one buffer per turn of the loop so that a flood of changes never keeps the loop
// from everything else; the daemon hears of each batch once (daemon::FileWatches). What cannot be
// watched is said in the log, once per app and kind of failure.
#pragma once

#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "supervisor/os/file_watch.h"

namespace clusterd::loop {

class FileWatchers {
 public:
  using Changed = std::function<void(const std::string& change)>;
  explicit FileWatchers(asio::io_context& io) : io_(io) {}
  ~FileWatchers();
  FileWatchers(const FileWatchers&) = delete;
  FileWatchers& operator=(const FileWatchers&) = delete;

  /// See daemon::FileWatches::watch.
  unsigned watch(std::size_t app, const std::vector<std::string>& paths,
                 const std::vector<std::string>& ignore, Changed changed);
  void unwatch(std::size_t app);

 private:
  struct Watch {
    Watch(asio::io_context& io, std::unique_ptr<os::FileWatch> w)
        : files(std::move(w)), stream(io, files->fd()), walk(io) {}
    ~Watch() { stream.release(); }  // the fd is the FileWatch's to close
    std::unique_ptr<os::FileWatch> files;
    asio::posix::stream_descriptor stream;
    asio::steady_timer walk;  // armed while a walk after an overflow is owed
    bool walk_armed = false;
    std::vector<std::string> roots;
    Changed changed;
    std::set<int> said;  // the errors already said in the log
  };
  void wait(std::size_t app, const std::shared_ptr<Watch>& watch);
  void walk_later(std::size_t app, const std::shared_ptr<Watch>& watch);
  static void say_troubles(Watch& watch);

  asio::io_context& io_;
  std::map<std::size_t, std::shared_ptr<Watch>> watches_;
};

}  // namespace clusterd::loop
