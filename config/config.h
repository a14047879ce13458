// The validated configuration of a cluster: plain values with their defaults, and where in the
// YAML file each value came from (so later checks can still name file:line:col).
// Produced by config::parse_config(); knows nothing about processes.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace clusterd::config {

using Duration = std::chrono::milliseconds;

/// A place in the YAML source, 1-based. line == 0 means "not from the file" (a default).
struct Mark {
  int line = 0;
  int column = 0;
};

/// A listening address: `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:80`, `unix:/path`.
struct Address {
  enum class Family { Ipv4, Ipv6, Unix };
  Family family = Family::Ipv4;
  std::string host;  // numeric IP without brackets ("127.0.0.1", "::1"); empty for Unix
  std::uint16_t port = 0;
  std::string path;  // Unix socket path; empty otherwise
  std::string text;  // as written in the config, for messages and CLUSTER_LISTEN_<NAME>
};

enum class ListenMode {
  Shared,     // the master binds once; every worker gets the same fd
  ReusePort,  // the master binds one SO_REUSEPORT socket per slot and keeps it across restarts
  Worker,     // the worker binds itself; it gets CLUSTER_LISTEN_<NAME>=address
};

struct ListenerSpec {
  std::string name;  // the key under `listen:`; also the LISTEN_FDNAMES entry
  Address address;
  ListenMode mode = ListenMode::Shared;
  // `adopt: true`: a worker's own bind() of this address gets this socket (docs/adoption.md).
  bool adopt = false;
  // `port_per_worker: true` (mode worker, TCP): worker N gets the address with port + N
  // (worker_address()), PM2's increment_var; the port range is the app's instances.
  bool port_per_worker = false;
  // `port_env: NAME` (TCP): each worker gets its port in the variable NAME (with port_per_worker,
  // worker N's port + N), for programs that read PORT instead of CLUSTER_LISTEN_<NAME>.
  std::string port_env;
  int backlog = 4096;
  // unix: listeners only: the socket file's mode (default 0666, as a systemd .socket's
  // SocketMode=), owner and group (default: clusterd's).
  unsigned socket_mode = 0666;
  std::string socket_user;
  std::string socket_group;
  Mark at;  // where the listener's address was written
  Mark socket_owner_at;
  Mark adopt_at;
  Mark port_per_worker_at;
  Mark port_env_at;
};

/// The address worker `worker_id` of a listener with port_per_worker binds: the port plus the
/// id (nullopt past 65535); the address itself for any other listener.
std::optional<Address> worker_address(const ListenerSpec& listener, unsigned worker_id);

/// exec: ready once started; notify: READY=1 on the notify socket; listen: ready when the worker's
/// own listen() is adopted (needs `adopt`; the daemon's part lands with socket adoption).
/// fd: ready when the worker writes a line to the fd named by CLUSTER_READY_FD (s6's
/// notification-fd protocol: any language can write to an fd).
/// http, tcp: the master probes each worker's own address (a port_per_worker listener) until an
/// HTTP request answers 2xx or 3xx (http) or a connect succeeds (tcp).
enum class ReadyMode { Exec, Notify, Listen, Fd, Http, Tcp };
/// True for the modes the master probes (http, tcp).
inline bool probed(ReadyMode mode) { return mode == ReadyMode::Http || mode == ReadyMode::Tcp; }

/// `ready: {http: "GET /healthz", listener: NAME, interval: 250ms}` or `ready: {tcp: NAME}`.
struct ReadyProbe {
  std::string method;    // http: "GET", "HEAD", ...; empty for tcp
  std::string path;      // http: "/healthz"
  std::string listener;  // the port_per_worker listener probed (resolved by the parser)
  Duration interval =
      std::chrono::milliseconds(250);  // between tries; each try ends within 9/10 of it
  friend bool operator==(const ReadyProbe&, const ReadyProbe&) = default;
};
/// `min_ready` of an app with `ready: exec` that does not set it.
inline constexpr std::chrono::milliseconds kDefaultExecMinReady{1000};
enum class RestartPolicy { Always, OnFailure, Never };
enum class CpuAffinity { None, PerWorker };

/// `rollout:` how a reload replaces an app's workers.
struct RolloutSpec {
  unsigned batch = 1;                                   // slots replaced at a time after the canary
  Duration canary_time = std::chrono::milliseconds(0);  // the canary must stay ready this long
};

/// The most workers an app may have: `instances: N` in the config, `scale APP N` and the result
/// of `scale APP +N` (the control protocol's kMaxInstances is the same number).
inline constexpr unsigned kMaxInstances = 65536;

/// `instances: N`, or a count derived from the CPUs this process may use: `auto` and `max` (every
/// one of them), `-1` (all but one, at least 1).
struct Instances {
  enum class Cpus { Auto, Max, AllButOne };
  std::optional<unsigned> count;  // nullopt = derived from the CPUs, as `cpus` says
  Cpus cpus = Cpus::Auto;
  friend bool operator==(const Instances&, const Instances&) = default;
};

