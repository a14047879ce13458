// What happens to workers and apps, as events (event_log.h) and log lines: the core's transitions
// and notices, spawns and exits, each one record with the same fields.
#include "supervisor/daemon/lifecycle.h"

#include <spdlog/spdlog.h>

#include "supervisor/logging.h"

namespace clusterd::daemon {

namespace {

const char* notice_kind(core::Notice::Kind kind) {
  switch (kind) {
    case core::Notice::Kind::StopTimeout:
      return "stop-timeout";
    case core::Notice::Kind::WatchdogExpired:
      return "watchdog";
    case core::Notice::Kind::ReadyTimeout:
      return "ready-timeout";
    case core::Notice::Kind::Replacing:
      return "replacing";
    case core::Notice::Kind::RolloutStarted:
      return "rollout-started";
    case core::Notice::Kind::RolloutProgress:
      return "rollout-progress";
    case core::Notice::Kind::RolloutFailed:
      return "rollback";
    case core::Notice::Kind::RolloutDone:
      return "rollout-done";
    case core::Notice::Kind::Scaled:
      return "scaled";
  }
  return "notice";
}

}  // namespace

control::EventRecord LifecycleLog::event_for(core::LaneId id, std::string kind,
                                             std::string reason) const {
  const core::AppState& app = supervisor_.apps()[id.app];
  control::EventRecord e;
  e.kind = std::move(kind);
  e.app = app.spec.name;
  e.reason = std::move(reason);
  if (id.index < app.slots.size()) {
    e.worker = static_cast<int>(id.index);
    e.generation = supervisor_.lane(id).generation();
    e.pid = supervisor_.lane(id).pid();
  } else {
    e.generation = app.generation;
  }
  return e;
}

void LifecycleLog::transition(core::LaneId id, const core::Transition& t) {
  // The transition's own generation: the lane may already be the next one's (a failed rollout's
  // new worker ends in the same step that hands its slot back to the old generation).
  const std::string line = fmt::format("{}: {} -> {}: {}", label(id, t.generation),
                                       core::to_string(t.from), core::to_string(t.to), t.reason);
  const char* kind = nullptr;
  EventLog::Level level = EventLog::Level::Info;
  switch (t.to) {
    case core::LaneState::Starting:  // the event is "spawned", once there is a pid
      start_reasons_[id] = t.reason;
      break;
    case core::LaneState::Running:
      kind = "ready";
      break;
    case core::LaneState::Stopping:
      kind = "stopping";
      break;
    case core::LaneState::Backoff:
      kind = "backoff";
      level = EventLog::Level::Warning;
      break;
    case core::LaneState::Failed:
      kind = "failed";
      level = EventLog::Level::Error;
      break;
    case core::LaneState::Idle:
      kind = "stopped";
      break;
  }
  if (kind == nullptr) {
    const control::EventRecord e = event_for(id, "", "");
    const LogFields fields{e.app, e.worker, e.generation, e.pid, {}};
    const LogScope scope(fields);
    spdlog::info("{}", line);
    return;
  }
  control::EventRecord e = event_for(id, kind, t.reason);
  e.worker = static_cast<int>(id.index);  // the slot may be gone already: scaled away
  e.generation = t.generation;
  events_.record(std::move(e), level, line);
}

void LifecycleLog::notice(core::LaneId id, const core::Notice& n) {
  const bool app_wide = n.kind >= core::Notice::Kind::RolloutStarted;
  const bool bad =
      n.kind == core::Notice::Kind::StopTimeout || n.kind == core::Notice::Kind::WatchdogExpired ||
      n.kind == core::Notice::Kind::ReadyTimeout || n.kind == core::Notice::Kind::RolloutFailed;
  const core::AppState& app = supervisor_.apps()[id.app];
  if (n.kind == core::Notice::Kind::RolloutDone) {
    ++counters_
          .rollouts[{app.spec.name, app.last_rollout && app.last_rollout->ok ? "ok" : "failed"}];
  }
  control::EventRecord e = event_for(id, notice_kind(n.kind), n.message);
  if (app_wide) {
    e.worker = -1;
    e.pid = 0;
    e.generation = app.generation;
  }
  const std::string line = fmt::format("{}: {}", app_wide ? app.spec.name : label(id), n.message);
  events_.record(std::move(e), bad ? EventLog::Level::Warning : EventLog::Level::Info, line);
}

void LifecycleLog::spawned(core::LaneId id, int pid, int cpu) {
  control::EventRecord e = event_for(id, "spawned", "");
  e.pid = pid;
  const auto reason = start_reasons_.find(id);
  if (reason != start_reasons_.end()) {
    e.reason = reason->second;
    start_reasons_.erase(reason);
  }
  events_.record(std::move(e), EventLog::Level::Info,
                 fmt::format("{}: spawned pid {}{}", label(id), pid,
                             cpu >= 0 ? fmt::format(" on cpu {}", cpu) : ""));
}

void LifecycleLog::exited(core::LaneId id, const core::ExitStatus& status) {
  if (status.kind == core::ExitStatus::Kind::SpawnFailed) {
    spawn_failed(id, status.detail, status.blame);
    return;
  }
  const int pid = supervisor_.lane(id).pid();
  control::EventRecord e = event_for(id, "exited", status.to_string());
  e.last_words = status.last_words;
  events_.record(std::move(e), EventLog::Level::Info,
                 fmt::format("{}: pid {} exited ({}){}", label(id), pid, status.to_string(),
                             status.last_words.empty() ? "" : ": " + status.last_words));
}

void LifecycleLog::spawn_failed(core::LaneId id, const std::string& what,
                                core::ExitStatus::Blame blame) {
  start_reasons_.erase(id);
  events_.record(
      event_for(id, "spawn-failed", what), EventLog::Level::Error,
      fmt::format("{}: cannot start {}: {}{}", label(id), supervisor_.spec(id).command[0], what,
                  blame == core::ExitStatus::Blame::Resources
                      ? " (out of a resource: retrying with backoff)"
                      : ""));
}

std::string LifecycleLog::label(core::LaneId id, std::optional<unsigned> generation) const {
  const core::AppState& app = supervisor_.apps()[id.app];
  if (!generation && id.index < app.slots.size()) generation = supervisor_.lane(id).generation();
  if (!generation) return fmt::format("{}[{}]", app.spec.name, id.index);  // the slot is gone
  return fmt::format("{}[{}] gen {}", app.spec.name, id.index, *generation);
}

}  // namespace clusterd::daemon
