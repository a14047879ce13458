// The lane state machine; its table is lane_table.h. The rules in words:
//  - a start spawns; the worker is Running once exec'd (ready: exec) or once it sent READY=1
//    (ready: notify) before ready_timeout, else it is killed and counts as a quick death;
//  - ready: http and tcp: the shell tries the worker's own port at once and then every
//    interval (the Probe timer) until a try succeeds or ready_timeout passes; the last failure
//    is kept for the timeout's message;
//  - a stop sends stop_signal, then SIGKILL to the whole process group after stop_timeout;
//  - a worker that dies on its own is judged by the restart policy: not restarted (Idle), started
//    again at once (it ran min_uptime or longer), after a backoff (a quick death), or not any more
//    (Failed: more than max_restarts quick deaths within restart_window, or in a row: the backoff
//    spreads a crash loop's deaths wider than any window);
//  - every end nobody asked for (a crash, a timeout) is counted once per worker, for the slot's
//    restart counters (the Supervisor counts replacements);
//  - a one-shot lane (a rollout's new worker) goes Idle instead: the rollout decides;
//  - the watchdog: each WATCHDOG=1 re-arms a timer of its own; when it fires the worker gets
//    SIGABRT, and SIGKILL after stop_timeout; its end is then reported as a watchdog timeout;
//  - STOPPING=1 means the worker drains on its own: Stopping, with stop_timeout to finish; its
//    exit is judged by the restart policy unless the Supervisor has replaced it meanwhile;
//  - whatever a worker left behind in its process group is killed when it is reaped.
#include "supervisor/core/lane.h"

#include <cassert>

#include "supervisor/core/lane_table.h"
#include "supervisor/core/policy.h"

