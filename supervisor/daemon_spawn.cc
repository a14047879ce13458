// Starting workers: the spawn of a lane's worker with its sockets, environment and credentials,
// and the error pipes of children that have not exec'd yet (one epoll set for all of them).
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <system_error>

#include "supervisor/daemon_impl.h"
#include "supervisor/os/notify_socket.h"
#include "worker/listen_env.h"

namespace clusterd {

using core::SlotId;

namespace {

// A lane in 64 bits, for epoll_event::data: app (the top 31 bits), slot index (32), lane (1).
std::uint64_t pack(SlotId id) {
  return (static_cast<std::uint64_t>(id.app) << 33) | (static_cast<std::uint64_t>(id.index) << 1) |
         (id.lane & 1U);
}
SlotId unpack(std::uint64_t bits) {
  return SlotId{static_cast<std::size_t>(bits >> 33),
                static_cast<unsigned>((bits >> 1) & 0xffffffffU), static_cast<unsigned>(bits & 1U)};
}

}  // namespace

std::vector<core::SlotAction> Daemon::Impl::spawn(SlotId id) {
  const config::AppSpec& spec = supervisor_.spec(id);
  const unsigned generation = supervisor_.slot(id).generation();
  AppRuntime& app = apps_[id.app];
  LaneRuntime& runtime = lane(id);
  try {
    const auto gen_it = app.generations.find(generation);
    if (gen_it == app.generations.end()) {
      throw std::runtime_error("generation " + std::to_string(generation) + " is not prepared");
    }
    const Generation& gen = gen_it->second;
    os::NotifySocket notify = os::open_notify_socket();
    worker::WorkerEnvSpec env_spec;
    env_spec.app = spec.name;
    env_spec.worker_id = id.index;
    env_spec.workers = supervisor_.apps()[id.app].instances;
    env_spec.app_env = spec.env;
    if (spec.watchdog) {
      env_spec.app_env.emplace_back(
          "WATCHDOG_USEC",
          std::to_string(
              std::chrono::duration_cast<std::chrono::microseconds>(*spec.watchdog).count()));
    }
    env_spec.notify_socket = notify.name;
    os::SpawnSpec spawn_spec;
    for (const std::shared_ptr<Listener>& listener : gen.listeners) {
      if (listener->spec.mode == config::ListenMode::Worker) {
        env_spec.worker_listen.emplace_back(listener->spec.name, listener->spec.address.text);
        continue;
      }
      const std::size_t which = listener->spec.mode == config::ListenMode::ReusePort ? id.index : 0;
      if (which >= listener->fds.size() || !listener->fds[which]) {
        throw std::runtime_error("listener " + listener->spec.name + " has no socket for slot " +
                                 std::to_string(id.index));
      }
      spawn_spec.fds.push_back(listener->fds[which].get());
      env_spec.fd_names.push_back(listener->spec.name);
    }
    spawn_spec.path = gen.executable;
    spawn_spec.argv = spec.command;
    spawn_spec.env = worker::build_worker_env(inherited_env_, env_spec);
    spawn_spec.cwd = spec.cwd;
    spawn_spec.ids = gen.ids;
    if (spec.nofile) {
      spawn_spec.nofile_soft = spawn_spec.nofile_hard = static_cast<unsigned long>(*spec.nofile);
    } else if (inherited_nofile_) {
      // Workers get the limit clusterd itself was started with, within the hard limit we have
      // now (someone may have lowered it with prlimit, and raising needs CAP_SYS_RESOURCE).
      rlimit now_limit{};
      getrlimit(RLIMIT_NOFILE, &now_limit);
      const unsigned long hard = std::min<unsigned long>(
          inherited_nofile_->second, static_cast<unsigned long>(now_limit.rlim_max));
      spawn_spec.nofile_soft = std::min(inherited_nofile_->first, hard);
      spawn_spec.nofile_hard = hard;
    }
    if (spec.cpu_affinity == config::CpuAffinity::PerWorker && !app.cpus.empty()) {
      spawn_spec.cpu = app.cpus[id.index % app.cpus.size()];
    }
    os::Child child = os::spawn(spawn_spec);
    // The child runs in child.memory until it has exec'd: into the lane at once, before anything
    // that can throw, and a child we cannot follow is killed rather than left running in it.
    runtime.pidfd = std::move(child.pidfd);
    runtime.spawn_errors = std::move(child.errors);
    runtime.child_memory = std::move(child.memory);
    runtime.spawn_error.reset();
    try {
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = pack(id);
      if (epoll_ctl(starting_->native_handle(), EPOLL_CTL_ADD, runtime.spawn_errors.get(),
                    &event) != 0) {
        // Not watched: the pipe is still read at reap, and the memory freed then.
        spdlog::warn("{}: epoll_ctl: {}", label(id), std::strerror(errno));
      }
      runtime.uid = gen.ids ? gen.ids->uid : getuid();
      runtime.notify = std::make_shared<asio::local::datagram_protocol::socket>(
          io_, asio::local::datagram_protocol(), notify.fd.release());
      watch_notify(id, runtime.notify);
      spdlog::info("{}: spawned pid {}{}", label(id), child.pid,
                   spawn_spec.cpu >= 0 ? fmt::format(" on cpu {}", spawn_spec.cpu) : "");
    } catch (...) {
      try {
        os::signal_pidfd(runtime.pidfd.get(), SIGKILL);
      } catch (const std::exception&) {  // nothing more to do for it; the reap comes anyway
      }
      throw;
    }
    return supervisor_.on(id, core::Spawned{child.pid}, now());
  } catch (const std::system_error& e) {
    return spawn_failed(id, e.what(), os::transient_error(e.code().value()));
  } catch (const std::exception& e) {
    return spawn_failed(id, e.what(), false);
  }
}

std::vector<core::SlotAction> Daemon::Impl::spawn_failed(SlotId id, const std::string& what,
                                                         bool transient) {
  return supervisor_.on(id, core::Exited{spawn_failure(id, what, transient)}, now());
}

core::ExitStatus Daemon::Impl::spawn_failure(SlotId id, const std::string& what, bool transient) {
  core::ExitStatus status{core::ExitStatus::Kind::SpawnFailed, 127, what};
  status.transient = transient;
  spdlog::error("{}: cannot start {}: {}{}", label(id), supervisor_.spec(id).command[0], what,
                transient ? " (out of a resource: retrying with backoff)" : "");
  return status;
}

void Daemon::Impl::watch_starting() {
  starting_->async_wait(asio::posix::stream_descriptor::wait_read,
                        [this](const std::error_code& ec) {
                          if (ec) return;
                          epoll_event events[64];
                          int n = 0;
                          do {
                            n = epoll_wait(starting_->native_handle(), events, 64, 0);
                            for (int i = 0; i < n; ++i) {
                              const SlotId id = unpack(events[i].data.u64);
                              if (!slot_exists(id)) continue;
                              collect_spawn_report(id);
                            }
                          } while (n == 64);
                          watch_starting();
                        });
}

void Daemon::Impl::collect_spawn_report(SlotId id) {
  LaneRuntime& runtime = lane(id);
  if (!runtime.spawn_errors) return;
  const os::SpawnReport report = os::read_spawn_report(runtime.spawn_errors.get());
  if (report.error) runtime.spawn_error = report.error;
  if (report.finished) {           // exec'd or exited: the child is done with its memory
    runtime.spawn_errors.reset();  // closing it takes it out of the epoll set
    runtime.child_memory.reset();
  }
}

}  // namespace clusterd
