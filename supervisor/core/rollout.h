// A rollout: replacing an app's workers slot by slot with a generation, without dropping a request.
// Its phase is an enum with explicit moves (Supervisor::enter_phase in rollout.cc):
//
//   Canary --(ready, canary_time > 0)--> CanaryWait --(canary_time over)--> Rolling
//   Canary --(ready, no canary_time)-----------------------------------------> Rolling
//   Rolling --(nothing pending or starting)--> Draining --(every replaced worker gone)--> done
//   any phase --(a new worker fails)--> a new Rollout back to the last good generation (Rolling),
//                                       or, if it already was one, done with the failure
//
// A replace (max_memory, one worker) and a rollback have no canary: they start in Rolling.
//
// Start-first (the default): a slot's new worker starts beside the old one, which serves until
// the new one is ready. Stop-first (stop_first(), an app whose readiness is a probe of each
// worker's own port): the old worker of a slot stops first (vacating), and the new one starts
// once it is gone, so that the probe can only be answered by the new one.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

#include "config/config.h"

namespace clusterd::core {

struct Rollout {
  enum class Phase {
    Canary,      // the first slot's new worker starts alone
    CanaryWait,  // it is ready and must stay so for canary_time before the others follow
    Rolling,     // the other slots, `rollout.batch` at a time
    Draining,    // every slot moved; the workers it replaced are still exiting
  };
  enum class Direction { Forward, Back };

  Phase phase = Phase::Rolling;
  Direction direction = Direction::Forward;
  unsigned from = 0;                // the generation being replaced
  unsigned to = 0;                  // the generation the slots move to
  std::deque<unsigned> pending;     // slots still to replace, in order
  std::vector<unsigned> in_flight;  // slots whose new worker is starting
  std::vector<unsigned> vacating;  // stop-first: slots whose old worker stops before the new starts
  std::vector<unsigned> restore;   // Back: slots the failed rollout emptied; they start again
  std::vector<unsigned> moved;     // slots whose serving worker now runs `to`
  unsigned canary_token = 0;       // the canary timer (CanaryWait only); 0 = none
  unsigned first_added = ~0U;      // slots from here on are new (a reload that also scales up)
  unsigned old_instances = 0;      // the instances before (a rollback of a scale-up restores them)
  std::string old_instances_reason;
  std::size_t total = 0;    // slots to replace
  std::string failure;      // Back: why the forward rollout failed
  std::string purpose;      // empty for a reload; otherwise why one worker is replaced
  bool stop_first = false;  // decided by stop_first() at the start, kept to the end

  bool rollback() const { return direction == Direction::Back; }
};

/// Whether a rollout to `spec` stops the old worker of each slot before it starts the new one:
/// when a probe of the worker's own port (ready: http, tcp) says it is ready. The old worker of
/// slot N may still hold port + N (SO_REUSEPORT), and would answer the new one's probe.
bool stop_first(const config::AppSpec& spec);

/// "canary", "canary-wait", "rolling", "draining".
const char* to_string(Rollout::Phase phase);

/// How the last rollout of an app ended.
struct RolloutResult {
  bool ok = false;
  std::string message;
};

}  // namespace clusterd::core
