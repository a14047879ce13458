// WorkerSlot: the life of one worker slot (CLUSTER_WORKER_ID) as a pure state machine. It is fed
// events with the time they happened and answers with the actions the shell must carry out.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "supervisor/core/types.h"

namespace clusterd::core {

enum class SlotState {
  Idle,      // no worker, none wanted (never started, stopped, or ended under its restart policy)
  Starting,  // spawned, waiting for READY=1 (ready: notify)
  Running,   // ready and serving
  Stopping,  // stop signal sent, waiting for it to exit (SIGKILL after stop_timeout)
  Backoff,   // died quickly; waiting before the next start
  Failed,    // crash loop: too many quick deaths within restart_window; waits for a command
};

/// "idle", "starting", "running", "stopping", "backoff", "failed".
const char* to_string(SlotState state);

class WorkerSlot {
 public:
  /// Applies one event at time `now` under `spec` (the slot's app); returns what the shell must do,
  /// in order. Events that do not apply in the current state are ignored (empty result).
  std::vector<Action> on(const Event& event, TimePoint now, const config::AppSpec& spec);

  SlotState state() const { return state_; }
  int pid() const { return pid_; }  // 0 when no worker process exists
  bool wanted() const { return wanted_; }
  unsigned restarts() const { return restarts_; }
  std::optional<TimePoint> started_at() const { return started_at_; }
  const std::optional<ExitStatus>& last_exit() const { return last_exit_; }
  const std::string& status_text() const { return status_text_; }
  void set_status_text(std::string text) { status_text_ = std::move(text); }
  /// The app generation the current worker was started from (set by the Supervisor).
  unsigned generation() const { return generation_; }
  void set_generation(unsigned generation) { generation_ = generation; }
  /// A one-shot lane is not restarted by the restart policy when its worker dies (a rollout's
  /// new worker, until it is promoted).
  void set_one_shot(bool one_shot) { one_shot_ = one_shot; }
  bool one_shot() const { return one_shot_; }

 private:
  void start(std::string reason, std::vector<Action>& out);
  void stop(TimePoint now, const config::AppSpec& spec, std::vector<Action>& out);
  void died(const ExitStatus& status, TimePoint now, const config::AppSpec& spec,
            std::vector<Action>& out);
  void arm(TimePoint deadline, std::vector<Action>& out, TimerKind kind = TimerKind::State);
  void disarm_all(std::vector<Action>& out);
  void arm_watchdog(TimePoint now, std::vector<Action>& out);
  void watchdog_expired(const TimerFired& timer, TimePoint now, const config::AppSpec& spec,
                        std::vector<Action>& out);
  void enter(SlotState next, std::string reason,
             std::vector<Action>& out);  // sole writer of state_

  SlotState state_ = SlotState::Idle;
  bool wanted_ = false;  // should a worker run in this slot?
  bool restart_after_stop_ = false;
  bool killed_ = false;           // SIGKILL already sent to this worker's group
  bool ready_timed_out_ = false;  // the current worker missed ready_timeout and was killed
  int pid_ = 0;
  std::optional<TimePoint> started_at_;
  unsigned spawns_ = 0;
  unsigned restarts_ = 0;      // spawns after the first one
  unsigned quick_streak_ = 0;  // consecutive quick deaths, for the backoff exponent
  std::vector<TimePoint> quick_deaths_;
  std::optional<ExitStatus> last_exit_;
  std::string status_text_;
  unsigned generation_ = 0;
  unsigned token_[2] = {0, 0};  // armed State and Watchdog timers; 0 = none armed
  bool one_shot_ = false;       // a rollout's new worker: never restarted by the policy
  bool watchdog_fired_ = false;
  Duration watchdog_interval_{};
  unsigned next_token_ = 1;
};

}  // namespace clusterd::core