/// `restart_schedule:` when to replace an app's workers, in cron syntax with its time zone
/// (`TZ=Europe/Paris 0 3 * * *`). Each set has a bit per value a field allows.
struct CronSchedule {
  std::bitset<60> minutes;
  std::bitset<24> hours;
  std::bitset<32> days;       // 1..31
  std::bitset<13> months;     // 1..12
  std::bitset<7> weekdays;    // 0 (Sunday)..6
  bool every_day = true;      // the day-of-month field starts with `*`
  bool every_weekday = true;  // the day-of-week field starts with `*`
  std::string zone;           // "UTC", "local" (the machine's), or a tz database name
  std::string text;           // as written
  friend bool operator==(const CronSchedule&, const CronSchedule&) = default;
};

/// `watch:` restart an app's workers one by one when files under `paths` change (development).
struct WatchSpec {
  std::vector<std::string> paths;               // relative ones are taken from the app's cwd
  std::vector<std::string> ignore;              // globs of paths that never trigger a restart
  Duration debounce = std::chrono::seconds(1);  // changes closer than this make one restart
  friend bool operator==(const WatchSpec&, const WatchSpec&) = default;
};

/// `inherit_env:` which of the master's environment variables a worker gets.
struct EnvInherit {
  enum class Mode {
    Auto,    // all of them without `user:`; with it, none (a clean environment, as systemd does)
    All,     // true
    None,    // false
    Listed,  // [NAME, ...]
  };
  Mode mode = Mode::Auto;
  std::vector<std::string> names;  // Listed
  friend bool operator==(const EnvInherit&, const EnvInherit&) = default;
};

/// Limits of each worker's own cgroup (cgroup v2; docs/cgroups.md): its whole tree together.
struct CgroupLimits {
  std::optional<std::uint64_t> memory_max;  // memory.max, bytes
  std::optional<unsigned> cpu_weight;       // cpu.weight, 1..10000 (100 is the default share)
  std::optional<unsigned> pids_max;         // pids.max: processes and threads
  bool any() const { return memory_max || cpu_weight || pids_max; }
  friend bool operator==(const CgroupLimits&, const CgroupLimits&) = default;
};

/// `logs:` where a worker's stdout and stderr go (docs/logs.md).
struct LogSpec {
  enum class Mode {
    Auto,     // journal when clusterd's own output is the journal (JOURNAL_STREAM), else capture
    Journal,  // each line to journald with the app's fields, credited to the worker
    Capture,  // each line through the master: to its output and/or a file, and the ring
    Inherit,  // the master's own stdout and stderr, byte for byte
  };
  Mode mode = Mode::Auto;
  std::string file;                           // capture: also append to this file; empty = none
  bool console = true;                        // capture: also to clusterd's own output
  std::uint64_t max_size = 10 * 1024 * 1024;  // rotate `file` past this; 0 = never
  unsigned keep = 5;                          // rotated files kept: FILE.1 (newest) .. FILE.keep
  std::size_t line_max = 16 * 1024;           // a longer line is cut here and marked
  unsigned ring = 1000;  // lines kept in memory for `clusterctl logs`; 0 = none
  Mark file_at;
  friend bool operator==(const LogSpec& a, const LogSpec& b) {
    return a.mode == b.mode && a.file == b.file && a.console == b.console &&
           a.max_size == b.max_size && a.keep == b.keep && a.line_max == b.line_max &&
           a.ring == b.ring;
  }
};

