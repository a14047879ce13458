#include "supervisor/loop/processes.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "supervisor/control/socket_dir.h"
#include "supervisor/core/cgroup_choice.h"
#include "supervisor/loop/asio_host.h"
#include "supervisor/loop/guard.h"
#include "supervisor/os/spawn_slots.h"
#include "supervisor/os/upgrade.h"

namespace clusterd::loop {

using daemon::WorkerHandle;

core::ExitStatus::Blame blame_of(int error) {
  return os::transient_error(error) ? core::ExitStatus::Blame::Resources
                                    : core::ExitStatus::Blame::Master;
}

namespace {

// Where the workers' notify sockets go (a directory of their own with a random name, owned by
// the master). Every spawn binds a socket there and every exit removes one, so a memory
// filesystem is preferred: on a disk one each bind writes an inode (ext4 without a journal even
// skips every recently freed inode: 1.6 ms per bind at 1,024 workers). In order: the runtime
// directory when it is tmpfs (as /run is) and others may pass through it (workers of other
// users reach their socket there); /dev/shm when it is tmpfs (sticky and world-writable like
// /tmp, so others cannot replace our directory); the runtime directory when passable; $TMPDIR
// or /tmp.
bool in_memory(const char* dir) {
  struct statfs fs {};
  return statfs(dir, &fs) == 0 && (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC);
}

std::string notify_parent(const std::string& runtime_dir) {
  control::prepare_socket_dir(runtime_dir);
  struct stat st {};
  const bool passable = stat(runtime_dir.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) != 0;
  if (passable && in_memory(runtime_dir.c_str())) return runtime_dir;
  if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0 &&
      st.st_uid == 0 && in_memory("/dev/shm")) {
    return "/dev/shm";
  }
  if (passable) return runtime_dir;
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp";
}

core::ExitStatus exit_status_of(int status) {
  if (WIFSIGNALED(status)) return core::ExitStatus::signaled(WTERMSIG(status));
  return core::ExitStatus::exited(WEXITSTATUS(status));
}

}  // namespace

Processes::Processes(asio::io_context& io, const std::string& runtime_dir,
                     const std::string& cgroups, const TakenOver* taken)
    : output_(io),
      adoption_(io),
      ready_(io),
      notify_set_(io),
      io_(io),
      sweep_(io_),
      slots_io_(io_),
      devnull_(open("/dev/null", O_RDONLY | O_CLOEXEC)),
      notify_dir_(taken != nullptr ? os::NotifyDir(os::NotifyDir::Existing{}, taken->notify_dir)
                                   : os::NotifyDir(notify_parent(runtime_dir))),
      spare_(io, notify_dir_),
      self_uid_(geteuid()) {
  taking_back_ = taken != nullptr && taken->taking_back;
  if (taken == nullptr) {
    choose_cgroups(cgroups);
  } else if (!taken->cgroup_root.empty()) {
    cgroup_tree_ = os::CgroupTree{taken->cgroup_root, "taken over", false};
    cgroup_mode_ = taken->cgroup_mode;
    // Numbered above the previous master's: a new worker never joins an old one's cgroup.
    next_cgroup_ = os::highest_worker_cgroup(taken->cgroup_root) + 1;
  } else {
    cgroup_mode_ = taken->cgroup_mode;
  }
  log_notify_checks();
}

// Said once: how a notify datagram is told to be a worker's (docs/reliability.md).
void Processes::log_notify_checks() const {
  if (!os::notify_pidfds_supported()) {
    spdlog::warn(
        "notify: this kernel does not say which process sent a datagram (SO_PASSPIDFD needs "
        "Linux 6.5): a datagram on a worker's socket counts on its sender's uid alone");
  } else if (cgroup_tree_) {
    spdlog::info("notify: a sender counts when it is in the worker's cgroup");
  } else {
    spdlog::info(
        "notify: a sender counts when it is the worker, or still there when read and in the "
        "worker's session or below it (no per-worker cgroups)");
  }
}

void Processes::start(daemon::HostEvents& events) {
  events_ = &events;
  output_.start(events);
  adoption_.start(events);
  ready_.start(events);
  notify_set_.start([this](std::uint64_t handle) { drain_notify(handle, false); });
  if (const int wake = os::SpawnSlots::wake_fd(); wake >= 0) {
    const int fd = fcntl(wake, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      spdlog::warn("cannot watch the spawn slots; each is swept at the next spawn instead");
      return;
    }
    slots_io_.assign(fd);
    watch_slots();
  }
}

