// What a spawn needs before its clone, made ahead: a worker's notify socket (bound in the notify
// directory) and its two output pipes. After a spawn, once the loop has nothing else to do, one
// set is made for the next spawn of the same kind (uid, output captured or not), so a respawn
// goes from the exit to the clone without a bind() or a pipe2() in between. A burst of spawns
// in one pass of the loop makes its own as it goes and leaves one set made after it.
#pragma once

#include <asio/io_context.hpp>
#include <optional>

#include "supervisor/loop/output_pipes.h"
#include "supervisor/os/notify_socket.h"

namespace clusterd::loop {

/// One spawn's notify socket and pipes. The socket's file is removed with it unless
/// keep_socket_file() was called (the worker that got it removes it at its exit).
class SpawnResources {
 public:
  SpawnResources() = default;
  SpawnResources(SpawnResources&& other) noexcept;
  SpawnResources& operator=(SpawnResources&& other) noexcept;
  SpawnResources(const SpawnResources&) = delete;
  SpawnResources& operator=(const SpawnResources&) = delete;
  ~SpawnResources();
  /// Throws std::system_error.
  static SpawnResources make(const os::NotifyDir& dir, unsigned uid, bool capture);
  void keep_socket_file() { keep_ = true; }

  unsigned uid = 0;
  bool capture = false;
  os::NotifySocket notify;
  OutputPipes::Pipes pipes;  // empty without capture

 private:
  bool keep_ = false;
};

class SpawnSpare {
 public:
  SpawnSpare(asio::io_context& io, const os::NotifyDir& dir) : io_(io), dir_(dir) {}
  /// The spare if it is of this kind, else a new set. Throws std::system_error.
  SpawnResources take(unsigned uid, bool capture);
  /// After a spawn: a set of this kind is made once the current event has been handled.
  void want(unsigned uid, bool capture);
  /// Before a live upgrade's exec (which runs no destructor): the spare socket's file goes.
  void drop() { spare_.reset(); }

 private:
  bool spare_fits(unsigned uid, bool capture) const {
    return spare_ && spare_->uid == uid && spare_->capture == capture;
  }

  asio::io_context& io_;
  const os::NotifyDir& dir_;
  std::optional<SpawnResources> spare_;
  bool posted_ = false;
};

}  // namespace clusterd::loop
