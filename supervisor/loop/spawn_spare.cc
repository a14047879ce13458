#include "supervisor/loop/spawn_spare.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <system_error>
#include <utility>

namespace clusterd::loop {

SpawnResources::SpawnResources(SpawnResources&& other) noexcept { *this = std::move(other); }

SpawnResources& SpawnResources::operator=(SpawnResources&& other) noexcept {
  if (this != &other) {
    if (!keep_ && !notify.path.empty()) unlink(notify.path.c_str());
    uid = other.uid;
    capture = other.capture;
    notify = std::move(other.notify);
    pipes = std::move(other.pipes);
    keep_ = other.keep_;
    other.notify.path.clear();
  }
  return *this;
}

SpawnResources::~SpawnResources() {
  if (!keep_ && !notify.path.empty()) unlink(notify.path.c_str());
}

SpawnResources SpawnResources::make(const os::NotifyDir& dir, unsigned uid, bool capture) {
  SpawnResources made;
  made.uid = uid;
  made.capture = capture;
  made.notify = dir.open(uid);
  if (capture) made.pipes = OutputPipes::open();
  return made;
}

SpawnResources SpawnSpare::take(unsigned uid, bool capture) {
  if (spare_fits(uid, capture)) {
    SpawnResources out = std::move(*spare_);
    spare_.reset();
    // Whatever waits on it was sent before its worker existed: not the worker's. Dropped here,
    // so a datagram queued by someone allowed to connect (root, or the app's user for a socket
    // made for that user) can never pass for the next worker's.
    int dropped = 0;
    char byte = 0;
    while (dropped < 4096 && recv(out.notify.fd.get(), &byte, 1, MSG_DONTWAIT | MSG_TRUNC) >= 0) {
      ++dropped;
    }
    if (dropped > 0) {
      spdlog::warn("dropped {} notify datagram{} sent to a socket before its worker existed",
                   dropped, dropped == 1 ? "" : "s");
    }
    return out;
  }
  return SpawnResources::make(dir_, uid, capture);
}

void SpawnSpare::want(unsigned uid, bool capture) {
  if (posted_ || spare_fits(uid, capture)) return;
  posted_ = true;
  asio::post(io_, [this, uid, capture] {
    posted_ = false;
    try {
      spare_ = SpawnResources::make(dir_, uid, capture);
    } catch (const std::system_error& e) {
      spare_.reset();  // the next spawn makes its own, and says what fails
      spdlog::debug("no spare notify socket and pipes for the next spawn: {}", e.what());
    }
  });
}

}  // namespace clusterd::loop
