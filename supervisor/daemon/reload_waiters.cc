#include "supervisor/daemon/reload_waiters.h"

#include "supervisor/control/protocol.h"

namespace clusterd::daemon {

void ReloadWaiters::add(control::ReplyPtr reply, std::vector<std::string> apps,
                        std::string summary) {
  waiting_.push_back(Waiter{std::move(reply), std::move(apps), std::move(summary), {}});
}

std::pair<bool, std::string> ReloadWaiters::outcome(const core::Supervisor& supervisor,
                                                    const std::vector<std::string>& apps,
                                                    std::string summary) {
  bool ok = true;
  for (const std::string& name : apps) {
    const std::optional<std::size_t> index = supervisor.find_app(name);
    if (!index) continue;
    const core::AppState& state = supervisor.apps()[*index];
    if (state.last_rollout) {
      summary += "; " + state.last_rollout->message;
      ok = ok && state.last_rollout->ok;
    }
  }
  if (supervisor.stopping()) {
    summary += "; abandoned: clusterd is stopping";
    ok = false;
  }
  return {ok, summary};
}

void ReloadWaiters::report(const core::Supervisor& supervisor) {
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    bool running = false;
    for (const std::string& name : it->apps) {
      const std::optional<std::size_t> index = supervisor.find_app(name);
      if (!index || !supervisor.apps()[*index].rollout) continue;
      running = true;
      const core::Rollout& r = *supervisor.apps()[*index].rollout;
      const std::string line = name + ": " + (r.rollback() ? "rolling back, " : "") +
                               std::to_string(r.moved.size()) + "/" + std::to_string(r.total) +
                               " slots at generation " + std::to_string(r.to);
      if (it->progress[name] != line) {
        it->progress[name] = line;
        it->reply->send(control::encode_progress(line));
      }
    }
    if (!it->reply->open()) {
      it = waiting_.erase(it);
      continue;
    }
    if (running && !supervisor.stopping()) {
      ++it;
      continue;
    }
    const auto [ok, text] = outcome(supervisor, it->apps, it->summary);
    it->reply->finish(ok ? control::encode_done(text) : control::encode_error(text));
    it = waiting_.erase(it);
  }
}

}  // namespace clusterd::daemon
