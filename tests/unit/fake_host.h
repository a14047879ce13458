// A fake host (every role of daemon/host.h) for driving the whole daemon loop in unit tests: a fake
// clock, workers that are only numbers, sockets that are only numbers (with a check that each is
// closed once), timers in a map, a config file that is a string. Nothing here starts a process or
// touches the system.
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <system_error>

#include "config/parse.h"
#include "supervisor/control/protocol.h"
#include "supervisor/daemon/daemon.h"
#include "supervisor/daemon/upgrade_handshake.h"

namespace clusterd::test {

struct RecordingReply : control::ReplyStream {
  std::vector<std::string> lines;
  bool finished = false;
  void send(control::ReplyLine line) override { lines.push_back(std::move(line.text)); }
  void finish(control::ReplyLine line) override {
    if (finished) throw std::logic_error("finish() called twice");
    finished = true;
    lines.push_back(std::move(line.text));
  }
  bool open() const override { return !finished; }
  control::Reply last() const { return control::decode_reply(lines.back()); }
};

class FakeHost final : public daemon::Clock,
                       public daemon::Timers,
                       public daemon::WorkerRunner,
                       public daemon::Sockets,
                       public daemon::Occupancy,
                       public daemon::OutputSinks,
                       public daemon::Machine,
                       public daemon::ConfigSource,
                       public daemon::Sampling,
                       public daemon::SystemdLink,
                       public daemon::EndpointHost,
                       public daemon::UpgradeHost,
                       public daemon::Probes,
                       public daemon::FileWatches {
 public:
  // ---- what the test sets ----
  std::string config_text;
  std::vector<config::ConfigError> environment_errors;
  int fail_bind_after = -1;             // this many more binds succeed, then they fail with EMFILE
  std::map<int, std::uint64_t> rss_kb;  // by pid, for sample()
  bool cgroups = false;                 // workers get cgroups (id 5000 + handle)
  bool memory_events = false;           // with cgroups: memory.high can be set and watched

  // ---- what the daemon did ----
  struct Worker {
    daemon::SpawnRequest request;
    int pid = 0;
    bool alive = true;
  };
  std::map<daemon::WorkerHandle, Worker> workers;
  std::vector<std::pair<daemon::WorkerHandle, int>> signals;  // (worker, signal) via pidfd
  std::vector<std::pair<int, int>> tree_signals;              // (pid, signal)
  std::map<daemon::TimerKey, core::TimePoint> timers;
  std::set<int> open_fds;
  std::vector<std::string> sd_messages;
  int binds = 0;
  bool quit_called = false;
  std::map<int, control::Handler> controls;

  core::TimePoint clock = core::TimePoint{} + std::chrono::hours(1);

  // ---- failures on demand: the next `fail_times` calls of the kind `fail_at` throw (EIO) ----
  // Kinds: spawn, signal, signal_tree, arm, cancel, bind, close (the fd is closed first, as
  // close(2) does), listen, stop_listening, journal_send, log_file_write, sd_notify.
  std::string fail_at;
  int fail_times = 0;
  int failures = 0;  // how many were thrown
  void maybe_fail(const char* kind) {
    if (fail_times == 0 || fail_at != kind) return;
    --fail_times;
    ++failures;
    throw std::system_error(EIO, std::system_category(), std::string("fake host: ") + kind);
  }

  core::TimePoint now() override { return clock; }
  unsigned self_uid() override { return 0; }
  unsigned self_gid() override { return 0; }
  std::int64_t wall_ms = 1'800'000'000'000;  // the wall clock, moved by the test
  std::int64_t unix_ms() override { return wall_ms; }
  std::int32_t zone_offset = 0;  // utc_offset() of every zone
  std::int32_t utc_offset(const std::string&, std::int64_t) override { return zone_offset; }
  std::vector<double> chances;  // random() returns these in turn, then 0
  double random() override {
    if (chances.empty()) return 0;
    const double c = chances.front();
    chances.erase(chances.begin());
    return c;
  }

  // ---- worker output ----
  bool journal_stderr = false;  // clusterd's own stderr is the journal
  bool journal_up = true;
  bool journal_full = false;  // journal_send() drops
  std::vector<daemon::JournalEntry> journal;
  std::map<std::string, std::string> files;  // path -> what was written
  bool files_full = false;
  int reopens = 0;
  bool stderr_is_journal() override { return journal_stderr; }
  bool journal_available() override { return journal_up; }
  bool journal_send(const daemon::JournalEntry& entry) override {
    maybe_fail("journal_send");
    if (journal_full) return false;
    journal.push_back(entry);
    return true;
  }
  bool log_file_write(const daemon::LogFile& file, std::string lines) override {
    maybe_fail("log_file_write");
    if (files_full) return false;
    files[file.path] += lines;
    return true;
  }
  void log_files_reopen() override { ++reopens; }
  bool log_file_truncate(const daemon::LogFile& file) override {
    files[file.path].clear();
    return true;
  }
  std::map<std::string, std::uint64_t> files_lost;  // what log_files_lost() answers next
  std::map<std::string, std::uint64_t> log_files_lost() override {
    return std::exchange(files_lost, {});
  }
  std::vector<std::string> environment_ = {"PATH=/usr/bin", "HOME=/root"};
  std::vector<std::string> environment() override { return environment_; }

  daemon::StartedWorker spawn(const daemon::SpawnRequest& request) override {
    maybe_fail("spawn");
    const daemon::WorkerHandle handle = next_handle_++;
    const int pid = next_pid_++;
    workers[handle] = Worker{request, pid, true};
    return {handle, pid, cgroups ? 5000 + handle : 0, "",
            cgroups && memory_events && request.memory_high != 0};
  }
  void signal(daemon::WorkerHandle worker, int signal) override {
    maybe_fail("signal");
    signals.emplace_back(worker, signal);
  }
  void signal_tree(int pid, int signal) override {
    maybe_fail("signal_tree");
    tree_signals.emplace_back(pid, signal);
  }
  void arm(const daemon::TimerKey& key, core::TimePoint deadline) override {
    maybe_fail("arm");
    timers[key] = deadline;
  }
  void cancel(const daemon::TimerKey& key) override {
    maybe_fail("cancel");
    timers.erase(key);
  }

  int bind(const config::Address& address, int, bool, const os::SocketAccess&) override {
    if (const auto held = occupants.find(address.text);
        held != occupants.end() && !held->second.holders.empty()) {
      throw std::system_error(EADDRINUSE, std::system_category(), "bind " + address.text);
    }
    if (fail_bind_after == 0) {
      throw std::system_error(EMFILE, std::system_category(), "socket " + address.text);
    }
    if (fail_bind_after > 0) --fail_bind_after;
    maybe_fail("bind");
    ++binds;
    const int fd = next_fd_++;
    open_fds.insert(fd);
    return fd;
  }
  void close(int fd) override {
    if (open_fds.erase(fd) != 1)
      throw std::logic_error("fd " + std::to_string(fd) + " closed twice");
    not_listening.erase(fd);
    maybe_fail("close");
  }
  std::set<int> not_listening;  // fds stop_listening() stopped (until listen())
  void listen(int fd, int) override {
    maybe_fail("listen");
    not_listening.erase(fd);
  }
  void stop_listening(int fd) override {
    maybe_fail("stop_listening");
    not_listening.insert(fd);
  }
  void set_reuseport(int) override {}
  std::uint16_t local_port(int) override { return 8080; }
  std::set<int> mismatched;  // fds whose check says they are not the socket named
  std::string socket_mismatch(int fd, const config::Address&, bool) override {
    return mismatched.count(fd) != 0 ? "not listening" : "";
  }
  void remove_socket_file(const config::Address&) override {}
  int bind_adopted(const config::Address& address, int backlog, bool) override {
    return bind(address, backlog, false, {});
  }
  std::uint64_t socket_inode(int fd) override { return open_fds.count(fd) ? 1000 + fd : 0; }
  unsigned unprivileged_port_start() override { return 1024; }
  std::vector<daemon::PassedSocket> take_passed_sockets() override { return {}; }
  // ---- addresses held by others, and the instance record ----
  std::map<std::string, os::Occupants> occupants;  // by address text: bind() fails while held
  std::vector<std::vector<int>> ended;             // each end_processes() call's pids
  std::set<int> unkillable;                        // pids end_processes() cannot end
  std::map<std::string, std::string> records;      // path -> recorded id
  std::map<std::string, bool> running;             // id -> its master runs (absent: unknown)
  os::Occupants address_occupants(const config::Address& address) override {
    const auto it = occupants.find(address.text);
    return it == occupants.end() ? os::Occupants{} : it->second;
  }
  std::vector<int> end_processes(const std::vector<os::Occupant>& who,
                                 std::chrono::milliseconds) override {
    std::vector<int> pids;
    std::vector<int> left;
    for (const os::Occupant& o : who) {
      pids.push_back(o.pid);
      if (unkillable.count(o.pid) != 0) left.push_back(o.pid);
    }
    ended.push_back(pids);
    for (auto& [address, held] : occupants) {
      for (auto* list : {&held.holders, &held.group}) {
        std::erase_if(*list, [&](const os::Occupant& o) {
          return unkillable.count(o.pid) == 0 &&
                 std::find(pids.begin(), pids.end(), o.pid) != pids.end();
        });
      }
    }
    return left;
  }
  std::string instance_id() override { return "100-5-4026531836"; }
  std::optional<bool> instance_running(const std::string& id) override {
    const auto it = running.find(id);
    return it == running.end() ? std::nullopt : std::optional<bool>(it->second);
  }
  std::optional<std::string> read_instance_record(const std::string& path) override {
    const auto it = records.find(path);
    return it == records.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  void write_instance_record(const std::string& path, const std::string& id) override {
    records[path] = id;
  }

  std::vector<std::string> private_dirs;  // path:uid:gid
  void make_private_dir(const std::string& path, unsigned uid, unsigned gid) override {
    private_dirs.push_back(path + ":" + std::to_string(uid) + ":" + std::to_string(gid));
  }

  config::ParseResult load_config(const std::string& path) override {
    return config::parse_config(config_text, path);
  }
  std::vector<config::ConfigError> check_environment(const config::Config&) override {
    return environment_errors;
  }
  std::optional<std::string> find_executable(const std::string& name, const std::string&) override {
    return name;
  }
  os::ResolvedNames lookup_names(const os::NameQueries& queries) override {
    os::ResolvedNames names;
    resolve_names(queries, [&](os::ResolvedNames answer) { names = std::move(answer); });
    return names;
  }
  void resolve_names(const os::NameQueries& queries,
                     std::function<void(os::ResolvedNames)> done) override {
    os::ResolvedNames names;
    for (const std::string& user : queries.users) {
      if (user == "nobody") {
        names.users[user] = {65534, 65534, {65534}, "nobody", "/nonexistent", "/usr/sbin/nologin"};
      } else {
        names.failed["user " + user] = "user '" + user + "' does not exist";
      }
    }
    for (const std::string& group : queries.groups) {
      if (group == "nogroup") {
        names.groups[group] = 65534;
      } else {
        names.failed["group " + group] = "group '" + group + "' does not exist";
      }
    }
    done(std::move(names));
  }
  os::CpuBudget cpu_budget{{0, 1}, std::nullopt, "", 2, "2: affinity 0-1"};  // what cpus() says
  os::CpuBudget cpus() override { return cpu_budget; }
  std::string cgroup_mode() override { return "no per-worker cgroups: a fake host"; }
  unsigned long nofile_hard_limit() override { return 4096; }
  bool tcp_migrate_req() override { return true; }
  std::string enable_tcp_migrate_req() override { return {}; }
  std::map<int, os::AcceptQueue> queues;  // by fd, for accept_queue()
  std::optional<os::AcceptQueue> accept_queue(int fd) override {
    const auto it = queues.find(fd);
    return it == queues.end() ? std::nullopt : std::optional<os::AcceptQueue>(it->second);
  }
  std::vector<std::string> sampled_cgroups;  // what the last sample() was given
  daemon::ProcessSample sample(const std::vector<int>& pids,
                               const std::vector<std::string>& worker_cgroups, bool,
                               bool) override {
    sampled_cgroups = worker_cgroups;
    daemon::ProcessSample out;
    out.master_pid = 1;
    out.master.alive = true;
    out.master.threads = 1;
    for (int pid : pids) {
      os::ProcessFacts facts;
      facts.alive = true;
      facts.threads = 1;
      facts.tree_processes = 1;
      facts.tree_threads = 1;
      facts.rss_kb = facts.tree_rss_kb = rss_kb.count(pid) ? rss_kb[pid] : 1000;
      out.workers.emplace_back(pid, facts);
    }
    out.total_processes = static_cast<unsigned>(1 + pids.size());
    out.total_threads = out.total_processes;
    return out;
  }
  bool sd_enabled() override { return true; }
  void sd_notify(const std::string& state) override {
    maybe_fail("sd_notify");
    sd_messages.push_back(state);
  }
  bool sd_store_fd(int, const std::string&) override { return true; }
  void sd_remove_fd(const std::string&) override {}
  int control_adopted_fd = -1;  // the last open_control()'s adopt_fd
  int open_control(const control::ServerOptions& options, control::Handler handler) override {
    control_adopted_fd = options.adopt_fd;
    controls[next_control_] = std::move(handler);
    return next_control_++;
  }
  void reconfigure_control(int, const control::ServerOptions&) override {}
  void close_control(int id) override { controls.erase(id); }
  std::map<int, daemon::HttpHandler> metrics;  // open metrics endpoints by id
  std::vector<std::string> metrics_addresses;
  bool fail_metrics = false;  // open_metrics() fails as with a taken port
  int open_metrics(const config::Address& address, daemon::HttpHandler handler, int) override {
    if (fail_metrics) {
      throw std::system_error(EADDRINUSE, std::system_category(), "metrics " + address.text);
    }
    metrics_addresses.push_back(address.text);
    metrics[next_control_] = std::move(handler);
    return next_control_++;
  }
  void close_metrics(int id) override { metrics.erase(id); }
  void quit() override { quit_called = true; }

  // ---- live upgrade ----
  std::optional<std::string> blocker;            // upgrade_blocker() says this
  std::optional<std::string> rehearsal_refusal;  // rehearse() answers this
  // What the rehearsal answers on its fd 4; unset: what a clusterd that read the state would.
  std::optional<std::string> rehearsal_handshake;
  os::FileIdentity rehearsed_file{1, 2, 3, 4, 5};  // the identity rehearse() reports
  os::FileIdentity exec_identity;                  // the one exec_upgrade() was given
  std::string exec_failure = "cannot execute /new/clusterd: No such file or directory";
  std::string rehearsed_binary;
  std::string rehearsed_state;
  std::string exec_binary;
  std::string exec_state;
  std::vector<int> exec_fds;
  std::vector<daemon::HandedWorker> adopted;
  std::optional<std::string> upgrade_blocker() override { return blocker; }
  daemon::HandedWorker hand_over(daemon::WorkerHandle worker) override {
    if (const auto it = handed_in.find(worker); it != handed_in.end()) return it->second;
    daemon::HandedWorker out;
    out.pid = workers.at(worker).pid;
    out.notify_fd = 10000 + static_cast<int>(worker);
    out.notify_path = "/run/clusterd/notify.x/" + std::to_string(worker);
    return out;
  }
  std::string notify_dir() override { return "/run/clusterd/notify.x"; }
  std::string cgroup_root() override { return cgroups ? "/sys/fs/cgroup/test" : ""; }
  int control_fd(int id) override { return 20000 + id; }
  int metrics_fd(int id) override { return 30000 + id; }
  std::map<daemon::WorkerHandle, daemon::HandedWorker> handed_in;  // adopted, by new handle
  daemon::WorkerHandle adopt(const daemon::HandedWorker& worker) override {
    const daemon::WorkerHandle handle = next_handle_++;
    workers[handle] = Worker{{}, worker.pid, true};
    adopted.push_back(worker);
    handed_in[handle] = worker;
    next_pid_ = std::max(next_pid_, worker.pid + 1);
    return handle;
  }
  /// The fds a previous master handed over: open, and never given out again.
  void reserve_fds(const std::vector<int>& fds) {
    for (const int fd : fds) {
      open_fds.insert(fd);
      next_fd_ = std::max(next_fd_, fd + 1);
    }
  }
  os::Rehearsal rehearse(const std::string& binary, const std::vector<std::string>&,
                         const std::string& state, std::size_t limit) override {
    rehearsed_binary = binary;
    rehearsed_state = state;
    os::Rehearsal out{rehearsal_refusal, {}, rehearsed_file};
    if (!rehearsal_refusal) {
      out.handshake =
          rehearsal_handshake
              ? *rehearsal_handshake
              : daemon::handshake_line((daemon::decode_whole_upgrade_state(state), state));
    }
    if (out.handshake.size() > limit + 1) out.handshake.resize(limit + 1);  // as the host cuts it
    return out;
  }
  std::string exec_upgrade(const std::string& binary, const os::FileIdentity& rehearsed,
                           std::vector<std::string>, const std::string& state,
                           const std::vector<int>& fds) override {
    exec_binary = binary;
    exec_identity = rehearsed;
    exec_state = state;
    exec_fds = fds;
    return exec_failure;
  }
  std::string own_binary() override { return "/usr/sbin/clusterd"; }

  // ---- ready probes: the tries under way (one per worker), and every try started ----
  std::map<daemon::WorkerHandle, daemon::ProbeTry> probes_active;
  std::vector<std::pair<daemon::WorkerHandle, daemon::ProbeTry>> probes_started;
  void probe(daemon::WorkerHandle worker, const daemon::ProbeTry& attempt) override {
    probes_active[worker] = attempt;
    probes_started.emplace_back(worker, attempt);
  }
  void cancel_probe(daemon::WorkerHandle worker) override { probes_active.erase(worker); }
  // ---- watch: what each app watches; a test calls `changed` as the loop would ----
  struct FileWatch {
    std::vector<std::string> paths;
    std::vector<std::string> ignore;
    std::function<void(const std::string&)> changed;
  };
  std::map<std::size_t, FileWatch> file_watches;
  int watch_calls = 0;
  unsigned watch(std::size_t app, const std::vector<std::string>& paths,
                 const std::vector<std::string>& ignore,
                 std::function<void(const std::string&)> changed) override {
    ++watch_calls;
    file_watches[app] = {paths, ignore, std::move(changed)};
    return static_cast<unsigned>(paths.size());  // every path watched
  }
  void unwatch(std::size_t app) override { file_watches.erase(app); }

 private:
  daemon::WorkerHandle next_handle_ = 1;
  int next_pid_ = 1000;
  int next_fd_ = 100;
  int next_control_ = 1;
};

}  // namespace clusterd::test
