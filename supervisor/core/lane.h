// Lane: the life of one worker of a slot as a pure state machine (lane_table.h is its table). It
// is fed events with the time they happened and answers with the actions the shell must carry
// out. A slot has two lanes: the one serving, and the one a replacement starts in.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "supervisor/core/actions.h"
#include "supervisor/core/boxed.h"
#include "supervisor/core/events.h"
#include "supervisor/core/types.h"

namespace clusterd::core {

class Lane {
 public:
  /// Applies one event at time `now` under `spec` (the app generation the lane runs); returns
  /// what the shell must do, in order. Events that do not apply in the current state change
  /// nothing (an empty result). An end of the worker nobody asked for (a crash, a timeout) is
  /// added to `counted`, once per worker, when it is given: the slot's restart counters.
  std::vector<Action> on(const Event& event, TimePoint now, const config::AppSpec& spec,
                         std::vector<Unplanned>* counted = nullptr);

  LaneState state() const { return r_.state; }
  int pid() const { return r_.worker ? r_.worker->pid : 0; }  // 0 while no worker process exists
  bool wanted() const { return r_.wanted; }
  std::optional<TimePoint> started_at() const;
  /// When the backoff ends (meaningful in Backoff only).
  TimePoint backoff_until() const { return r_.backoff_until; }
  const Boxed<ExitStatus>& last_exit() const { return r_.last_exit; }
  const std::string& status_text() const { return r_.status_text; }
  /// The app generation the current (or next) worker runs.
  unsigned generation() const { return r_.generation; }
  /// A one-shot lane is never restarted by the restart policy: it holds a rollout's new worker
  /// until it is promoted, and the rollout decides.
  bool one_shot() const { return r_.one_shot; }
  /// The worker said STOPPING=1 and is draining on its own.
  bool stopping_by_itself() const { return r_.worker && r_.worker->stopping_by_itself; }

  // What exists only while a worker process does: dropped with it.
  struct Worker {
    int pid = 0;
    TimePoint started;
    Duration watchdog{};           // 0 = no watchdog
    bool killed = false;           // SIGKILL already sent to its group
    bool ready_timed_out = false;  // missed ready_timeout and was killed
    bool watchdog_fired = false;   // missed its watchdog and got SIGABRT
    bool stopping_by_itself = false;
    bool counted = false;       // its unplanned end (or replacement) was counted
    bool settling = false;      // ready as its mode says, and staying up for min_ready first
    std::string probe_failure;  // why its ready probe's last try failed; empty before one did
    friend bool operator==(const Worker&, const Worker&) = default;
  };
  /// Everything a lane holds: its only member, so that a live upgrade of the master carries all
  /// of it (daemon/upgrade_records.cc writes and reads it field by field, side by side), and the
  /// new master's lane decides what the old one would have.
  struct Record {
    LaneState state = LaneState::Idle;
    std::optional<Worker> worker;
    bool wanted = false;  // should a worker run in this lane?
    bool restart_after_stop = false;
    bool one_shot = false;
    unsigned generation = 0;
    unsigned spawns = 0;
    unsigned quick_streak = 0;  // consecutive quick deaths, for the backoff exponent
    unsigned crash_streak = 0;  // consecutive quick deaths that count as crashes
    TimePoint backoff_until;    // meaningful in Backoff
    std::vector<TimePoint> quick_deaths;
    Boxed<ExitStatus> last_exit;  // boxed: 8 bytes until a worker ended (thousands of lanes)
    std::string status_text;
    std::array<unsigned, kLaneTimers> tokens{};  // the armed token of each timer; 0 = none
    unsigned next_token = 1;
    friend bool operator==(const Record&, const Record&) = default;
  };
  const Record& record() const { return r_; }
  static Lane from(Record record) {
    Lane lane;
    lane.r_ = std::move(record);
    return lane;
  }

 private:
  friend class Supervisor;  // assigns the generation and one-shot flag before a start
  void assign(unsigned generation, bool one_shot) {
    r_.generation = generation;
    r_.one_shot = one_shot;
  }

  // The context of one call of on(): its inputs and the actions so far.
  struct Step {
    TimePoint now;
    const config::AppSpec& spec;
    std::size_t event;  // the Event alternative being handled, for the table check
    std::vector<Unplanned>* counted;
    std::vector<Action> out;
    bool entered = false;
  };

  void handle(const StartRequested&, Step& s);
  void handle(const StopRequested&, Step& s);
  void handle(const RestartRequested&, Step& s);
  void handle(const Spawned& e, Step& s);
  void handle(const Ready&, Step& s);
  void ready(Step& s);
  void handle(const Exited& e, Step& s);
  void handle(const TimerFired& e, Step& s);
  void handle(const WatchdogPing&, Step& s);
  void handle(const ExtendTimeout& e, Step& s);
  void handle(const SetWatchdog& e, Step& s);
  void handle(const StatusText& e, Step& s);
  void handle(const WorkerStopping&, Step& s);
  void handle(const ProbeResult& e, Step& s);
  /// ready: http, tcp: one try now, the next after the interval (each try's own limit, too).
  void probe(Step& s);
  bool probing(const Step& s) const;
  std::string ready_timeout_text(const Step& s) const;

  void start(std::string reason, Step& s);
  void stop(Step& s);
  void died(ExitStatus status, double chance, Step& s);  // chance: Exited::chance
  void forget_deaths();  // a start someone asked for: the crash-loop count begins again
  void kill_group(Step& s);
  /// Adds `cause` to s.counted for the current worker unless it was counted already.
  void count(Unplanned cause, Step& s);
  /// Marks the current worker as counted (Supervisor: it is being replaced); false if it was.
  bool take_count();
  void arm(LaneTimer timer, TimePoint deadline, Step& s);
  void disarm(LaneTimer timer, Step& s);
  void arm_watchdog(Step& s);
  /// The only writer of r_.state: checks the move against the table, drops the timers that
  /// belonged to the state it leaves, and reports a Transition.
  void enter(LaneState next, std::string reason, Step& s);

  Record r_;
};

}  // namespace clusterd::core
