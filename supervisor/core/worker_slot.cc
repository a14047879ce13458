// The slot state machine. Each row is a state, each column an event; "-" means ignored.
//
//            Start          Stop            Restart          Spawned        Ready     Exited Timer
//  Idle      spawn:Starting -               spawn:Starting   -              -         -          -
//  Starting  -              signal:Stopping signal:Stopping* pid [exec:Run] Running   died kill
//  group Running   -              signal:Stopping signal:Stopping* -              -         died -
//  Stopping  *              clear *         *                -              -         Idle|spawn
//  SIGKILL group Backoff   -              Idle            spawn:Starting   -              - -
//  spawn:Starting Failed    spawn:Starting Idle            spawn:Starting   -              - - -
//
//  * = "start again once it has exited" (restart_after_stop_).
//  died = keep last_exit; then by policy: Idle (no restart), Failed (crash loop), Backoff (a quick
//  death: ran less than min_uptime, or missed ready_timeout), or spawn at once (it ran long
//  enough). A one-shot lane (a rollout's new worker) goes Idle instead: the rollout decides.
//
//  Watchdog (Starting, Running): every WATCHDOG=1 re-arms a timer of its own; when it fires the
//  worker gets SIGABRT and the state timer is armed for SIGKILL after stop_timeout; its exit is
//  then reported as a watchdog timeout. EXTEND_TIMEOUT_USEC moves the ready or stop deadline.
#include "supervisor/core/worker_slot.h"

#include "supervisor/core/policy.h"

