// The real host's side of a live upgrade (docs/upgrade.md): what it hands over for each worker,
// and how the new master takes the workers back before its loop runs.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <stdexcept>

#include "supervisor/loop/processes.h"
#include "supervisor/os/adopt.h"
#include "supervisor/os/upgrade.h"

namespace clusterd::loop {

using daemon::WorkerHandle;

std::optional<std::string> Processes::upgrade_blocker() const {
  for (const auto& [handle, worker] : workers_) {
    if (!os::spawn_report(worker.memory).finished) {
      return "worker pid " + std::to_string(worker.pid) + " is between fork and exec";
    }
    if (worker.adopt_pending) {
      return "worker pid " + std::to_string(worker.pid) + "'s adoption filter is not taken yet";
    }
  }
  return std::nullopt;
}

daemon::HandedWorker Processes::hand_over(WorkerHandle handle) const {
  const Worker& worker = workers_.at(handle);
  daemon::HandedWorker out;
  out.pid = worker.pid;
  out.notify_fd = worker.notify.get();
  out.notify_path = worker.notify_path;
  std::tie(out.out_fd, out.err_fd) = output_.fds_of(handle);
  if (const auto tree = trees_.find(worker.pid); tree != trees_.end()) {
    out.cgroup_path = tree->second->path();
  }
  out.memory_events = worker.memory_events != nullptr;
  out.adopt_fd = adoption_.fd_of(handle);
  return out;
}

// Everything is checked before anything is kept: a worker that cannot be followed throws, and the
// take-over fails as a whole (the previous binary takes the state back).
WorkerHandle Processes::adopt(const daemon::HandedWorker& handed) {
  os::UniqueFd pidfd(os::open_pidfd(handed.pid));
  if (!pidfd) {
    throw std::system_error(errno, std::system_category(),
                            "pidfd of worker pid " + std::to_string(handed.pid));
  }
  // Taking its own state back, the previous binary keeps the worker, without what failed.
  const auto refuse = [&](const std::string& why) {
    const std::string what = "worker pid " + std::to_string(handed.pid) + ": " + why;
    if (!taking_back_) throw std::runtime_error(what);
    spdlog::error("upgrade: taking the state back: {}; the worker is kept without it", what);
  };
  if (handed.notify_fd < 0 || handed.notify_path.rfind(notify_dir_.path() + "/", 0) != 0) {
    refuse("its notify socket is not in the notify directory");
  }
  int adopt_fd = handed.adopt_fd;
  if (adopt_fd >= 0 && !os::is_filter_listener(adopt_fd)) {
    refuse("fd " + std::to_string(adopt_fd) + " is not a seccomp filter's listener");
    adopt_fd = -1;
  }
  std::shared_ptr<os::Cgroup> cgroup;
  if (!handed.cgroup_path.empty()) {
    if (!cgroup_tree_ || handed.cgroup_path.rfind(cgroup_tree_->root + "/workers/", 0) != 0) {
      refuse("its cgroup is not under this master's");
    } else {
      cgroup = std::make_shared<os::Cgroup>(handed.cgroup_path);
    }
  }
  const WorkerHandle handle = next_handle_++;
  Worker& worker = workers_[handle];
  worker.pid = handed.pid;
  worker.pidfd = std::move(pidfd);
  worker.notify_path = handed.notify_path;
  worker.notify.reset(handed.notify_fd);
  by_pid_[handed.pid] = handle;
  if (cgroup) trees_[handed.pid] = cgroup;
  watch_notify(handle);
  OutputPipes::Pipes pipes;
  pipes.out_read.reset(handed.out_fd);
  pipes.err_read.reset(handed.err_fd);
  const bool capture = handed.out_fd >= 0 || handed.err_fd >= 0;
  output_.watch(handle, pipes);
  if (handed.memory_events && cgroup) start_memory_watch(handle, cgroup->path());
  // Its binds and listens come to this master now; a call it made during the exec waited in the
  // kernel for an answer, and gets it here.
  if (adopt_fd >= 0) adoption_.watch(handle, os::UniqueFd(adopt_fd));
  // The previous master's spare went with its exec: the first respawn finds one here too (made
  // for the master's uid; a worker of another user's makes its own).
  spare_.want(self_uid_, capture);
  return handle;
}

}  // namespace clusterd::loop
