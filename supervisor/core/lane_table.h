// The lane state machine as a table: for each state (row) and event (column, in the order of the
// core::Event variant), what the event may do. `Stay` means the lane keeps its state (the event is
// ignored, or acted on without a change of state: a timer re-armed, a signal sent); the other
// names are the states it may enter. Lane::enter() checks every transition against this table,
// and tests/unit/lane_table_test.cc drives every cell and checks that each outcome listed happens
// and nothing else does. Change the code and the table together.
#pragma once

#include <cstdint>

#include "supervisor/core/events.h"
#include "supervisor/core/types.h"

namespace clusterd::core {

/// A set of outcomes: bit 0 is "stays", bit 1 + LaneState "enters that state".
using Transitions = std::uint8_t;

inline constexpr Transitions outcome_of(LaneState state) {
  return static_cast<Transitions>(1 << (1 + static_cast<int>(state)));
}

namespace lane_table {
inline constexpr Transitions Stay = 1;
inline constexpr Transitions Idle = outcome_of(LaneState::Idle);
inline constexpr Transitions Strt = outcome_of(LaneState::Starting);
inline constexpr Transitions Run = outcome_of(LaneState::Running);
inline constexpr Transitions Stop = outcome_of(LaneState::Stopping);
inline constexpr Transitions Back = outcome_of(LaneState::Backoff);
inline constexpr Transitions Fail = outcome_of(LaneState::Failed);
inline constexpr Transitions Died = Idle | Strt | Back | Fail;  // as the restart policy decides

// Columns: Start, Stop, Restart, Spawned, Ready, Exited, TimerFired, WatchdogPing, ExtendTimeout,
// SetWatchdog, StatusText, WorkerStopping, ProbeResult.
// clang-format off
inline constexpr Transitions kTable[kLaneStates][kLaneEvents] = {
  //             Start Stop       Restart    Spawned   Ready     Exited Timer      Ping  Extend WDog  Status Stopping   Probe
  /* idle     */ {Strt, Stay,      Strt,      Stay,     Stay,     Stay,  Stay,      Stay, Stay,  Stay, Stay,  Stay,      Stay},
  /* starting */ {Stay, Idle|Stop, Stay|Stop, Stay|Run, Stay|Run, Died,  Stay|Run,  Stay, Stay,  Stay, Stay,  Stay|Stop, Stay|Run},
  /* running  */ {Stay, Stop,      Stop,      Stay,     Stay,     Died,  Stay,      Stay, Stay,  Stay, Stay,  Stop,      Stay},
  /* stopping */ {Stay, Stay,      Stay,      Stay,     Stay,     Died,  Stay,      Stay, Stay,  Stay, Stay,  Stay,      Stay},
  /* backoff  */ {Stay, Idle,      Strt,      Stay,     Stay,     Stay,  Stay|Strt, Stay, Stay,  Stay, Stay,  Stay,      Stay},
  /* failed   */ {Strt, Idle,      Strt,      Stay,     Stay,     Stay,  Stay,      Stay, Stay,  Stay, Stay,  Stay,      Stay},
};
// clang-format on
}  // namespace lane_table

/// True when `event` (a core::Event index) may take a lane from `from` to `to` (or keep it).
inline constexpr bool lane_allows(LaneState from, std::size_t event, Transitions outcome) {
  return (lane_table::kTable[static_cast<int>(from)][event] & outcome) != 0;
}

}  // namespace clusterd::core