namespace clusterd::core {

namespace {
constexpr int kSigKill = 9;
constexpr int kSigAbrt = 6;
}  // namespace

const char* to_string(SlotState state) {
  switch (state) {
    case SlotState::Idle:
      return "idle";
    case SlotState::Starting:
      return "starting";
    case SlotState::Running:
      return "running";
    case SlotState::Stopping:
      return "stopping";
    case SlotState::Backoff:
      return "backoff";
    case SlotState::Failed:
      return "failed";
  }
  return "unknown";
}

std::vector<Action> WorkerSlot::on(const Event& event, TimePoint now, const config::AppSpec& spec) {
  std::vector<Action> out;
  if (std::holds_alternative<StartRequested>(event)) {
    wanted_ = true;
    switch (state_) {
      case SlotState::Idle:
      case SlotState::Failed:
        quick_deaths_.clear();
        quick_streak_ = 0;
        start("start requested", out);
        break;
      case SlotState::Stopping:
        restart_after_stop_ = true;
        break;
      case SlotState::Starting:
      case SlotState::Running:
      case SlotState::Backoff:
        break;
    }
  } else if (std::holds_alternative<StopRequested>(event)) {
    wanted_ = false;
    restart_after_stop_ = false;
    switch (state_) {
      case SlotState::Starting:
      case SlotState::Running:
        stop(now, spec, out);
        break;
      case SlotState::Backoff:
        out.push_back(CancelTimer{});
        token_[0] = 0;
        enter(SlotState::Idle, "stop requested", out);
        break;
      case SlotState::Failed:
        enter(SlotState::Idle, "stop requested", out);
        break;
      case SlotState::Idle:
      case SlotState::Stopping:
        break;
    }
  } else if (std::holds_alternative<RestartRequested>(event)) {
    wanted_ = true;
    switch (state_) {
      case SlotState::Starting:
      case SlotState::Running:
        restart_after_stop_ = true;
        stop(now, spec, out);
        break;
      case SlotState::Stopping:
        restart_after_stop_ = true;
        break;
      case SlotState::Backoff:
        out.push_back(CancelTimer{});
        token_[0] = 0;
        [[fallthrough]];
      case SlotState::Idle:
      case SlotState::Failed:
        quick_deaths_.clear();
        quick_streak_ = 0;
        start("restart requested", out);
        break;
    }
  } else if (const auto* spawned = std::get_if<Spawned>(&event)) {
    if (state_ != SlotState::Starting || pid_ != 0) return out;
    pid_ = spawned->pid;
    started_at_ = now;
    watchdog_interval_ = spec.watchdog ? *spec.watchdog : Duration::zero();
    if (spec.ready == config::ReadyMode::Exec) {
      enter(SlotState::Running, "exec succeeded (ready: exec)", out);
    } else {
      arm(now + spec.ready_timeout, out);
    }
    arm_watchdog(now, out);
  } else if (std::holds_alternative<Ready>(event)) {
    if (state_ != SlotState::Starting || pid_ == 0) return out;
    out.push_back(CancelTimer{});
    token_[0] = 0;
    enter(SlotState::Running, "READY=1", out);
  } else if (const auto* exited = std::get_if<Exited>(&event)) {
    switch (state_) {
      case SlotState::Starting:
      case SlotState::Running: {
        ExitStatus status = exited->status;
        if (ready_timed_out_) status = ExitStatus{ExitStatus::Kind::ReadyTimeout, 0, {}};
        if (watchdog_fired_) status = ExitStatus{ExitStatus::Kind::WatchdogTimeout, 0, {}};
        died(status, now, spec, out);
        break;
      }
      case SlotState::Stopping: {
        last_exit_ = exited->status;
        pid_ = 0;
        disarm_all(out);
        if (restart_after_stop_ && wanted_) {
          restart_after_stop_ = false;
          start("stopped (" + exited->status.to_string() + "); starting again", out);
        } else {
          enter(SlotState::Idle, "stopped (" + exited->status.to_string() + ")", out);
        }
        break;
      }
      case SlotState::Idle:
      case SlotState::Backoff:
      case SlotState::Failed:
        break;
    }
  } else if (const auto* timer = std::get_if<TimerFired>(&event)) {
    if (timer->kind == TimerKind::Watchdog) {
      watchdog_expired(*timer, now, spec, out);
      return out;
    }
    if (timer->kind != TimerKind::State) return out;                 // not ours (the rollout's)
    if (timer->token == 0 || timer->token != token_[0]) return out;  // stale
    token_[0] = 0;
    switch (state_) {
      case SlotState::Starting:
        ready_timed_out_ = true;
        killed_ = true;
        out.push_back(Signal{pid_, kSigKill, true});
        break;
      case SlotState::Stopping:
        if (!killed_) {
          killed_ = true;
          out.push_back(Transition{"stopping", "stopping",
                                   "still running after stop_timeout; sending SIGKILL"});
          out.push_back(Signal{pid_, kSigKill, true});
        }
        break;
      case SlotState::Backoff:
        start("backoff over", out);
        break;
      case SlotState::Running:
        if (watchdog_fired_ && !killed_) {  // SIGABRT was not enough
          killed_ = true;
          out.push_back(Signal{pid_, kSigKill, true});
        }
        break;
      case SlotState::Idle:
      case SlotState::Failed:
        break;
    }
  } else if (std::holds_alternative<WatchdogPing>(event)) {
    if ((state_ == SlotState::Starting || state_ == SlotState::Running) && !watchdog_fired_) {
      arm_watchdog(now, out);
    }
  } else if (const auto* extend = std::get_if<ExtendTimeout>(&event)) {
    const bool waiting_ready = state_ == SlotState::Starting && pid_ != 0 && token_[0] != 0;
    const bool waiting_exit = state_ == SlotState::Stopping && !killed_;
    if (waiting_ready || waiting_exit) arm(now + extend->by, out);
  } else if (const auto* set = std::get_if<SetWatchdog>(&event)) {
    if (pid_ != 0 && (state_ == SlotState::Starting || state_ == SlotState::Running)) {
      watchdog_interval_ = set->interval;
      arm_watchdog(now, out);
    }
  }
  return out;
}

void WorkerSlot::arm_watchdog(TimePoint now, std::vector<Action>& out) {
  if (watchdog_interval_ <= Duration::zero()) {
    if (token_[1] != 0) out.push_back(CancelTimer{TimerKind::Watchdog});
    token_[1] = 0;
    return;
  }
  arm(now + watchdog_interval_, out, TimerKind::Watchdog);
}

void WorkerSlot::watchdog_expired(const TimerFired& timer, TimePoint now,
                                  const config::AppSpec& spec, std::vector<Action>& out) {
  if (timer.token == 0 || timer.token != token_[1]) return;
  token_[1] = 0;
  if (pid_ == 0 || (state_ != SlotState::Starting && state_ != SlotState::Running)) return;
  watchdog_fired_ = true;
  out.push_back(Transition{
      to_string(state_), to_string(state_),
      "no WATCHDOG=1 for " + std::to_string(watchdog_interval_.count()) + "ms; sending SIGABRT"});
  out.push_back(Signal{pid_, kSigAbrt, false});
  arm(now + spec.stop_timeout, out);  // then SIGKILL
}

void WorkerSlot::start(std::string reason, std::vector<Action>& out) {
  if (spawns_++ > 0) ++restarts_;
  pid_ = 0;
  killed_ = false;
  ready_timed_out_ = false;
  watchdog_fired_ = false;
  status_text_.clear();
  enter(SlotState::Starting, std::move(reason), out);
  out.push_back(Spawn{});
}

void WorkerSlot::stop(TimePoint now, const config::AppSpec& spec, std::vector<Action>& out) {
  if (pid_ == 0) {  // never spawned: nothing to signal
    enter(SlotState::Idle, "stopped before it was spawned", out);
    return;
  }
  if (token_[1] != 0) out.push_back(CancelTimer{TimerKind::Watchdog});
  token_[1] = 0;
  enter(SlotState::Stopping, "sending " + signal_name(spec.stop_signal), out);
  out.push_back(Signal{pid_, spec.stop_signal, false});
  arm(now + spec.stop_timeout, out);
}

void WorkerSlot::died(const ExitStatus& status, TimePoint now, const config::AppSpec& spec,
                      std::vector<Action>& out) {
  last_exit_ = status;
  const Duration uptime = pid_ != 0 && started_at_
                              ? std::chrono::duration_cast<Duration>(now - *started_at_)
                              : Duration::zero();
  const long long uptime_ms = uptime.count();
  const bool ran_long_enough =
      uptime >= spec.min_uptime && status.kind != ExitStatus::Kind::ReadyTimeout;
  pid_ = 0;
  disarm_all(out);
  const std::string what = status.to_string();
  if (one_shot_) {  // a rollout's new worker: the rollout decides, not the restart policy
    wanted_ = false;
    enter(SlotState::Idle, what + "; not restarting (a rollout's new worker)", out);
    return;
  }
  const Decision decision = should_restart(spec.restart, status);
  if (!decision.yes || !wanted_) {
    wanted_ = false;
    enter(SlotState::Idle, what + "; not restarting (" + decision.reason + ")", out);
    return;
  }
  if (ran_long_enough) {
    quick_streak_ = 0;
    start(what + "; ran " + std::to_string(uptime_ms) + "ms, restarting now", out);
    return;
  }
  // A spawn that failed for want of a resource (pids, memory, fds) says nothing about the worker:
  // keep retrying with backoff, and do not let it count toward the crash-loop limit.
  if (!status.transient && crash_loop(quick_deaths_, now, spec.restart_window, spec.max_restarts)) {
    enter(SlotState::Failed,
          what + "; more than " + std::to_string(spec.max_restarts) + " quick deaths within " +
              std::to_string(spec.restart_window.count()) + "ms, giving up",
          out);
    return;
  }
  ++quick_streak_;
  const Duration delay = restart_delay(spec.backoff_initial, spec.backoff_max, quick_streak_);
  enter(SlotState::Backoff, what + "; restarting in " + std::to_string(delay.count()) + "ms", out);
  arm(now + delay, out);
}

void WorkerSlot::arm(TimePoint deadline, std::vector<Action>& out, TimerKind kind) {
  unsigned& token = token_[static_cast<unsigned>(kind)];
  token = next_token_++;
  if (next_token_ == 0) next_token_ = 1;
  out.push_back(ArmTimer{deadline, token, kind});
}

void WorkerSlot::disarm_all(std::vector<Action>& out) {
  for (unsigned k = 0; k < 2; ++k) {
    if (token_[k] != 0) out.push_back(CancelTimer{static_cast<TimerKind>(k)});
    token_[k] = 0;
  }
}

void WorkerSlot::enter(SlotState next, std::string reason, std::vector<Action>& out) {
  out.push_back(Transition{to_string(state_), to_string(next), std::move(reason)});
  state_ = next;
}

}  // namespace clusterd::core
