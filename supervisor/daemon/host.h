// The machine as the daemon sees it, in roles. Every side effect the daemon causes goes through
// one of them, and everything that happens reaches it through HostEvents (or the control
// handler). The real host is loop::AsioHost (one asio io_context on one thread); tests/unit drive
// the whole daemon over a fake one, with a fake clock and no process started. So nothing here may
// decide anything: each call is one mechanical thing the OS does.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "config/config.h"
#include "config/parse.h"
#include "supervisor/control/server.h"
#include "supervisor/core/limits.h"
#include "supervisor/core/probe.h"
#include "supervisor/core/types.h"
#include "supervisor/os/facts.h"

namespace clusterd::daemon {

/// The host's name for a worker process it started; never reused.
using WorkerHandle = std::uint64_t;

/// What a timer is for: a lane's timer, an app's rollout timer, the daemon's sampling timer, an
/// app's auto_follow look, its restart_schedule, or its watch settling.
struct TimerKey {
  enum class Kind { Lane, Rollout, Memory, AutoFollow, Schedule, Watch };
  Kind kind = Kind::Lane;
  std::size_t app = 0;
  unsigned index = 0;
  unsigned lane = 0;
  core::LaneTimer timer = core::LaneTimer::State;
  friend bool operator<(const TimerKey& a, const TimerKey& b) {
    return std::tie(a.kind, a.app, a.index, a.lane, a.timer) <
           std::tie(b.kind, b.app, b.index, b.lane, b.timer);
  }
  friend bool operator==(const TimerKey&, const TimerKey&) = default;
};

struct SpawnRequest {
  std::string path;               // the resolved executable
  std::vector<std::string> argv;  // argv[0] as configured
  std::vector<std::string> env;   // without NOTIFY_SOCKET: the host adds it
  std::vector<int> fds;           // placed at 3, 4, ...
  std::string cwd;                // empty = inherit
  std::optional<os::Ids> ids;     // drop to these credentials
  std::optional<core::NofileLimit> nofile;
  unsigned umask = 022;  // set in the worker before its exec (the app's `umask`)
  int cpu = -1;          // pin to this CPU; -1 = inherit the mask
  std::string cgroup;    // "web/3": the worker's cgroup goes under workers/web/3, if cgroups are on
  config::CgroupLimits limits;  // written into that cgroup before the worker starts
  /// max_memory, in bytes (0: none): where the worker's cgroup has the memory controller it
  /// becomes memory.high, and the host reports the cgroup going over it (on_memory_high).
  std::uint64_t memory_high = 0;
  bool capture_output = false;  // stdout and stderr into pipes (HostEvents::on_output); else
                                // the master's own, inherited as they are
  /// Socket adoption (docs/adoption.md): the worker and all it starts run under a filter that
  /// stops their bind() and listen() for HostEvents::on_socket_call to answer.
  bool adopt = false;
  /// ready: fd: the write end of a pipe goes to the worker after `fds` (at 3 + fds.size());
  /// a line written to it is HostEvents::on_ready_line.
  bool ready_pipe = false;
};

/// The answer to a worker's bind() or listen() under socket adoption, carried out by the host.
struct SocketAnswer {
  enum class Kind {
    Proceed,  // the kernel runs the call as if nothing had stopped it
    Succeed,  // 0 returned, the call not run
    Refuse,   // fails with `error`, not run
    Replace,  // the master's socket `fd` in place of the caller's, and 0 returned
  };
  Kind kind = Kind::Proceed;
  int error = 0;
  int fd = -1;
  bool nonblocking = false;  // Replace: O_NONBLOCK on `fd`, as the caller's socket had it
  bool cloexec = true;       // Replace: FD_CLOEXEC of the caller's new fd
};

/// One of a worker's two output streams.
enum class OutputStream { Out, Err };

/// An entry for journald, in the native protocol (text/journal_fields.h). With `pid` set it is
/// sent as that process (uid, gid) where the host may (CAP_SYS_ADMIN), so that journald credits
/// the worker, not the master, and reads its metadata (_PID, _COMM, _SYSTEMD_UNIT, ...).
struct JournalEntry {
  std::string fields;
  int pid = 0;
  unsigned uid = 0;
  unsigned gid = 0;
};

/// A request to the metrics endpoint, and what it answers (the daemon's HttpHandler).
struct HttpRequest {
  std::string path;          // "/metrics", without the query
  bool openmetrics = false;  // the scraper accepts application/openmetrics-text
  std::string peer;          // who asks, for its rate: "127.0.0.1", "::1", "uid 1000" (unix)
  bool trusted = false;      // root or the daemon's own user on a unix socket: no rate for it
};
struct HttpResponse {
  int status = 200;
  std::string content_type;
  std::string body;
};
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

/// A log file of an app in `capture` mode.
struct LogFile {
  std::string path;
  std::uint64_t max_size = 0;  // rotate past this size; 0 = never
  unsigned keep = 0;           // PATH.1 .. PATH.keep kept
};

struct StartedWorker {
  WorkerHandle handle = 0;
  int pid = 0;
  std::uint64_t cgroup_id = 0;  // 0 without a cgroup of its own
  std::string cgroup_path;
  bool memory_events = false;  // memory_high was set: on_memory_high reports it, no sampling
};

/// What the host holds for one worker, handed to the next master in a live upgrade (the fds
/// stay open across exec; the pidfd is opened again from the pid: an unreaped child keeps it).
struct HandedWorker {
  int pid = 0;
  int notify_fd = -1;
  std::string notify_path;
  int out_fd = -1;  // the read ends of its output pipes; -1 without capture (or at their end)
  int err_fd = -1;
  std::string cgroup_path;  // its own cgroup; empty without one
  bool memory_events = false;
  int adopt_fd = -1;  // its filter's listener (socket adoption: docs/adoption.md); -1 without
};

/// A socket `adopt: all` made for an app, handed to the next master in a live upgrade.
struct HandedMadeSocket {
  std::string app;
  std::string address;  // as the config writes an address: "[::]:3000", "0.0.0.0:8080"
  int fd = -1;
};

/// A worker that could not be started, and whose fault that was.
class SpawnFailure : public std::runtime_error {
 public:
  SpawnFailure(const std::string& what, core::ExitStatus::Blame blame)
      : std::runtime_error(what), blame_(blame) {}
  core::ExitStatus::Blame blame() const { return blame_; }

