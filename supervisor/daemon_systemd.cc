// What clusterd tells systemd, and what it takes from it.
//
//  - Type=notify: READY=1 once every slot's first worker is ready or has failed; a one-line
//    STATUS= ("web 4/4 ready, api 2/2 ready", "reloading web 2/4") kept current; RELOADING=1
//    with MONOTONIC_USEC= when a reload starts and READY=1 when it is over; STOPPING=1.
//  - WatchdogSec=: WATCHDOG=1 at half the interval, from a timer of the one event loop, so a
//    wedged loop stops the pings and systemd kills the master.
//  - Socket activation: sockets from .socket units are matched to listeners by
//    FileDescriptorName= (never by position: systemd does not keep Sockets= order).
//  - The fd store (clusterd --fd-store): every listening socket is handed to systemd as
//    "<listener>/<slot>"; after a crash of the master systemd passes them back, and connections
//    that queued meanwhile are served by the new workers instead of being refused.
// All of it is a no-op when NOTIFY_SOCKET is unset.
#include <spdlog/spdlog.h>

#include "supervisor/daemon_impl.h"
#include "supervisor/os/listeners.h"
#include "systemd/notify.h"
#include "systemd/socket_activation.h"

namespace clusterd {

void Daemon::Impl::adopt_passed_fds() {
  for (sd::PassedFd& passed : sd::take_passed_fds()) {
    spdlog::info("systemd passed a socket named '{}' (fd {})", passed.name, passed.fd);
    passed_.emplace(passed.name, os::UniqueFd(passed.fd));
  }
}

os::UniqueFd Daemon::Impl::take_passed(const config::ListenerSpec& spec, unsigned slot) {
  auto claim = [&](const std::string& name) -> os::UniqueFd {
    auto it = passed_.find(name);
    if (it == passed_.end()) return {};
    os::UniqueFd fd = std::move(it->second);
    passed_.erase(it);
    return fd;
  };
  // From the fd store: ours from before a restart. If the config has moved the listener since,
  // the stored socket is stale: drop it (and bind anew) rather than refuse to start.
  const std::string stored_name = spec.name + "/" + std::to_string(slot);
  if (os::UniqueFd stored = claim(stored_name)) {
    const std::string mismatch = os::socket_mismatch(stored.get(), spec.address);
    if (mismatch.empty()) {
      spdlog::info("listener {} slot {}: took the socket back from the fd store", spec.name, slot);
      if (slot == 0) claim(spec.name);  // a .socket unit's copy of the same socket, if any
      return stored;
    }
    spdlog::warn("listener {}: the fd store's '{}' is {}, the config says {}; dropping it",
                 spec.name, stored_name, mismatch, spec.address.text);
    sd::remove_stored_fd(stored_name);
  }
  if (slot != 0) return {};
  // From a .socket unit (FileDescriptorName=): a mismatch is a configuration error.
  os::UniqueFd unit = claim(spec.name);
  if (!unit) return {};
  const std::string mismatch = os::socket_mismatch(unit.get(), spec.address);
  if (!mismatch.empty()) {
    throw std::runtime_error("listener " + spec.name + ": the socket systemd passed as '" +
                             spec.name + "' is " + mismatch + ", but the config says " +
                             spec.address.text);
  }
  spdlog::info("listener {} slot 0: using the socket systemd passed as '{}'", spec.name, spec.name);
  return unit;
}

void Daemon::Impl::close_unclaimed_passed() {
  for (auto& [name, fd] : passed_) {
    spdlog::error("systemd passed a socket named '{}' that matches no listener; closing it", name);
    if (name.find('/') != std::string::npos) sd::remove_stored_fd(name);
  }
  passed_.clear();
}

void Daemon::Impl::start_systemd_watchdog() {
  const std::optional<std::chrono::microseconds> interval = sd::watchdog_interval();
  if (!interval) return;
  sd_watchdog_interval_ = *interval / 2;
  spdlog::info("systemd watchdog: pinging every {} ms", sd_watchdog_interval_.count() / 1000);
  sd_watchdog_ = std::make_unique<asio::steady_timer>(io_);
  struct Pinger {
    Impl* self;
    void operator()(const std::error_code& ec) const {
      if (ec || !self->sd_watchdog_) return;
      sd::notify("WATCHDOG=1");
      self->sd_watchdog_->expires_after(self->sd_watchdog_interval_);
      self->sd_watchdog_->async_wait(*this);
    }
  };
  sd::notify("WATCHDOG=1");
  sd_watchdog_->expires_after(sd_watchdog_interval_);
  sd_watchdog_->async_wait(Pinger{this});
}

std::string Daemon::Impl::status_line() const {
  std::string line;
  for (const core::AppState& app : supervisor_.apps()) {
    if (app.removed) continue;
    unsigned ready = 0;
    unsigned failed = 0;
    for (unsigned i = 0; i < app.slots.size() && i < app.instances; ++i) {
      ready += app.slots[i].current().state() == core::SlotState::Running ? 1 : 0;
      failed += app.slots[i].current().state() == core::SlotState::Failed ? 1 : 0;
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

void Daemon::Impl::tell_systemd() {
  if (store_dirty_) sync_fd_store();
  if (!sd::notify_enabled() || supervisor_.stopping()) return;
  std::string message;
  if (!announced_ready_) {
    bool settled = true;  // every wanted slot's first worker is ready, or has failed
    for (const core::AppState& app : supervisor_.apps()) {
      for (unsigned i = 0; i < app.slots.size() && i < app.instances; ++i) {
        const core::WorkerSlot& w = app.slots[i].current();
        settled = settled && (!w.wanted() || w.state() == core::SlotState::Running ||
                              w.state() == core::SlotState::Failed);
      }
    }
    if (settled) {
      announced_ready_ = true;
      message = "READY=1\n";
    }
  } else if (reloading_ && !supervisor_.rolling()) {
    reloading_ = false;
    message = "READY=1\n";
  }
  const std::string status = status_line();
  if (!message.empty() || status != last_status_) {
    last_status_ = status;
    sd::notify(message + "STATUS=" + status);
  }
}

void Daemon::Impl::sync_fd_store() {
  store_dirty_ = false;
  if (!fd_store_ || !sd::notify_enabled()) return;
  // The store mirrors the sockets of each app's target generation.
  std::map<std::string, int> wanted;
  for (std::size_t a = 0; a < apps_.size(); ++a) {
    const core::AppState& state = supervisor_.apps()[a];
    if (state.removed) continue;
    const auto gen = apps_[a].generations.find(state.generation);
    if (gen == apps_[a].generations.end()) continue;
    for (const std::shared_ptr<Listener>& listener : gen->second.listeners) {
      for (std::size_t i = 0; i < listener->fds.size(); ++i) {
        if (listener->fds[i]) {
          wanted[listener->spec.name + "/" + std::to_string(i)] = listener->fds[i].get();
        }
      }
    }
  }
  for (const auto& [name, fd] : stored_) {
    const auto it = wanted.find(name);
    if (it == wanted.end() || it->second != fd) sd::remove_stored_fd(name);
  }
  for (const auto& [name, fd] : wanted) {
    const auto it = stored_.find(name);
    if (it != stored_.end() && it->second == fd) continue;
    if (!sd::store_fd(fd, name)) spdlog::warn("fd store: could not store {}", name);
  }
  stored_ = std::move(wanted);
}

}  // namespace clusterd
