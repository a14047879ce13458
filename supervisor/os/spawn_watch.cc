#include "supervisor/os/spawn_watch.h"

#include <sys/epoll.h>

#include <cerrno>
#include <system_error>

namespace clusterd::os {

SpawnWatch::SpawnWatch() : epoll_(epoll_create1(EPOLL_CLOEXEC)) {
  if (!epoll_) throw std::system_error(errno, std::system_category(), "epoll_create1");
}

bool SpawnWatch::add(int pipe, std::uint64_t key) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = key;
  return epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pipe, &event) == 0;
}

std::vector<std::uint64_t> SpawnWatch::ready() {
  std::vector<std::uint64_t> keys;
  epoll_event events[kBatch];
  const int n = epoll_wait(epoll_.get(), events, static_cast<int>(kBatch), 0);
  for (int i = 0; i < n; ++i) keys.push_back(events[i].data.u64);
  return keys;
}

}  // namespace clusterd::os
