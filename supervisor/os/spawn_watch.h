// The error pipes of children that have not exec'd yet, in one epoll set: the event loop watches
// one descriptor for all of them, however many are starting. Each pipe is registered with a
// 64-bit key of the caller's choosing (the host's worker handle).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

class SpawnWatch {
 public:
  /// Throws std::system_error if the epoll set cannot be created.
  SpawnWatch();
  /// The descriptor to wait on for reading.
  int fd() const { return epoll_.get(); }
  /// Watches `pipe` (a child's error pipe) under `key`. Returns false if it could not be added
  /// (the pipe is then read at reap time instead).
  bool add(int pipe, std::uint64_t key);
  static constexpr std::size_t kBatch = 64;
  /// The keys of at most kBatch pipes that have something to say now (data or end of file). A
  /// pipe stays ready until it is read to its end or closed (closing takes it out of the set):
  /// handle a batch before asking for the next one.
  std::vector<std::uint64_t> ready();

 private:
  UniqueFd epoll_;
};

}  // namespace clusterd::os
