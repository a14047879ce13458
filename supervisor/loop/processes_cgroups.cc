// The real host's cgroups (docs/cgroups.md): where they go (core/cgroup_choice.h decides), each
// worker's own cgroup with its limits, memory.high events, and the cleanup when a tree empties or
// the master stops.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include "supervisor/core/cgroup_choice.h"
#include "supervisor/loop/guard.h"
#include "supervisor/loop/processes.h"

namespace clusterd::loop {

using daemon::WorkerHandle;

void Processes::choose_cgroups(const std::string& setting) {
  core::CgroupFacts facts;
  facts.setting = setting;
  facts.mount = os::cgroup_v2_mount();
  facts.own = os::own_cgroup();
  if (!facts.mount.empty()) {
    const std::string own_path = facts.own == "/" ? facts.mount : facts.mount + facts.own;
    facts.own_writable = os::writable_dir(own_path);
    facts.delegated = os::delegated(own_path);
    facts.own_namespace = os::in_own_cgroup_namespace();
  }
  core::CgroupChoice choice = core::choose_cgroups(facts);
  if (choice.kind == core::CgroupChoice::Kind::PerWorker) {
    try {
      os::prepare_cgroup_tree({choice.root, choice.reason, choice.own});
      cgroup_tree_ = os::CgroupTree{choice.root, choice.reason, choice.own};
    } catch (const std::exception& e) {
      facts.unusable = e.what();
      choice = core::choose_cgroups(facts);
    }
  }
  cgroup_mode_ = choice.text(setting);
  if (choice.kind == core::CgroupChoice::Kind::Refuse) throw std::runtime_error(cgroup_mode_);
  spdlog::info("{}", cgroup_mode_);
}

std::shared_ptr<os::Cgroup> Processes::make_cgroup(const std::string& name) {
  if (!cgroup_tree_ || name.empty()) return nullptr;
  try {
    return std::make_shared<os::Cgroup>(cgroup_tree_->root + "/workers/" + name + "/" +
                                        std::to_string(next_cgroup_++));
  } catch (const std::system_error& e) {
    throw daemon::SpawnFailure(e.what(), blame_of(e.code().value()));
  }
}

// An app's memory_max, cpu_weight and pids_max go into each worker's cgroup before it starts. One
// that cannot be applied (no cgroup, a controller not available to clusterd's cgroup) is said
// once in the log, and the worker starts without it: the limit is a guard, the worker the job.
// max_memory becomes memory.high where the memory controller is there: the kernel says when the
// tree goes over it; without it, the daemon samples RSS (said once, at info: nothing is lost).
bool Processes::apply_limits(const daemon::SpawnRequest& request, const os::Cgroup* cgroup) {
  const bool high = request.memory_high != 0 && cgroup != nullptr;
  if (!request.limits.any() && !high) return false;
  std::vector<std::string> problems;
  if (cgroup == nullptr) {
    problems.push_back("memory_max, cpu_weight and pids_max not applied: " + cgroup_mode_);
  } else {
    problems =
        os::apply_limits(cgroup_tree_->root, cgroup->path(), request.limits,
                         high ? std::optional<std::uint64_t>(request.memory_high) : std::nullopt);
  }
  bool high_set = high;
  for (const std::string& problem : problems) {
    const std::string app = request.cgroup.substr(0, request.cgroup.find('/'));
    const std::string key = app + ": " + problem.substr(0, problem.find(' '));
    const bool sampling = problem.rfind("max_memory ", 0) == 0;
    high_set = high_set && !sampling;
    if (!warned_limits_.insert(key).second) continue;
    if (sampling) {
      spdlog::info("{}: max_memory is sampled every memory_check_interval: {}", app, problem);
    } else {
      spdlog::warn("{}: {}", app, problem);
    }
  }
  return high_set;
}

void Processes::start_memory_watch(WorkerHandle handle, const std::string& cgroup) {
  Worker& worker = workers_.at(handle);
  os::UniqueFd events(open((cgroup + "/memory.events").c_str(), O_RDONLY | O_CLOEXEC));
  const std::optional<os::MemoryEvents> first =
      events ? os::read_memory_events(events.get()) : std::nullopt;
  if (!first) return;  // then the daemon samples it
  worker.high_seen = first->high;
  worker.memory_events = std::make_shared<asio::posix::stream_descriptor>(io_, events.release());
  watch_memory(handle);
}

void Processes::watch_memory(WorkerHandle handle) {
  const auto it = workers_.find(handle);
  if (it == workers_.end() || !it->second.memory_events) return;
  const std::shared_ptr<asio::posix::stream_descriptor> watch = it->second.memory_events;
  watch->async_wait(asio::posix::stream_descriptor::wait_error, [this, handle,
                                                                 watch](const std::error_code& ec) {
    if (ec) return;
    const auto w = workers_.find(handle);
    if (w == workers_.end() || w->second.memory_events != watch) return;
    const std::optional<os::MemoryEvents> now = os::read_memory_events(watch->native_handle());
    if (now && now->high > w->second.high_seen) {
      w->second.high_seen = now->high;
      const auto tree = trees_.find(w->second.pid);  // the worker's cgroup, while it lives
      const std::uint64_t kb =
          tree == trees_.end() ? 0
                               : os::read_memory_current(tree->second->path()).value_or(0) / 1024;
      guard("memory.high", [&] { events_->on_memory_high(handle, kb); });
    }
    watch_memory(handle);
  });
}

int Processes::cgroup_dir(pid_t pid) const {
  const auto it = trees_.find(pid);
  return it == trees_.end() ? -1 : it->second->dir_fd();
}

// Removes a worker's cgroup once nothing is left in it: cgroup.events says when.
void Processes::watch_tree(pid_t pid, const std::shared_ptr<os::Cgroup>& tree) {
  if (!tree->populated()) {
    tree->remove();
    trees_.erase(pid);
    return;
  }
  auto changes = std::make_shared<asio::posix::stream_descriptor>(
      io_, fcntl(tree->events_fd(), F_DUPFD_CLOEXEC, 0));
  changes->async_wait(asio::posix::stream_descriptor::wait_error,
                      [this, pid, tree, changes](const std::error_code& ec) {
                        if (ec) return;
                        const auto it = trees_.find(pid);
                        if (it == trees_.end() || it->second != tree) return;
                        watch_tree(pid, tree);
                      });
}

// A clean stop leaves nothing behind: every worker cgroup is killed and waited for (bounded),
// and without cgroups every process adopted as subreaper is killed and reaped.
void Processes::end_leftovers() {
  for (auto& [pid, tree] : trees_) tree->kill();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::vector<pollfd> fds;
  for (auto& [pid, tree] : trees_) fds.push_back({tree->events_fd(), POLLPRI, 0});
  while (std::chrono::steady_clock::now() < deadline) {
    bool left = false;
    for (auto& [pid, tree] : trees_) left = left || tree->populated();
    while (os::reap_one()) {
    }
    if (!left) break;
    poll(fds.data(), fds.size(), 100);
  }
  for (auto& [pid, tree] : trees_) tree->remove();
  trees_.clear();
  os::kill_adopted(SIGKILL);
  while (os::reap_one()) {
  }
}

}  // namespace clusterd::loop
