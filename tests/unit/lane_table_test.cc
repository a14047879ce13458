// The lane table (supervisor/core/lane_table.h) against the code: random walks through the state
// machine under many specs record what each event did in each state, and every cell of the table
// must be exactly what was observed: nothing the code does is missing from the table, and nothing
// the table promises is unreachable.
#include "supervisor/core/lane_table.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "supervisor/core/lane.h"

using namespace clusterd;
using namespace std::chrono_literals;

namespace {

const char* kEventNames[] = {"Start",  "Stop",       "Restart", "Spawned", "Ready",
                             "Exited", "TimerFired", "Ping",    "Extend",  "SetWatchdog",
                             "Status", "Stopping",   "Probe"};
static_assert(std::size(kEventNames) == core::kLaneEvents);

std::string describe(core::Transitions outcomes) {
  std::string out;
  if (outcomes & core::lane_table::Stay) out += "stay ";
  for (std::size_t s = 0; s < core::kLaneStates; ++s) {
    if (outcomes & core::outcome_of(static_cast<core::LaneState>(s))) {
      out += std::string(core::to_string(static_cast<core::LaneState>(s))) + " ";
    }
  }
  return out.empty() ? "nothing" : out;
}

// One walker: a lane, the tokens it armed last, a fake clock.
struct Walker {
  config::AppSpec spec;
  core::Lane lane;
  core::TimePoint now{};
  unsigned tokens[core::kLaneTimers] = {0, 0, 0};
  int next_pid = 100;

  std::vector<core::Event> candidates() {
    using core::ExitStatus;
    const auto& t = tokens;
    return {core::StartRequested{},
            core::StopRequested{},
            core::RestartRequested{},
            core::Spawned{next_pid},
            core::Ready{},
            core::Exited{ExitStatus::exited(0)},
            core::Exited{ExitStatus::exited(1)},
            core::Exited{ExitStatus::signaled(9)},
            core::Exited{ExitStatus::spawn_failed("execve: No such file or directory")},
            core::Exited{ExitStatus::spawn_failed("clone: EAGAIN", ExitStatus::Blame::Resources)},
            core::TimerFired{core::LaneTimer::State, t[0]},
            core::TimerFired{core::LaneTimer::State, t[0] + 1000},  // stale
            core::TimerFired{core::LaneTimer::Watchdog, t[1]},
            core::WatchdogPing{},
            core::ExtendTimeout{5s},
            core::SetWatchdog{1s},
            core::StatusText{"serving"},
            core::WorkerStopping{},
            core::ProbeResult{true, {}},  // 18
            core::ProbeResult{false, "connect: Connection refused"},
            core::TimerFired{core::LaneTimer::Probe, t[2]}};
  }

  // Feeds `event`; returns what it did: Stay, or the state it entered.
  core::Transitions feed(const core::Event& event) {
    if (std::holds_alternative<core::Spawned>(event)) ++next_pid;
    core::Transitions outcome = 0;
    for (const core::Action& action : lane.on(event, now, spec)) {
      if (const auto* arm = std::get_if<core::ArmTimer>(&action)) {
        tokens[static_cast<std::size_t>(arm->timer)] = arm->token;
      } else if (const auto* t = std::get_if<core::Transition>(&action)) {
        outcome |= core::outcome_of(t->to);
      }
    }
    return outcome == 0 ? core::lane_table::Stay : outcome;
  }
};

}  // namespace

TEST_CASE("the lane table is exactly what the lane does") {
  core::Transitions observed[core::kLaneStates][core::kLaneEvents] = {};
  std::mt19937 random(20261201);  // fixed: the walks are the same on every run
  const core::Duration steps[] = {0ms, 50ms, 700ms, 3s, 20s, 2min};
  // Walks start with one of these prefixes (indices into Walker::candidates()), so that deep
  // paths are reached as often as shallow ones: running; a quick death; a second quick death of
  // a running worker, and of one stopping by itself (either can mark the slot failed); stops.
  const std::vector<std::vector<int>> prefixes = {{},
                                                  {0, 3, 4},
                                                  {0, 3, 6},
                                                  {0, 3, 4, 6, 10, 3, 4, 6},
                                                  {0, 3, 4, 17},
                                                  {0, 3, 4, 1},
                                                  {0, 3, 6, 10, 3, 17, 6},
                                                  {0, 3, 19, 20, 18}};
  const config::ReadyMode modes[] = {config::ReadyMode::Exec, config::ReadyMode::Notify,
                                     config::ReadyMode::Http};
  for (int variant = 0; variant < 144; ++variant) {
    for (int walk = 0; walk < 400; ++walk) {
      Walker w;
      w.spec.name = "web";
      w.spec.command = {"/bin/true"};
      w.spec.ready = modes[variant % 3];
      w.spec.restart = variant / 3 % 3 == 0   ? config::RestartPolicy::Always
                       : variant / 3 % 3 == 1 ? config::RestartPolicy::OnFailure
                                              : config::RestartPolicy::Never;
      w.spec.max_restarts = variant / 9 % 2 ? 1 : 10;
      if (variant / 18 % 2) w.spec.watchdog = 1s;
      w.spec.min_uptime = variant / 36 % 2 ? 1s : 0ms;
      if (variant / 72 % 2) w.spec.min_ready = 500ms;  // ready, then a timer makes it run
      const std::vector<int>& prefix = prefixes[static_cast<std::size_t>(walk) % prefixes.size()];
      for (std::size_t step = 0; step < prefix.size() + 12; ++step) {
        w.now += steps[random() % std::size(steps)];
        const std::vector<core::Event> events = w.candidates();
        const core::Event& event = step < prefix.size()
                                       ? events[static_cast<std::size_t>(prefix[step])]
                                       : events[random() % events.size()];
        const core::LaneState before = w.lane.state();
        observed[static_cast<int>(before)][event.index()] |= w.feed(event);
      }
    }
  }
  for (std::size_t s = 0; s < core::kLaneStates; ++s) {
    for (std::size_t e = 0; e < core::kLaneEvents; ++e) {
      INFO(core::to_string(static_cast<core::LaneState>(s))
           << " x " << kEventNames[e] << ": table says " << describe(core::lane_table::kTable[s][e])
           << ", the code did " << describe(observed[s][e]));
      CHECK(observed[s][e] == core::lane_table::kTable[s][e]);
    }
  }
}
