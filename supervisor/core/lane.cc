// The lane state machine; its table is lane_table.h. The rules in words:
//  - a start spawns; the worker is Running once exec'd (ready: exec) or once it sent READY=1
//    (ready: notify) before ready_timeout, else it is killed and counts as a quick death;
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
  assert(step.entered || lane_allows(state_, step.event, lane_table::Stay));
  return std::move(step.out);
}

std::optional<TimePoint> Lane::started_at() const {
  if (!worker_) return std::nullopt;
  return worker_->started;
}

void Lane::handle(const StartRequested&, Step& s) {
  wanted_ = true;
  switch (state_) {
    case LaneState::Idle:
    case LaneState::Failed:
      forget_deaths();
      start("start requested", s);
      break;
    case LaneState::Stopping:
      restart_after_stop_ = true;
      break;
    case LaneState::Starting:
    case LaneState::Running:
    case LaneState::Backoff:
      break;
  }
}

void Lane::handle(const StopRequested&, Step& s) {
  wanted_ = false;
  restart_after_stop_ = false;
  switch (state_) {
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
  wanted_ = true;
  switch (state_) {
    case LaneState::Starting:
    case LaneState::Running:
      restart_after_stop_ = true;
      stop(s);
      break;
    case LaneState::Stopping:
      restart_after_stop_ = true;
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
  if (state_ != LaneState::Starting || worker_) return;
  worker_ = Worker{e.pid, s.now, s.spec.watchdog.value_or(Duration::zero())};
  if (s.spec.ready == config::ReadyMode::Exec) {
    enter(LaneState::Running, "exec succeeded (ready: exec)", s);
  } else {
    arm(LaneTimer::State, later(s.now, s.spec.ready_timeout), s);
  }
  arm_watchdog(s);
}

void Lane::handle(const Ready&, Step& s) {
  if (state_ != LaneState::Starting || !worker_) return;
  enter(LaneState::Running, "READY=1", s);
}

void Lane::handle(const Exited& e, Step& s) {
  ExitStatus status = e.status;
  if (worker_ && worker_->ready_timed_out) status = {ExitStatus::Kind::ReadyTimeout, 0, {}, {}};
  if (worker_ && worker_->watchdog_fired) status = {ExitStatus::Kind::WatchdogTimeout, 0, {}, {}};
  switch (state_) {
    case LaneState::Starting:
    case LaneState::Running:
      died(std::move(status), e.chance, s);
      break;
    case LaneState::Stopping: {
      const bool by_itself = worker_ && worker_->stopping_by_itself;
      if (restart_after_stop_ && wanted_) {
        kill_group(s);
        last_exit_ = status;
        restart_after_stop_ = false;
        start("stopped (" + status.to_string() + "); starting again", s);
      } else if (by_itself && wanted_) {
        died(std::move(status), e.chance, s);  // it ended on its own: the restart policy decides
      } else {
        kill_group(s);
        last_exit_ = status;
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
  unsigned& armed = tokens_[static_cast<std::size_t>(e.timer)];
  if (e.token == 0 || e.token != armed) return;  // stale
  armed = 0;
  if (e.timer == LaneTimer::Watchdog) {
    if (!worker_ || (state_ != LaneState::Starting && state_ != LaneState::Running)) return;
    worker_->watchdog_fired = true;
    count(Unplanned::Watchdog, s);
    s.out.push_back(Notice{
        Notice::Kind::WatchdogExpired,
        "no WATCHDOG=1 for " + std::to_string(worker_->watchdog.count()) + "ms; sending SIGABRT"});
    s.out.push_back(Signal{worker_->pid, kSigAbrt, false});
    arm(LaneTimer::State, later(s.now, s.spec.stop_timeout), s);  // then SIGKILL
    return;
  }
  switch (state_) {
    case LaneState::Starting:
    case LaneState::Running:
    case LaneState::Stopping:
      if (worker_ && !worker_->killed) {
        worker_->killed = true;
        if (worker_->watchdog_fired) {
          // SIGABRT was not enough
        } else if (state_ == LaneState::Starting) {
          worker_->ready_timed_out = true;
          count(Unplanned::ReadyTimeout, s);
          s.out.push_back(
              Notice{Notice::Kind::ReadyTimeout, "no READY=1 within " +
                                                     std::to_string(s.spec.ready_timeout.count()) +
                                                     "ms; sending SIGKILL"});
        } else if (state_ == LaneState::Stopping) {
          s.out.push_back(Notice{Notice::Kind::StopTimeout,
                                 "still running after stop_timeout; sending SIGKILL"});
        }
        s.out.push_back(Signal{worker_->pid, kSigKill, true});
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

void Lane::handle(const WatchdogPing&, Step& s) {
  const bool live = state_ == LaneState::Starting || state_ == LaneState::Running;
  if (live && worker_ && !worker_->watchdog_fired) arm_watchdog(s);
}

void Lane::handle(const ExtendTimeout& e, Step& s) {
  const bool waiting_ready = state_ == LaneState::Starting && worker_ &&
                             tokens_[static_cast<std::size_t>(LaneTimer::State)];
  const bool waiting_exit = state_ == LaneState::Stopping && worker_ && !worker_->killed;
  if (waiting_ready || waiting_exit) arm(LaneTimer::State, later(s.now, e.by), s);
}

void Lane::handle(const SetWatchdog& e, Step& s) {
  const bool live = state_ == LaneState::Starting || state_ == LaneState::Running;
  if (!live || !worker_ || worker_->watchdog_fired) return;
  worker_->watchdog = e.interval;
  arm_watchdog(s);
}

void Lane::handle(const StatusText& e, Step&) {
  if (worker_) status_text_ = e.text;
}

void Lane::handle(const WorkerStopping&, Step& s) {
  const bool live = state_ == LaneState::Starting || state_ == LaneState::Running;
  if (!live || !worker_) return;
  worker_->stopping_by_itself = true;
  enter(LaneState::Stopping, "the worker sent STOPPING=1", s);
  arm(LaneTimer::State, later(s.now, s.spec.stop_timeout), s);
}

void Lane::start(std::string reason, Step& s) {
  ++spawns_;
  worker_.reset();
  status_text_.clear();
  enter(LaneState::Starting, std::move(reason), s);
  s.out.push_back(Spawn{});
}

void Lane::stop(Step& s) {
  if (!worker_) {  // not spawned yet: nothing to signal
    if (restart_after_stop_) {
      restart_after_stop_ = false;  // a spawn is already on its way
      return;
    }
    enter(LaneState::Idle, "stopped before it was spawned", s);
    return;
  }
  enter(LaneState::Stopping, "sending " + signal_name(s.spec.stop_signal), s);
  s.out.push_back(Signal{worker_->pid, s.spec.stop_signal, false});
  arm(LaneTimer::State, later(s.now, s.spec.stop_timeout), s);
}

void Lane::died(ExitStatus status, double chance, Step& s) {
  const Duration uptime =
      worker_ ? std::chrono::duration_cast<Duration>(s.now - worker_->started) : Duration::zero();
  const bool ran_long_enough =
      worker_ && uptime >= s.spec.min_uptime && status.kind != ExitStatus::Kind::ReadyTimeout;
  count(cause_of(status), s);
  kill_group(s);
  last_exit_ = status;
  const std::string what = status.to_string();
  if (one_shot_) {
    wanted_ = false;
    enter(LaneState::Idle, what + "; not restarting (a rollout's new worker)", s);
    return;
  }
  const Decision decision = should_restart(s.spec.restart, status);
  if (!decision.yes || !wanted_) {
    wanted_ = false;
    enter(LaneState::Idle, what + "; not restarting (" + decision.reason + ")", s);
    return;
  }
  if (ran_long_enough) {
    quick_streak_ = 0;
    crash_streak_ = 0;
    start(what + "; ran " + std::to_string(uptime.count()) + "ms, restarting now", s);
    return;
  }
  if (status.counts_as_crash()) {
    ++crash_streak_;
    const bool in_window =
        crash_loop(quick_deaths_, s.now, s.spec.restart_window, s.spec.max_restarts);
    if (in_window || crash_streak_ > s.spec.max_restarts) {
      const std::string limit =
          "more than " + std::to_string(s.spec.max_restarts) + " quick deaths " +
          (in_window ? "within " + std::to_string(s.spec.restart_window.count()) + "ms"
                     : std::string("in a row"));
      enter(LaneState::Failed, what + "; " + limit + ", giving up", s);
      return;
    }
  }
  ++quick_streak_;
  const Duration delay =
      jittered(restart_delay(s.spec.backoff_initial, s.spec.backoff_max, quick_streak_),
               s.spec.backoff_jitter, chance);
  enter(LaneState::Backoff, what + "; restarting in " + std::to_string(delay.count()) + "ms", s);
  backoff_until_ = later(s.now, delay);
  arm(LaneTimer::State, backoff_until_, s);
}

void Lane::forget_deaths() {
  quick_deaths_.clear();
  quick_streak_ = 0;
  crash_streak_ = 0;
}

void Lane::count(Unplanned cause, Step& s) {
  if (take_count() && s.counted != nullptr) s.counted->push_back(cause);
}

bool Lane::take_count() {
  if (worker_ && worker_->counted) return false;
  if (worker_) worker_->counted = true;
  return true;
}

// Whatever the worker left behind in its process group goes with it.
void Lane::kill_group(Step& s) {
  if (worker_) s.out.push_back(Signal{worker_->pid, kSigKill, true});
  worker_.reset();
}

void Lane::arm(LaneTimer timer, TimePoint deadline, Step& s) {
  unsigned& token = tokens_[static_cast<std::size_t>(timer)];
  token = next_token_++;
  if (next_token_ == 0) next_token_ = 1;
  s.out.push_back(ArmTimer{timer, deadline, token});
}

void Lane::disarm(LaneTimer timer, Step& s) {
  unsigned& token = tokens_[static_cast<std::size_t>(timer)];
  if (token != 0) s.out.push_back(CancelTimer{timer});
  token = 0;
}

void Lane::arm_watchdog(Step& s) {
  if (!worker_ || worker_->watchdog <= Duration::zero()) {
    disarm(LaneTimer::Watchdog, s);
    return;
  }
  arm(LaneTimer::Watchdog, later(s.now, worker_->watchdog), s);
}

void Lane::enter(LaneState next, std::string reason, Step& s) {
  assert(lane_allows(state_, s.event, outcome_of(next)));
  disarm(LaneTimer::State, s);  // the deadline belonged to the state we leave
  if (next != LaneState::Starting && next != LaneState::Running) disarm(LaneTimer::Watchdog, s);
  s.out.push_back(Transition{state_, next, std::move(reason), generation_});
  state_ = next;
  s.entered = true;
}

Lane::Saved Lane::save() const {
  return {state_,        worker_,        wanted_,       restart_after_stop_,
          one_shot_,     generation_,    spawns_,       quick_streak_,
          crash_streak_, backoff_until_, quick_deaths_, last_exit_,
          status_text_,  tokens_,        next_token_};
}

Lane Lane::restore(Saved saved) {
  Lane lane;
  lane.state_ = saved.state;
  lane.worker_ = saved.worker;
  lane.wanted_ = saved.wanted;
  lane.restart_after_stop_ = saved.restart_after_stop;
  lane.one_shot_ = saved.one_shot;
  lane.generation_ = saved.generation;
  lane.spawns_ = saved.spawns;
  lane.quick_streak_ = saved.quick_streak;
  lane.crash_streak_ = saved.crash_streak;
  lane.backoff_until_ = saved.backoff_until;
  lane.quick_deaths_ = std::move(saved.quick_deaths);
  lane.last_exit_ = std::move(saved.last_exit);
  lane.status_text_ = std::move(saved.status_text);
  lane.tokens_ = saved.tokens;
  lane.next_token_ = saved.next_token;
  return lane;
}

}  // namespace clusterd::core