// Reaps every exited child: workers (their last notify datagrams and spawn report first), and
// orphans handed to us as subreaper.
void Processes::reap() {
  while (std::optional<os::Reaped> reaped = os::reap_one()) {
    const auto found = by_pid_.find(reaped->pid);
    if (found == by_pid_.end()) {
      spdlog::debug("reaped pid {} (not a worker: an orphan handed to us as subreaper)",
                    reaped->pid);
      continue;
    }
    const WorkerHandle handle = found->second;
    by_pid_.erase(found);
    drain_notify(handle, true);  // messages sent just before the exit still count (STATUS=)
    output_.drain(handle);       // and its last words come before its exit
    const auto it = workers_.find(handle);
    if (it == workers_.end()) continue;
    // Reaped: it has let go of its memory; its error is there, and a listener it made before it
    // exited (closed once read).
    collect_report(handle, it->second);
    core::ExitStatus status = exit_status_of(reaped->status);
    if (it->second.error) {
      status = core::ExitStatus::spawn_failed(it->second.error->what(),
                                              os::transient_error(it->second.error->error())
                                                  ? core::ExitStatus::Blame::Resources
                                                  : core::ExitStatus::Blame::Program);
    }
    Worker gone = std::move(it->second);
    workers_.erase(it);
    guard("worker exit", [&] { events_->on_exit(handle, status); });
    // Its socket and the socket's file only now: the replacement started in on_exit() does not
    // wait for them.
    if (gone.notify) notify_set_.remove(gone.notify.get());
    gone.notify.reset();
    if (gone.memory_events) gone.memory_events->close();
    if (!gone.notify_path.empty()) unlink(gone.notify_path.c_str());
    // What the worker left behind is killed by now (the daemon's SIGKILL to its tree): its
    // cgroup goes once empty.
    if (const auto tree = trees_.find(reaped->pid); tree != trees_.end()) {
      watch_tree(reaped->pid, tree->second);
    }
  }
}

void Processes::watch_notify(WorkerHandle handle) {
  const auto it = workers_.find(handle);
  if (it != workers_.end() && it->second.notify)
    notify_set_.add(it->second.notify.get(), handle, EPOLLIN);
}

// `reaped`: the worker's pid may be anyone's by now, so a datagram from that pid is not taken for
// the worker's by its number; before, it is the worker's own (an unreaped pid is not reused).
void Processes::drain_notify(WorkerHandle handle, bool reaped) {
  for (int i = 0; i < 64; ++i) {  // bounded: a chatty worker cannot starve the loop
    const auto it = workers_.find(handle);
    if (it == workers_.end() || !it->second.notify) return;
    std::optional<os::NotifyDatagram> datagram;
    try {
      datagram = os::read_notify(it->second.notify.get(),
                                 {it->second.pid, reaped, it->second.pidfd.get()});
    } catch (const std::exception& e) {
      spdlog::warn("notify socket of pid {}: {}", it->second.pid, e.what());
      return;
    }
    if (!datagram) return;
    const daemon::NotifyDatagram message{std::move(datagram->text), std::move(datagram->sender),
                                         reaped};
    guard("notify", [&] { events_->on_notify(handle, message); });
  }
}

namespace {

struct ReadyPipe {
  os::UniqueFd read, write;
};

// ready: fd: a pipe whose write end the worker gets after its sockets.
ReadyPipe ready_pipe() {
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) != 0) {
    throw daemon::SpawnFailure(std::string("ready pipe: ") + std::strerror(errno), blame_of(errno));
  }
  return {os::UniqueFd(ends[0]), os::UniqueFd(ends[1])};
}

}  // namespace

