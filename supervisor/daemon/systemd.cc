#include "supervisor/daemon/systemd.h"

#include <spdlog/spdlog.h>

namespace clusterd::daemon {

void SystemdBridge::reloading(const std::string& config_path) {
  const auto usec =
      std::chrono::duration_cast<std::chrono::microseconds>(clock_.now().time_since_epoch());
  link_.sd_notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec.count()) +
                  "\nSTATUS=reloading " + config_path);
  report_.reloading();
}

void SystemdBridge::stopping() {
  link_.sd_notify("STOPPING=1\nSTATUS=stopping: draining every worker");
}

void SystemdBridge::update(const core::Supervisor& supervisor,
                           const std::vector<const Generation*>& generations) {
  if (store_dirty_) sync_fd_store(generations);
  if (!link_.sd_enabled()) return;
  if (std::optional<std::string> message = report_.update(supervisor)) link_.sd_notify(*message);
}

// The store mirrors the sockets of each app's target generation, as "<listener>/<slot>".
void SystemdBridge::sync_fd_store(const std::vector<const Generation*>& generations) {
  store_dirty_ = false;
  if (!fd_store_ || !link_.sd_enabled()) return;
  std::map<std::string, int> wanted;
  for (const Generation* gen : generations) Listeners::store_names(*gen, wanted);
  for (const auto& [name, fd] : stored_) {
    const auto it = wanted.find(name);
    if (it == wanted.end() || it->second != fd) link_.sd_remove_fd(name);
  }
  for (const auto& [name, fd] : wanted) {
    const auto it = stored_.find(name);
    if (it != stored_.end() && it->second == fd) continue;
    if (!link_.sd_store_fd(fd, name)) spdlog::warn("fd store: could not store {}", name);
  }
  stored_ = std::move(wanted);
}

}  // namespace clusterd::daemon