 private:
  core::ExitStatus::Blame blame_;
};

/// One sd_notify datagram from a worker's notify socket, with the sender the kernel vouches for.
struct NotifyDatagram {
  std::string text;
  os::NotifySender sender;
  bool late = false;  // read once the worker had exited (delivered just before its on_exit)
};

using os::ProcessSample;

/// A socket systemd passed (socket activation, fd store), by name.
struct PassedSocket {
  int fd = -1;
  std::string name;
};

// ---- the host's roles ----
// Each component takes only the roles it uses (ninja's Builder takes a CommandRunner and a
// DiskInterface, never the machine): a new host call touches one role, its two implementations
// (loop::AsioHost, tests/unit/fake_host.h) and its users. Only the daemon's construction sees
// every role, as a HostRoles.

/// Time and chance.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual core::TimePoint now() = 0;
  virtual std::int64_t unix_ms() = 0;  // wall-clock time, for records
  virtual double random() = 0;         // a number in [0, 1), for jitter
  /// Seconds east of UTC in force in `zone` ("UTC", "local" or a tz database name) at `utc`
  /// (seconds since the epoch), for restart_schedule.
  virtual std::int32_t utc_offset(const std::string& zone, std::int64_t utc) = 0;
};

/// Timers: HostEvents::on_timer(key) at the deadline; re-arming replaces.
class Timers {
 public:
  virtual ~Timers() = default;
  virtual void arm(const TimerKey& key, core::TimePoint deadline) = 0;
  virtual void cancel(const TimerKey& key) = 0;
};

/// Starts and signals workers.
class WorkerRunner {
 public:
  virtual ~WorkerRunner() = default;
  /// Starts a worker with its own notify socket. Failures that happen before the program runs
  /// come back later as its exit (HostEvents::on_exit); throws SpawnFailure when no process
  /// could be created at all.
  virtual StartedWorker spawn(const SpawnRequest& request) = 0;
  /// Signals the worker itself (a pidfd: never another process); a worker that is gone is fine.
  virtual void signal(WorkerHandle worker, int signal) = 0;
  /// Signals the whole tree of the worker whose pid this is (or was): its cgroup when it has one
  /// (SIGKILL through cgroup.kill), else its process group and session. A tree that is gone is
  /// fine.
  virtual void signal_tree(int pid, int signal) = 0;
};

/// One try of a worker's ready probe (ready: http, tcp).
struct ProbeTry {
  config::Address address;  // the worker's own address (its port_per_worker port)
  std::string request;      // http: the bytes to send (core::probe_request); empty for tcp
  std::chrono::milliseconds limit{250};  // the whole try: connect, write, the status line
};