namespace clusterd::core {

namespace {
constexpr int kSigKill = 9;
constexpr int kSigAbrt = 6;

Unplanned cause_of(const ExitStatus& status) {
  switch (status.kind) {
    case ExitStatus::Kind::Exited:
      return Unplanned::Exit;
    case ExitStatus::Kind::Signaled:
      return Unplanned::Signal;
    case ExitStatus::Kind::SpawnFailed:
      return Unplanned::SpawnFailed;
    case ExitStatus::Kind::ReadyTimeout:
      return Unplanned::ReadyTimeout;
    case ExitStatus::Kind::WatchdogTimeout:
      return Unplanned::Watchdog;
  }
  return Unplanned::Exit;
}
}  // namespace

std::vector<Action> Lane::on(const Event& event, TimePoint now, const config::AppSpec& spec,
                             std::vector<Unplanned>* counted) {
  Step step{now, spec, event.index(), counted, {}, false};
  std::visit([&](const auto& e) { handle(e, step); }, event);
  assert(step.entered || lane_allows(r_.state, step.event, lane_table::Stay));
  return std::move(step.out);
}

std::optional<TimePoint> Lane::started_at() const {
  if (!r_.worker) return std::nullopt;
  return r_.worker->started;
}

void Lane::handle(const StartRequested&, Step& s) {
  r_.wanted = true;
  switch (r_.state) {
    case LaneState::Idle:
    case LaneState::Failed:
      forget_deaths();
      start("start requested", s);
      break;
    case LaneState::Stopping:
      r_.restart_after_stop = true;
      break;
    case LaneState::Starting:
    case LaneState::Running:
    case LaneState::Backoff:
      break;
  }
}

void Lane::handle(const StopRequested&, Step& s) {
  r_.wanted = false;
  r_.restart_after_stop = false;
  switch (r_.state) {
    case LaneState::Starting:
    case LaneState::Running:
      stop(s);
      break;
    case LaneState::Backoff:
    case LaneState::Failed:
      enter(LaneState::Idle, "stop requested", s);
      break;
    case LaneState::Idle:
    case LaneState::Stopping:
      break;
  }
}

void Lane::handle(const RestartRequested&, Step& s) {
  r_.wanted = true;
  switch (r_.state) {
    case LaneState::Starting:
    case LaneState::Running:
      r_.restart_after_stop = true;
      stop(s);
      break;
    case LaneState::Stopping:
      r_.restart_after_stop = true;
      break;
    case LaneState::Backoff:
    case LaneState::Idle:
    case LaneState::Failed:
      forget_deaths();
      start("restart requested", s);
      break;
  }
}

void Lane::handle(const Spawned& e, Step& s) {
  if (r_.state != LaneState::Starting || r_.worker) return;
  r_.worker = Worker{};
  r_.worker->pid = e.pid;
  r_.worker->started = s.now;
  r_.worker->watchdog = s.spec.watchdog.value_or(Duration::zero());
  if (s.spec.ready == config::ReadyMode::Exec) {
    ready(s);
  } else {
    arm(LaneTimer::State, later(s.now, s.spec.ready_timeout), s);
    if (config::probed(s.spec.ready)) probe(s);
  }
  arm_watchdog(s);
}

void Lane::handle(const Ready&, Step& s) {
  if (r_.state != LaneState::Starting || !r_.worker || r_.worker->settling) return;
  if (config::probed(s.spec.ready)) return;  // only the probe says so
  ready(s);
}

bool Lane::probing(const Step& s) const {
  return config::probed(s.spec.ready) && r_.state == LaneState::Starting && r_.worker &&
         !r_.worker->settling && !r_.worker->killed;
}

void Lane::probe(Step& s) {
  s.out.push_back(Probe{});
  arm(LaneTimer::Probe, later(s.now, s.spec.probe.interval), s);
}

void Lane::handle(const ProbeResult& e, Step& s) {
  if (!probing(s)) return;  // a try that ended after the worker was ready, or gone
  if (!e.ok) {
    r_.worker->probe_failure = e.failure;
    return;
  }
  disarm(LaneTimer::Probe, s);
  ready(s);
}

namespace {

// What made a worker ready, as its ready mode says.
const char* readiness(config::ReadyMode mode) {
  switch (mode) {
    case config::ReadyMode::Exec:
      return "exec succeeded (ready: exec)";
    case config::ReadyMode::Notify:
      return "READY=1";
    case config::ReadyMode::Listen:
      return "listen() on the master's socket (ready: listen)";
    case config::ReadyMode::Fd:
      return "a line on its ready fd (ready: fd)";
    case config::ReadyMode::Http:
      return "its ready probe answered (ready: http)";
    case config::ReadyMode::Tcp:
      return "its port took a connection (ready: tcp)";
  }
  return "ready";
}

}  // namespace

// The worker is ready as its mode says: it runs now, or once it stayed up for min_ready (a
// generation that dies at start is then a failed start, rolled back, for every ready mode).
void Lane::ready(Step& s) {
  if (s.spec.min_ready <= Duration::zero()) {
    enter(LaneState::Running, readiness(s.spec.ready), s);
    return;
  }
  r_.worker->settling = true;
  disarm(LaneTimer::Probe, s);
  arm(LaneTimer::State, later(s.now, s.spec.min_ready), s);
}

void Lane::handle(const Exited& e, Step& s) {
  ExitStatus status = e.status;
  if (r_.worker && r_.worker->ready_timed_out) {
    std::string probe;  // ready: http, tcp: why the probe did not succeed
    if (config::probed(s.spec.ready)) {
      probe = r_.worker->probe_failure.empty() ? "no try ended" : r_.worker->probe_failure;
    }
    status = {ExitStatus::Kind::ReadyTimeout, 0, std::move(probe), {}, status.last_words};
  }
  if (r_.worker && r_.worker->watchdog_fired)
    status = {ExitStatus::Kind::WatchdogTimeout, 0, {}, {}, status.last_words};
  switch (r_.state) {
    case LaneState::Starting:
    case LaneState::Running:
      died(std::move(status), e.chance, s);
      break;
    case LaneState::Stopping: {
      const bool by_itself = r_.worker && r_.worker->stopping_by_itself;
      if (r_.restart_after_stop && r_.wanted) {
        kill_group(s);
        r_.last_exit = status;
        r_.restart_after_stop = false;
        start("stopped (" + status.to_string() + "); starting again", s);
      } else if (by_itself && r_.wanted) {
        died(std::move(status), e.chance, s);  // it ended on its own: the restart policy decides
      } else {
        kill_group(s);
        r_.last_exit = status;
        enter(LaneState::Idle, "stopped (" + status.to_string() + ")", s);
      }
      break;
    }
    case LaneState::Idle:
    case LaneState::Backoff:
    case LaneState::Failed:
      break;
  }
}

void Lane::handle(const TimerFired& e, Step& s) {
  unsigned& armed = r_.tokens[static_cast<std::size_t>(e.timer)];
  if (e.token == 0 || e.token != armed) return;  // stale
  armed = 0;
  if (e.timer == LaneTimer::Probe) {
    if (probing(s)) probe(s);
    return;
  }
  if (e.timer == LaneTimer::Watchdog) {
    if (!r_.worker || (r_.state != LaneState::Starting && r_.state != LaneState::Running)) return;
    r_.worker->watchdog_fired = true;
    count(Unplanned::Watchdog, s);
    s.out.push_back(Notice{Notice::Kind::WatchdogExpired,
                           "no WATCHDOG=1 for " + std::to_string(r_.worker->watchdog.count()) +
                               "ms; sending SIGABRT"});
    s.out.push_back(Signal{r_.worker->pid, kSigAbrt, false});
    arm(LaneTimer::State, later(s.now, s.spec.stop_timeout), s);  // then SIGKILL
    return;
  }
  if (r_.state == LaneState::Starting && r_.worker && r_.worker->settling) {
    r_.worker->settling = false;
    enter(LaneState::Running,
          "up for min_ready (" + std::to_string(s.spec.min_ready.count()) + "ms) after " +
              readiness(s.spec.ready),
          s);
    return;
  }
  switch (r_.state) {
    case LaneState::Starting:
    case LaneState::Running:
    case LaneState::Stopping:
      if (r_.worker && !r_.worker->killed) {
        r_.worker->killed = true;
        if (r_.worker->watchdog_fired) {
          // SIGABRT was not enough
        } else if (r_.state == LaneState::Starting) {
          r_.worker->ready_timed_out = true;
          count(Unplanned::ReadyTimeout, s);
          disarm(LaneTimer::Probe, s);
          s.out.push_back(Notice{Notice::Kind::ReadyTimeout, ready_timeout_text(s)});
        } else if (r_.state == LaneState::Stopping) {
          s.out.push_back(Notice{Notice::Kind::StopTimeout,
                                 "still running after stop_timeout; sending SIGKILL"});
        }
        s.out.push_back(Signal{r_.worker->pid, kSigKill, true});
      }
      break;
    case LaneState::Backoff:
      start("backoff over", s);
      break;
    case LaneState::Idle:
    case LaneState::Failed:
      break;
  }
}

// The notice of a worker not ready in time: what it did not do, and the probe's last failure.
std::string Lane::ready_timeout_text(const Step& s) const {
  const std::string within = " within " + std::to_string(s.spec.ready_timeout.count()) + "ms";
  if (!config::probed(s.spec.ready)) return "no READY=1" + within + "; sending SIGKILL";
  const std::string& last = r_.worker->probe_failure;
  return std::string("no successful probe (ready: ") + config::to_string(s.spec.ready) + ")" +
         within + " (last: " + (last.empty() ? "no try ended" : last) + "); sending SIGKILL";
}

void Lane::handle(const WatchdogPing&, Step& s) {
  const bool live = r_.state == LaneState::Starting || r_.state == LaneState::Running;
  if (live && r_.worker && !r_.worker->watchdog_fired) arm_watchdog(s);
}

void Lane::handle(const ExtendTimeout& e, Step& s) {
  const bool waiting_ready = r_.state == LaneState::Starting && r_.worker &&
                             r_.tokens[static_cast<std::size_t>(LaneTimer::State)];
  const bool waiting_exit = r_.state == LaneState::Stopping && r_.worker && !r_.worker->killed;
  if (waiting_ready || waiting_exit) arm(LaneTimer::State, later(s.now, e.by), s);
}

void Lane::handle(const SetWatchdog& e, Step& s) {
  const bool live = r_.state == LaneState::Starting || r_.state == LaneState::Running;
  if (!live || !r_.worker || r_.worker->watchdog_fired) return;
  r_.worker->watchdog = e.interval;
  arm_watchdog(s);
}

void Lane::handle(const StatusText& e, Step&) {
  if (r_.worker) r_.status_text = e.text;
}

void Lane::handle(const WorkerStopping&, Step& s) {
  const bool live = r_.state == LaneState::Starting || r_.state == LaneState::Running;
  if (!live || !r_.worker) return;
  r_.worker->stopping_by_itself = true;
  enter(LaneState::Stopping, "the worker sent STOPPING=1", s);
  arm(LaneTimer::State, later(s.now, s.spec.stop_timeout), s);
}

void Lane::start(std::string reason, Step& s) {
  ++r_.spawns;
  r_.worker.reset();
  r_.status_text.clear();
  enter(LaneState::Starting, std::move(reason), s);
  s.out.push_back(Spawn{});
}

void Lane::stop(Step& s) {
  if (!r_.worker) {  // not spawned yet: nothing to signal
    if (r_.restart_after_stop) {
      r_.restart_after_stop = false;  // a spawn is already on its way
      return;
    }
    enter(LaneState::Idle, "stopped before it was spawned", s);
    return;
  }
  enter(LaneState::Stopping, "sending " + signal_name(s.spec.stop_signal), s);
  s.out.push_back(Signal{r_.worker->pid, s.spec.stop_signal, false});
  arm(LaneTimer::State, later(s.now, s.spec.stop_timeout), s);
}

void Lane::died(ExitStatus status, double chance, Step& s) {
  const Duration uptime = r_.worker
                              ? std::chrono::duration_cast<Duration>(s.now - r_.worker->started)
                              : Duration::zero();
  const bool ran_long_enough =
      r_.worker && uptime >= s.spec.min_uptime && status.kind != ExitStatus::Kind::ReadyTimeout;
  count(cause_of(status), s);
  kill_group(s);
  r_.last_exit = status;
  const std::string what = status.to_string();
  if (r_.one_shot) {
    r_.wanted = false;
    enter(LaneState::Idle, what + "; not restarting (a rollout's new worker)", s);
    return;
  }
  const Decision decision = should_restart(s.spec.restart, status);
  if (!decision.yes || !r_.wanted) {
    r_.wanted = false;
    enter(LaneState::Idle, what + "; not restarting (" + decision.reason + ")", s);
    return;
  }
  if (ran_long_enough) {
    r_.quick_streak = 0;
    r_.crash_streak = 0;
    start(what + "; ran " + std::to_string(uptime.count()) + "ms, restarting now", s);
    return;
  }
  if (status.counts_as_crash()) {
    ++r_.crash_streak;
    const bool in_window =
        crash_loop(r_.quick_deaths, s.now, s.spec.restart_window, s.spec.max_restarts);
    if (in_window || r_.crash_streak > s.spec.max_restarts) {
      const std::string limit =
          "more than " + std::to_string(s.spec.max_restarts) + " quick deaths " +
          (in_window ? "within " + std::to_string(s.spec.restart_window.count()) + "ms"
                     : std::string("in a row"));
      enter(LaneState::Failed, what + "; " + limit + ", giving up", s);
      return;
    }
  }
  ++r_.quick_streak;
  const Duration delay =
      jittered(restart_delay(s.spec.backoff_initial, s.spec.backoff_max, r_.quick_streak),
               s.spec.backoff_jitter, chance);
  enter(LaneState::Backoff, what + "; restarting in " + std::to_string(delay.count()) + "ms", s);
  r_.backoff_until = later(s.now, delay);
  arm(LaneTimer::State, r_.backoff_until, s);
}

void Lane::forget_deaths() {
  r_.quick_deaths.clear();
  r_.quick_streak = 0;
  r_.crash_streak = 0;
}

void Lane::count(Unplanned cause, Step& s) {
  if (take_count() && s.counted != nullptr) s.counted->push_back(cause);
}

bool Lane::take_count() {
  if (r_.worker && r_.worker->counted) return false;
  if (r_.worker) r_.worker->counted = true;
  return true;
}

// Whatever the worker left behind in its process group goes with it.
void Lane::kill_group(Step& s) {
  if (r_.worker) s.out.push_back(Signal{r_.worker->pid, kSigKill, true});
  r_.worker.reset();
}

void Lane::arm(LaneTimer timer, TimePoint deadline, Step& s) {
  unsigned& token = r_.tokens[static_cast<std::size_t>(timer)];
  token = r_.next_token++;
  if (r_.next_token == 0) r_.next_token = 1;
  s.out.push_back(ArmTimer{timer, deadline, token});
}

void Lane::disarm(LaneTimer timer, Step& s) {
  unsigned& token = r_.tokens[static_cast<std::size_t>(timer)];
  if (token != 0) s.out.push_back(CancelTimer{timer});
  token = 0;
}

void Lane::arm_watchdog(Step& s) {
  if (!r_.worker || r_.worker->watchdog <= Duration::zero()) {
    disarm(LaneTimer::Watchdog, s);
    return;
  }
  arm(LaneTimer::Watchdog, later(s.now, r_.worker->watchdog), s);
}

void Lane::enter(LaneState next, std::string reason, Step& s) {
  assert(lane_allows(r_.state, s.event, outcome_of(next)));
  disarm(LaneTimer::State, s);  // the deadline belonged to the state we leave
  if (next != LaneState::Starting && next != LaneState::Running) disarm(LaneTimer::Watchdog, s);
  if (next != LaneState::Starting) disarm(LaneTimer::Probe, s);  // no probe outlives its start
  s.out.push_back(Transition{r_.state, next, std::move(reason), r_.generation});
  r_.state = next;
  s.entered = true;
}

}  // namespace clusterd::core
