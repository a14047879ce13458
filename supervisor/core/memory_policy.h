// max_memory: a worker whose memory (RSS of its whole process tree) stays above its app's
// max_memory is replaced gracefully, a fresh worker ready first. Pure: the daemon samples what
// watched() names every interval() and feeds the readings to check().
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/core/supervisor.h"

namespace clusterd::core {

struct MemoryReading {
  LaneId slot;
  int pid = 0;
  std::uint64_t rss_kb = 0;  // the worker and all its descendants
};

struct MemoryVerdict {
  std::size_t app = 0;
  unsigned index = 0;
  std::string reason;  // "RSS 90000 KiB above max_memory 65536 KiB"
  unsigned lane = 0;   // the slot's serving lane: the worker replaced runs there
};

class MemoryPolicy {
 public:
  /// The sampling period: the shortest memory_check_interval of the apps that set max_memory;
  /// none (so no timer at all) when no app does, or clusterd is stopping.
  static std::optional<Duration> interval(const Supervisor& supervisor);
  /// The workers to sample: the serving, ready worker of each slot of an app with max_memory
  /// and no rollout in progress.
  static std::vector<LaneId> watched(const Supervisor& supervisor);

  /// Takes one round of readings. A worker over its limit at two samples in a row is replaced;
  /// at most one per app per round (its replacement is a rollout, which blocks the next).
  std::vector<MemoryVerdict> check(const Supervisor& supervisor,
                                   const std::vector<MemoryReading>& readings);
  /// The cgroup of a worker went over memory.high, which the host set to max_memory
  /// (`reading.rss_kb`: its memory.current then). The kernel is already reclaiming from it, so
  /// a watched worker is replaced at once; nullopt when it is not watched (see watched()) or
  /// was replaced meanwhile.
  static std::optional<MemoryVerdict> over_high(const Supervisor& supervisor,
                                                const MemoryReading& reading);

 private:
  std::map<int, unsigned> over_;  // consecutive samples above the limit, by pid
};

}  // namespace clusterd::core