daemon::StartedWorker Processes::spawn(const daemon::SpawnRequest& request) {
  sweep_started();
  const unsigned uid = request.ids ? request.ids->uid : self_uid_;
  SpawnResources made;
  try {
    made = spare_.take(uid, request.capture_output);
  } catch (const std::system_error& e) {
    throw daemon::SpawnFailure(e.what(), blame_of(e.code().value()));
  }
  const os::NotifySocket& notify = made.notify;
  OutputPipes::Pipes& pipes = made.pipes;
  const std::shared_ptr<os::Cgroup> cgroup = make_cgroup(request.cgroup);
  const bool memory_high = apply_limits(request, cgroup.get());
  os::SpawnSpec spec;
  spec.path = request.path;
  spec.argv = request.argv;
  const std::string notify_entry = "NOTIFY_SOCKET=" + notify.path;
  spec.env.reserve(request.env.size() + 1);
  spec.env.assign(request.env.begin(), request.env.end());  // views: no copy of every string
  spec.env.push_back(notify_entry);
  spec.fds = request.fds;
  // The child's copy of the ready pipe's write end is made at the clone: ours closes at return.
  auto [ready_read, ready_write] = request.ready_pipe ? ready_pipe() : ReadyPipe{};
  if (ready_write) spec.fds.push_back(ready_write.get());
  spec.cwd = request.cwd;
  spec.ids = request.ids;
  if (request.nofile) {
    spec.nofile_soft = request.nofile->soft;
    spec.nofile_hard = request.nofile->hard;
  }
  spec.umask = request.umask;
  spec.cpu = request.cpu;
  spec.stdin_fd = devnull_.get();
  spec.stdout_fd = pipes.out_write.get();  // -1 without capture: the master's own
  spec.stderr_fd = pipes.err_write.get();
  spec.cgroup_fd = cgroup ? cgroup->dir_fd() : -1;
  spec.adopt = request.adopt;
  os::Child child;
  try {
    child = os::spawn(spec);
  } catch (const std::system_error& e) {
    if (cgroup) cgroup->remove();
    throw daemon::SpawnFailure(e.what(), blame_of(e.code().value()));
  }
  made.keep_socket_file();  // the worker's from now on: removed at its exit
  // The child runs in child.memory until it has exec'd: into the table at once, before anything
  // that can throw, so that its exit is reaped and reported whatever happens next.
  const WorkerHandle handle = next_handle_++;
  Worker& worker = workers_[handle];
  worker.pid = child.pid;
  worker.pidfd = std::move(child.pidfd);
  worker.memory = std::move(child.memory);
  worker.notify_path = notify.path;
  by_pid_[child.pid] = handle;
  if (cgroup) trees_[child.pid] = cgroup;
  try {
    starting_.push_back(handle);
    worker.notify = std::move(made.notify.fd);
    watch_notify(handle);
    if (request.capture_output) output_.watch(handle, pipes);
    if (child.adopt_listener) adoption_.watch(handle, std::move(child.adopt_listener));
    worker.adopt_pending = child.adopt_pending;
    take_listener(handle, worker);  // it may be there already
    if (ready_read) ready_.watch(handle, std::move(ready_read));
    if (memory_high) start_memory_watch(handle, cgroup->path());
  } catch (const std::exception& e) {
    os::signal_pidfd(worker.pidfd.get(), SIGKILL);  // one we cannot follow must not run
    throw daemon::SpawnFailure(std::string("watching the new worker: ") + e.what(),
                               core::ExitStatus::Blame::Master);
  }
  spare_.want(uid, request.capture_output);
  sweep_later();
  return {handle, child.pid, cgroup ? cgroup->id() : 0, cgroup ? cgroup->path() : "",
          worker.memory_events != nullptr};
}

void Processes::signal(WorkerHandle worker, int signal) {
  const auto it = workers_.find(worker);
  if (it == workers_.end() || !it->second.pidfd) return;
  try {
    os::signal_pidfd(it->second.pidfd.get(), signal);
  } catch (const std::exception& e) {
    spdlog::error("pid {}: {}", it->second.pid, e.what());
  }
}

void Processes::signal_tree(int pid, int signal) {
  try {
    if (const auto tree = trees_.find(pid); tree != trees_.end()) {
      if (signal == SIGKILL) {
        tree->second->kill();
      } else {
        tree->second->signal(signal);
      }
      return;
    }
    os::signal_group(pid, signal);
    // Without a cgroup, processes that left the worker's process group but not its session go
    // with it too (those that called setsid() escape until the master's clean stop). That walk
    // reads /proc for every child of the master, so it runs once the current event is handled:
    // a worker's replacement is not held up by the search for what the dead one left.
    if (signal == SIGKILL) {
      asio::post(io_, [this, pid] {
        guard("the session of a killed worker", [&] {
          os::signal_session(pid, SIGKILL, [this](pid_t p) { return by_pid_.count(p) != 0; });
        });
      });
    }
  } catch (const std::exception& e) {
    spdlog::error("the tree of pid {}: {}", pid, e.what());
  }
}

}  // namespace clusterd::loop