/// Tries workers' ready probes: each try's outcome is HostEvents::on_probe, once, unless it was
/// cancelled first. Never blocks the loop.
class Probes {
 public:
  virtual ~Probes() = default;
  /// Starts a try for `worker`, cancelling one still under way for it.
  virtual void probe(WorkerHandle worker, const ProbeTry& attempt) = 0;
  /// Cancels `worker`'s try under way, if any: no on_probe comes for it.
  virtual void cancel_probe(WorkerHandle worker) = 0;
};

/// The listening sockets the master holds (fds).
class Sockets {
 public:
  virtual ~Sockets() = default;
  /// Binds and listens (a unix: socket file gets `access`); throws std::system_error naming the
  /// address.
  virtual int bind(const config::Address& address, int backlog, bool reuseport,
                   const os::SocketAccess& access) = 0;
  virtual void close(int fd) = 0;
  virtual void listen(int fd, int backlog) = 0;  // listen again, or a new backlog
  /// Stops a listening TCP socket accepting while it keeps its address (shutdown(SHUT_RD)): its
  /// queued connections move to another socket of its SO_REUSEPORT group where
  /// net.ipv4.tcp_migrate_req is on, else they are reset. listen() takes it back.
  virtual void stop_listening(int fd) = 0;
  virtual void set_reuseport(int fd) = 0;  // throws std::system_error
  virtual std::uint16_t local_port(int fd) = 0;
  /// Empty when `fd` is a listening socket bound to `address` (with `stopped_ok`, also a TCP one
  /// stop_listening() stopped), else what it is instead.
  virtual std::string socket_mismatch(int fd, const config::Address& address, bool stopped_ok) = 0;
  virtual void remove_socket_file(const config::Address& address) = 0;
  /// A TCP listener that `adopt: all` makes for an address a worker bound (shared, SO_REUSEADDR;
  /// an IPv6 one dual-stack unless `v6only`); throws std::system_error naming the address.
  virtual int bind_adopted(const config::Address& address, int backlog, bool v6only) = 0;
  /// The inode number of the socket `fd` (what a worker's socket call is compared with); 0 when
  /// it is no socket.
  virtual std::uint64_t socket_inode(int fd) = 0;
  /// net.ipv4.ip_unprivileged_port_start (1024 when it cannot be read).
  virtual unsigned unprivileged_port_start() = 0;
  virtual std::vector<PassedSocket> take_passed_sockets() = 0;
};

/// Who else holds an address, and which master ran before: for start-up only.
class Occupancy {
 public:
  virtual ~Occupancy() = default;
  /// The processes but the master holding a socket that listens where `address` would, and the
  /// others in their process groups, with what tells whose they are (os/holders.h).
  virtual os::Occupants address_occupants(const config::Address& address) = 0;
  /// SIGTERM to each of `who` still the process described, SIGKILL to those left after `grace`,
  /// and waits (bounded). Blocking: for start-up only, before the loop runs. Returns the pids
  /// still there.
  virtual std::vector<int> end_processes(const std::vector<os::Occupant>& who,
                                         std::chrono::milliseconds grace) = 0;
  /// This master's id, for its workers' CLUSTER_INSTANCE (the same after a live upgrade).
  virtual std::string instance_id() = 0;
  /// Whether the master of `id` runs now; nullopt when that cannot be told.
  virtual std::optional<bool> instance_running(const std::string& id) = 0;
  /// The id recorded in `path` by the previous master of this config, if it is safe to trust.
  virtual std::optional<std::string> read_instance_record(const std::string& path) = 0;
  /// Records `id` in `path`; throws std::system_error.
  virtual void write_instance_record(const std::string& path, const std::string& id) = 0;
};

/// Where worker output goes (never blocking: what cannot be written now is dropped, false).
class OutputSinks {
 public:
  virtual ~OutputSinks() = default;
  /// Whether clusterd's own stderr is the journal (JOURNAL_STREAM names it).
  virtual bool stderr_is_journal() = 0;
  /// Whether journald's native socket is there to send to.
  virtual bool journal_available() = 0;
  virtual bool journal_send(const JournalEntry& entry) = 0;
  /// Appends `lines` (whole lines) to `file`, rotating it as it says: written by a thread of its
  /// own, so a slow disk never stalls the loop; false when its queue is full (dropped).
  virtual bool log_file_write(const LogFile& file, std::string lines) = 0;
  /// Opens every log file anew (logrotate moved them away).
  virtual void log_files_reopen() = 0;
  /// Empties a log file once what was written to it before is there (`logs --flush`).
  virtual bool log_file_truncate(const LogFile& file) = 0;
  /// Bytes log_file_write() accepted that reached no file (it was refused, a write failed), per
  /// path, since the last call.
  virtual std::map<std::string, std::uint64_t> log_files_lost() = 0;
};

