// Resource-limit arithmetic for workers. Pure.
#pragma once

#include <cstdint>
#include <optional>

namespace clusterd::core {

struct NofileLimit {
  unsigned long soft = 0;
  unsigned long hard = 0;
  friend bool operator==(const NofileLimit&, const NofileLimit&) = default;
};

/// RLIMIT_NOFILE for a worker: `configured` (limits.nofile) as both soft and hard limit; else the
/// limit clusterd itself was started with (`inherited`, before it raised its own soft limit),
/// within the hard limit it has now (someone may have lowered it with prlimit, and raising needs
/// CAP_SYS_RESOURCE); else nothing to set (the worker inherits the master's).
std::optional<NofileLimit> worker_nofile(std::optional<std::uint64_t> configured,
                                         std::optional<NofileLimit> inherited,
                                         unsigned long hard_now);

}  // namespace clusterd::core
