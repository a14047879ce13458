#include "supervisor/core/readiness.h"

namespace clusterd::core {

bool settled(const Supervisor& supervisor) {
  for (const AppState& app : supervisor.apps()) {
    for (unsigned i = 0; i < app.slots.size() && i < app.instances; ++i) {
      const Lane& lane = app.slots[i].current();
      if (lane.wanted() && lane.state() != LaneState::Running &&
          lane.state() != LaneState::Failed) {
        return false;
      }
    }
  }
  return true;
}

std::string status_line(const Supervisor& supervisor) {
  std::string line;
  for (const AppState& app : supervisor.apps()) {
    if (app.removed) continue;
    unsigned ready = 0;
    unsigned failed = 0;
    for (unsigned i = 0; i < app.slots.size() && i < app.instances; ++i) {
      ready += app.slots[i].current().state() == LaneState::Running ? 1 : 0;
      failed += app.slots[i].current().state() == LaneState::Failed ? 1 : 0;
    }
    if (!line.empty()) line += ", ";
    if (app.rollout) {
      line += "reloading " + app.spec.name + " " + std::to_string(app.rollout->moved.size()) + "/" +
              std::to_string(app.rollout->total);
    } else {
      line += app.spec.name + " " + std::to_string(ready) + "/" + std::to_string(app.instances) +
              " ready";
    }
    if (failed > 0) line += " (" + std::to_string(failed) + " failed)";
  }
  return line.empty() ? "no apps" : line;
}

std::optional<std::string> SystemdReport::update(const Supervisor& supervisor) {
  if (supervisor.stopping()) return std::nullopt;
  std::string message;
  if (!announced_) {
    if (settled(supervisor)) {
      announced_ = true;
      message = "READY=1\n";
    }
  } else if (reloading_ && !supervisor.rolling()) {
    reloading_ = false;
    message = "READY=1\n";
  }
  const std::string status = status_line(supervisor);
  if (message.empty() && status == last_status_) return std::nullopt;
  last_status_ = status;
  return message + "STATUS=" + status;
}

}  // namespace clusterd::core