/// What only the machine can tell: who the master is, its CPUs, cgroups and limits.
class Machine {
 public:
  virtual ~Machine() = default;
  virtual unsigned self_uid() = 0;
  virtual unsigned self_gid() = 0;
  virtual std::vector<std::string> environment() = 0;  // the master's own, as NAME=value
  virtual std::optional<std::string> find_executable(const std::string& name,
                                                     const std::string& cwd) = 0;
  virtual os::CpuBudget cpus() = 0;
  /// Whether workers get cgroups of their own, and where or why not (for status).
  virtual std::string cgroup_mode() = 0;
  virtual unsigned long nofile_hard_limit() = 0;
  virtual bool tcp_migrate_req() = 0;
  /// Turns net.ipv4.tcp_migrate_req on in the master's network namespace; why not, or empty.
  virtual std::string enable_tcp_migrate_req() = 0;
  /// Makes `path` a directory (mode 0750) owned by `uid`:`gid`, creating it if missing; one in
  /// the way that is not a directory (or is a symlink) is an error. Throws std::system_error.
  virtual void make_private_dir(const std::string& path, unsigned uid, unsigned gid) = 0;
};

/// The config file and the names in it.
class ConfigSource {
 public:
  virtual ~ConfigSource() = default;
  virtual config::ParseResult load_config(const std::string& path) = 0;
  /// What only the machine can tell about `config`, but its users and groups (resolve_names()).
  virtual std::vector<config::ConfigError> check_environment(const config::Config& config) = 0;
  /// Looks users and groups up now. Blocking (NSS): for start-up only, before the loop runs.
  virtual os::ResolvedNames lookup_names(const os::NameQueries& queries) = 0;
  /// Looks users and groups up without blocking the loop (NSS may be a network service): `done`
  /// is called later, from the loop, with the answers; after a timeout, every name failed.
  virtual void resolve_names(const os::NameQueries& queries,
                             std::function<void(os::ResolvedNames)> done) = 0;
};

/// Reads processes and sockets, for status, metrics and the memory policy.
class Sampling {
 public:
  virtual ~Sampling() = default;
  /// Reads the master, the whole tree's totals, and each of `pids` with its descendants (and
  /// their summed RSS when `tree_rss`; PSS, USS and fds when `detail`). `cgroups`, parallel to
  /// `pids` (or empty), names each worker's own cgroup: see os::sample_processes.
  virtual ProcessSample sample(const std::vector<int>& pids,
                               const std::vector<std::string>& cgroups, bool tree_rss,
                               bool detail) = 0;
  /// The accept queue of a listening TCP socket the master holds; nullopt for others.
  virtual std::optional<os::AcceptQueue> accept_queue(int fd) = 0;
};

/// systemd's side of the master (each a no-op outside it).
class SystemdLink {
 public:
  virtual ~SystemdLink() = default;
  virtual bool sd_enabled() = 0;
  virtual void sd_notify(const std::string& state) = 0;
  virtual bool sd_store_fd(int fd, const std::string& name) = 0;
  virtual void sd_remove_fd(const std::string& name) = 0;
};

/// The control socket and the metrics endpoint, and the loop that serves them.
class EndpointHost {
 public:
  virtual ~EndpointHost() = default;
  /// Opens a control server calling `handler`; throws when it cannot. Returns its id.
  virtual int open_control(const control::ServerOptions& options, control::Handler handler) = 0;
  virtual void reconfigure_control(int id, const control::ServerOptions& options) = 0;
  virtual void close_control(int id) = 0;
  /// Serves HTTP on `address` with `handler` (on `adopt_fd`, a socket already listening there,
  /// if set); throws std::system_error naming the address. Returns its id.
  virtual int open_metrics(const config::Address& address, HttpHandler handler,
                           int adopt_fd = -1) = 0;
  virtual void close_metrics(int id) = 0;
  /// The listening fd of a control server or metrics endpoint (from open_control/open_metrics).
  virtual int control_fd(int id) = 0;
  virtual int metrics_fd(int id) = 0;
  /// Ends the event loop once the current event is handled.
  virtual void quit() = 0;
};