struct AppSpec {
  std::string name;
  /// The text of the whole config it was parsed from (Config::text), for a live upgrade.
  std::shared_ptr<const std::string> source;
  std::vector<std::string> command;  // argv; command[0] is resolved against PATH at start
  Instances instances;
  CpuAffinity cpu_affinity = CpuAffinity::None;
  std::vector<ListenerSpec> listeners;  // in file order
  ReadyMode ready = ReadyMode::Exec;
  ReadyProbe probe;  // ready: http and tcp
  Duration ready_timeout = std::chrono::seconds(10);
  // A worker counts as ready after staying up this long once its ready mode says so (default 0,
  // kDefaultExecMinReady for ready: exec).
  Duration min_ready = std::chrono::milliseconds(0);
  int stop_signal = 15;  // SIGTERM; stored as a number so this header needs no <csignal>
  Duration stop_timeout = std::chrono::seconds(10);
  RestartPolicy restart = RestartPolicy::Always;
  Duration min_uptime = std::chrono::seconds(1);  // shorter runs count as quick deaths
  unsigned max_restarts = 10;                     // quick deaths allowed within restart_window
  Duration restart_window = std::chrono::seconds(60);
  Duration backoff_initial = std::chrono::milliseconds(100);
  Duration backoff_max = std::chrono::seconds(30);
  double backoff_jitter = 0.2;  // each delay is shortened by up to this fraction, at random
  std::vector<std::pair<std::string, std::string>> env;  // in file order
  /// The NAMEs of the app's `env_NAME:` sections, in file order. The one clusterd was started
  /// with (`--env NAME`) is already merged into `env`.
  std::vector<std::string> environments;
  EnvInherit inherit_env;
  std::string cwd;                      // empty = the daemon's working directory
  std::string user;                     // empty = the daemon's user
  std::string group;                    // empty = the user's primary group
  std::optional<std::uint64_t> nofile;  // limits.nofile: RLIMIT_NOFILE soft and hard
  unsigned umask = 022;                 // the worker's umask, set before its exec
  RolloutSpec rollout;
  std::optional<Duration> watchdog;         // WATCHDOG=1 expected at least this often
  std::optional<std::uint64_t> max_memory;  // bytes of RSS (worker + descendants) before a replace
  Duration memory_check_interval = std::chrono::seconds(5);  // sampling period for max_memory
  LogSpec logs;
  // instances: auto only: re-derive the count on this interval and scale to it (docs/cgroups.md);
  // none: only at start, at a reload and by `clusterctl scale APP auto`.
  std::optional<Duration> auto_follow;
  CgroupLimits cgroup_limits;  // memory_max, cpu_weight, pids_max
  std::optional<CronSchedule> restart_schedule;
  std::optional<WatchSpec> watch;
  // `adopt: all`: every TCP address the app's workers bind becomes a socket the master holds
  // and shares (docs/adoption.md).
  bool adopt_all = false;

  Mark at;          // the app's key
  Mark command_at;  // the command value
  Mark cwd_at;
  Mark user_at;
  Mark group_at;
  Mark nofile_at;
  Mark auto_follow_at;
  Mark restart_schedule_at;
  Mark watch_at;
  std::vector<Mark> env_at;  // each env entry's value, in the order of env
  Mark adopt_at;             // the app's `adopt:`
};

/// A user or a group named in `control.read` / `control.admin`: "alice", "@ops" for a group;
/// names or numeric ids.
struct Principal {
  bool group = false;
  std::string name;
  Mark at;
  friend bool operator==(const Principal& a, const Principal& b) {
    return a.group == b.group && a.name == b.name;
  }
};

struct ControlSpec {
  std::string socket;            // empty = the default path (see DESIGN.md)
  std::string group;             // the socket file's group, and its members are admins
  std::vector<Principal> read;   // may use the verbs that read (status, ...)
  std::vector<Principal> admin;  // may use every verb
  unsigned max_clients = 64;     // concurrent clients; more are refused
  Duration idle_timeout = std::chrono::seconds(30);  // a silent client is dropped after this
  Mark socket_at;
  Mark group_at;
};

/// `metrics:` where Prometheus scrapes clusterd (docs/metrics.md); no address: not served.
struct MetricsSpec {
  std::optional<Address> address;
  Mark at;
  friend bool operator==(const MetricsSpec& a, const MetricsSpec& b) {
    return a.address.has_value() == b.address.has_value() &&
           (!a.address || a.address->text == b.address->text);
  }
};

struct Config {
  std::string path;  // the file it was read from ("<string>" when parsed from memory)
  /// The text it was parsed from: a live upgrade hands it over and the new master parses it again.
  std::shared_ptr<const std::string> text;
  ControlSpec control;
  MetricsSpec metrics;
  /// `cgroups:` where workers get cgroups of their own: "auto" (a cgroup systemd delegated, or a
  /// container's), "off", or an absolute path under the cgroup v2 mount.
  std::string cgroups = "auto";
  std::vector<AppSpec> apps;  // in file order
  /// The environment it was parsed for (`clusterd --env NAME`): each app's `env_NAME:` merged
  /// over its `env:`. Empty: `env:` alone.
  std::string environment;
};

/// One problem found in a config, printed as `FILE:LINE:COL: KEY: MESSAGE`.
struct ConfigError {
  std::string file;
  Mark at;
  std::string key;  // dotted path, e.g. "apps.web.listen.http.mode"
  std::string message;

  std::string to_string() const;
};

/// True when the app's workers run under the adoption filter: `adopt: all`, or a listener with
/// `adopt: true`.
bool uses_adoption(const AppSpec& app);

/// "auto", "journal", "capture", "inherit".
const char* to_string(LogSpec::Mode mode);
/// "shared", "reuseport", "worker".
const char* to_string(ListenMode mode);
/// "exec", "notify", "listen", "fd", "http", "tcp".
const char* to_string(ReadyMode mode);
/// "always", "on-failure", "never".
const char* to_string(RestartPolicy policy);

}  // namespace clusterd::config