/// A live upgrade's host side (docs/upgrade.md).
class UpgradeHost {
 public:
  virtual ~UpgradeHost() = default;
  /// Why the host cannot hand over now (a child between fork and exec), or nullopt.
  virtual std::optional<std::string> upgrade_blocker() = 0;
  virtual HandedWorker hand_over(WorkerHandle worker) = 0;
  /// The directory of the notify sockets of the workers it started.
  virtual std::string notify_dir() = 0;
  /// Where its workers' cgroups are (under ROOT/workers); empty without per-worker cgroups.
  virtual std::string cgroup_root() = 0;
  /// A new master's side: each worker, before the loop runs (the host was made with the previous
  /// master's notify directory and cgroup root). Throws.
  virtual WorkerHandle adopt(const HandedWorker& worker) = 0;
  /// Runs `binary` with `argv` (argv[0] first; the master's own options, as the exec will have
  /// them) and `--upgrade-check`, the state on its fd 3, and waits (bounded) for it to exit:
  /// `failed` says why it did not exit 0 ("exit 1", "timed out after 5 s (killed)", ...);
  /// `handshake` is what it answered on its fd 4 (cut after `handshake_limit` + 1 bytes), for
  /// the daemon to check; `binary` is the identity of the file that ran. Throws when it could
  /// not even try (no memfd, no pipe).
  virtual os::Rehearsal rehearse(const std::string& binary, const std::vector<std::string>& argv,
                                 const std::string& state, std::size_t handshake_limit) = 0;
  /// Execs `binary` in place, provided it is still the file `rehearsed` (else refuses), with
  /// `argv` (argv[0] first) and the state in a memfd named by `--upgrade-from FD`, keeping `fds`
  /// open. Returns only when it failed, with why.
  virtual std::string exec_upgrade(const std::string& binary, const os::FileIdentity& rehearsed,
                                   std::vector<std::string> argv, const std::string& state,
                                   const std::vector<int>& fds) = 0;
  /// The path of the running clusterd binary.
  virtual std::string own_binary() = 0;
};

/// The files an app's `watch:` names, watched for changes (inotify, on the loop).
class FileWatches {
 public:
  virtual ~FileWatches() = default;
  /// Watches `paths` for `app` in place of what it watched before: each directory and all under
  /// it (symbolic links below a path not followed), or a file; a path deleted and made again is
  /// watched again. Paths core::watch_ignored() ignores by `ignore` are neither reported nor
  /// entered. `changed` is called from the loop with the first change ("ROOT/REL") of each batch
  /// read together; the host logs a path it cannot watch (once per kind of failure). Returns how
  /// many of `paths` it watches (itself, or its parent waiting for it; 0: none).
  virtual unsigned watch(std::size_t app, const std::vector<std::string>& paths,
                         const std::vector<std::string>& ignore,
                         std::function<void(const std::string& change)> changed) = 0;
  /// Stops watching for `app` (nothing happens if it watched nothing).
  virtual void unwatch(std::size_t app) = 0;
};

/// What the host reports. Each call is one event; the host catches whatever escapes it, logs
/// it as critical and goes on, so no event can end the master.
class HostEvents {
 public:
  virtual ~HostEvents() = default;
  virtual void on_signal(int signal) = 0;
  /// A worker was reaped (or its spawn failed before the program ran). Its notify datagrams
  /// sent before the exit have been delivered first; its handle is forgotten afterwards.
  virtual void on_exit(WorkerHandle worker, const core::ExitStatus& status) = 0;
  virtual void on_notify(WorkerHandle worker, const NotifyDatagram& datagram) = 0;
  /// Bytes a worker started with capture_output wrote. What it wrote before it exited arrives
  /// before its on_exit; descendants holding the pipe may write more after it, until
  /// on_output_end for that stream.
  virtual void on_output(WorkerHandle worker, OutputStream stream, std::string_view bytes) = 0;
  virtual void on_output_end(WorkerHandle worker, OutputStream stream) = 0;
  virtual void on_timer(const TimerKey& key) = 0;
  /// The cgroup of a worker spawned with memory_events went over memory.high (the `high`
  /// counter of its memory.events grew); `current_kb`: its memory.current then.
  virtual void on_memory_high(WorkerHandle worker, std::uint64_t current_kb) = 0;
  /// A bind() or listen() of a worker spawned with `adopt` (or of anything it started), stopped
  /// in the kernel until the host carries out the answer. A worker already reaped may still
  /// have descendants that call.
  virtual SocketAnswer on_socket_call(WorkerHandle worker, const os::SocketCall& call) = 0;
  /// A worker spawned with `ready_pipe` (or anything it started) wrote a whole line to it (once;
  /// the pipe is closed after).
  virtual void on_ready_line(WorkerHandle worker) = 0;
  /// A try of `worker`'s ready probe (Probes::probe) ended.
  virtual void on_probe(WorkerHandle worker, const core::ProbeReply& reply) = 0;
};

}  // namespace clusterd::daemon
