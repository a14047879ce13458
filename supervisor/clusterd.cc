// clusterd: the master daemon. main() is a list of named steps.
// Exit codes: 0 stopped cleanly (or --check passed), 1 a runtime failure (address in use, ...),
// 2 usage or configuration errors.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string_view>

#include "config/check.h"
#include "config/parse.h"
#include "config/values.h"
#include "supervisor/control/socket_dir.h"
#include "supervisor/core/next_fire.h"
#include "supervisor/core/reload_plan.h"
#include "supervisor/core/schedule.h"
#include "supervisor/daemon/daemon.h"
#include "supervisor/daemon/upgrade_handshake.h"
#include "supervisor/daemon/upgrade_state.h"
#include "supervisor/logging.h"
#include "supervisor/loop/asio_host.h"
#include "supervisor/os/background.h"
#include "supervisor/os/cpus.h"
#include "supervisor/os/procfs.h"
#include "supervisor/os/spawn_slots.h"
#include "supervisor/os/system.h"
#include "supervisor/os/timezone.h"
#include "supervisor/os/upgrade.h"
#include "systemd/unit_file.h"
#include "text/printable.h"

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitConfig = 2;

// Lifts our soft RLIMIT_NOFILE to the hard one (each worker costs the master a pidfd and a notify
// socket); returns what we were started with, which the workers get back.
std::optional<clusterd::core::NofileLimit> raise_nofile() {
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) != 0) return std::nullopt;
  const clusterd::core::NofileLimit inherited{static_cast<unsigned long>(nofile.rlim_cur),
                                              static_cast<unsigned long>(nofile.rlim_max)};
  nofile.rlim_cur = nofile.rlim_max;
  setrlimit(RLIMIT_NOFILE, &nofile);
  return inherited;
}

// One log line per line of `message` (a list of config errors): the sink escapes a newline inside
// a message, which would run them together.
void log_critical_lines(std::string_view message) {
  do {
    const std::size_t end = std::min(message.find('\n'), message.size());
    spdlog::critical("{}", message.substr(0, end));
    message.remove_prefix(std::min(end + 1, message.size()));
  } while (!message.empty());
}

// The hidden options of a live upgrade (docs/upgrade.md).
struct UpgradeOptions {
  bool check = false;  // --upgrade-check: the rehearsal; the state is on fd 3
  int from = -1;       // --upgrade-from FD: take over the state in this memfd
  int fallback = -1;   // --upgrade-fallback FD: the previous binary, to hand the state back
  int binary = -1;     // --upgrade-binary FD: this binary, as the exec ran it; closed at once
  std::string failed;  // --upgrade-failed WHY: the new binary handed the state back
  std::string fault;   // --upgrade-fault throw|crash|hang: tests of the hand-back
};

// The rehearsal: reads the state as a take-over would, and says why not if it cannot; if it can,
// answers the old master with the handshake (its exit status alone proves nothing).
int check_upgrade_state() {
  try {
    const std::string document = clusterd::os::read_upgrade_state(3);
    const clusterd::daemon::UpgradeState state =
        clusterd::daemon::decode_whole_upgrade_state(document);
    if (state.workers.size() > 1000000) throw std::runtime_error("too many workers");
    clusterd::os::send_handshake(clusterd::daemon::handshake_line(document));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "clusterd: refusing the upgrade state: " << clusterd::printable(e.what()) << "\n";
    return kExitRuntime;
  }
}

// The command line without the upgrade options: what the next upgrade execs again.
std::vector<std::string> plain_argv(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--upgrade-from" || a == "--upgrade-fallback" || a == "--upgrade-binary" ||
        a == "--upgrade-failed" || a == "--upgrade-fault") {
      ++i;
    } else if (a != "--upgrade-check") {
      out.emplace_back(a);
    }
  }
  return out;
}

// The last line of an upgrade for the clusterctl that asked, on the connection handed over.
void answer(int fd, const std::string& line) {
  if (fd < 0) return;
  send(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
}

// A fault the tests inject into a take-over that passed its rehearsal (--upgrade-fault).
void inject(const std::string& fault) {
  if (fault == "throw") throw std::runtime_error("injected fault: throw");
  if (fault == "crash") raise(SIGSEGV);
  if (fault == "hang") pause();
}

// The new binary's side: take everything over before the loop runs. When that fails (throws,
// crashes or overruns), the fds are restored as they were handed over and the previous binary
// takes the state back (TakeOverGuard); it answers the waiting clusterctl with the reason.
int take_over(const UpgradeOptions& upgrade, std::vector<std::string> argv) {
  namespace daemon = clusterd::daemon;
  namespace os = clusterd::os;
  // The exec ran this binary through that fd (that file, not whatever its path names by then):
  // its work is done. Older kernels name a process executed so after the fd's number.
  if (upgrade.binary >= 0) close(upgrade.binary);
  if (!argv.empty()) os::name_process(argv.front());
  argv.insert(argv.end(), {"--upgrade-from", std::to_string(upgrade.from)});
  std::optional<daemon::UpgradeState> state;
  std::vector<int> handed;
  std::string why;
  try {
    // What the rehearsal checked: the same sealed document, decoded whole by this binary.
    state = daemon::decode_whole_upgrade_state(os::read_upgrade_state(upgrade.from));
    state->taking_back = !upgrade.failed.empty();
    handed = state->fds();
  } catch (const std::exception& e) {
    why = e.what();
  }
  os::TakeOverGuard guard(upgrade.failed.empty() ? upgrade.fallback : -1, handed, argv,
                          std::chrono::seconds(5));
  const auto give_back = [&](const std::string& reason) {
    log_critical_lines("upgrade: cannot take over: " + reason);
    if (upgrade.failed.empty()) log_critical_lines(guard.hand_back(reason));
    return kExitRuntime;
  };
  if (!state) return give_back(why);
  const int reply_fd = state->reply_fd;
  const unsigned upgrades = state->upgrades + (upgrade.failed.empty() ? 1 : 0);
  // Never torn down on failure: that would close and unlink what is being handed back.
  clusterd::loop::AsioHost* host = nullptr;
  daemon::Daemon* master = nullptr;
  try {
    // The config's `cgroups:` setting is not looked at: `taken` says where the workers' are.
    const clusterd::loop::TakenOver taken{state->notify_dir, state->cgroup_root, state->cgroup_mode,
                                          state->taking_back};
    host = new clusterd::loop::AsioHost(clusterd::control::socket_dir_of(state->control_socket), {},
                                        &taken);
    host->sd_notify("WATCHDOG=1");  // the previous binary's last ping was just before the exec
    master = new daemon::Daemon(*host, std::move(*state));
    if (upgrade.failed.empty()) inject(upgrade.fault);
  } catch (const std::exception& e) {
    return give_back(e.what());
  }
  guard.done();
  handed.insert(handed.end(), {upgrade.from, upgrade.fallback});
  os::close_on_exec(handed);
  close(upgrade.from);
  if (upgrade.fallback >= 0) close(upgrade.fallback);
  const clusterd::control::ReplyLine last =
      upgrade.failed.empty()
          ? clusterd::control::encode_done("upgraded: clusterd " + std::string(CLUSTERD_VERSION) +
                                           " pid " + std::to_string(getpid()) + ", upgrade " +
                                           std::to_string(upgrades))
          : clusterd::control::encode_error("upgrade failed: " + upgrade.failed);
  answer(reply_fd, last.text);
  os::unblock_signals();
  try {
    master->resume(upgrade.failed);
    host->run(*master);
  } catch (const std::exception& e) {
    log_critical_lines(e.what());
    return kExitRuntime;
  }
  delete master;
  delete host;
  return 0;
}

// "2025-01-02 03:00 Europe/Paris (02:00 UTC)": when `schedule` fires next, from now.
std::string next_scheduled(const clusterd::config::CronSchedule& schedule) {
  const auto offset = [&](std::int64_t t) { return clusterd::os::utc_offset(schedule.zone, t); };
  const std::optional<std::int64_t> next =
      clusterd::core::next_fire(schedule, std::time(nullptr), offset);
  if (!next) return "never";
  return clusterd::core::describe_fire(*next, schedule.zone, offset);
}

// --check's report: what would run, with `auto` resolved on this machine, and when.
void print_check(const clusterd::config::Config& config, const std::string& path) {
  const clusterd::os::CpuBudget cpus = clusterd::os::detect_cpus();
  std::cout << "clusterd: " << path << ": configuration is valid\n";
  for (const clusterd::config::AppSpec& app : config.apps) {
    std::cout << "app " << app.name << ": instances "
              << clusterd::core::resolve_instances(app, {cpus.count, cpus.reason}).second << "\n";
    if (app.restart_schedule) {
      std::cout << "app " << app.name << ": restart_schedule " << app.restart_schedule->text
                << ": next " << next_scheduled(*app.restart_schedule) << "\n";
    }
  }
}

// --print-unit: what the unit must allow, from the config. Relative paths are said on stderr: a
// unit runs clusterd from /.
clusterd::sd::UnitInput unit_input(const clusterd::config::Config& config,
                                   const std::string& environment) {
  namespace fs = std::filesystem;
  clusterd::sd::UnitInput in;
  in.clusterd = fs::read_symlink("/proc/self/exe").string();
  in.clusterctl = (fs::path(in.clusterd).parent_path() / "clusterctl").string();
  in.config = fs::absolute(config.path).lexically_normal().string();
  in.environment = environment;
  const char* path_var = std::getenv("PATH");
  const std::string path = path_var != nullptr ? path_var : "";
  // systemd's PATH for services (systemd.exec(5), "Environment variables in spawned processes").
  const std::string systemd_path = ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:";
  for (const clusterd::config::AppSpec& app : config.apps) {
    if (!app.cwd.empty()) in.app_paths.push_back(app.cwd);
    const bool relative = !app.command.empty() && app.command[0].find('/') != std::string::npos &&
                          app.command[0].front() != '/';
    if ((relative && app.cwd.empty()) || (!app.cwd.empty() && app.cwd.front() != '/')) {
      std::cerr << "clusterd: app " << app.name
                << ": a relative command or cwd is taken from clusterd's working directory, which "
                   "is / under systemd: give it an absolute cwd\n";
    }
    for (const std::string& word : app.command) {
      if (!word.empty() && word.front() == '/') in.app_paths.push_back(word);
    }
    if (!app.logs.file.empty()) {
      in.written_paths.push_back(fs::absolute(app.logs.file).lexically_normal().string());
    }
    if (app.command.empty() || app.command[0].find('/') != std::string::npos) continue;
    if (const auto found = clusterd::config::find_executable(app.command[0], path, app.cwd)) {
      in.app_paths.push_back(*found);
      const std::string dir = fs::path(*found).parent_path().string();
      if (systemd_path.find(":" + dir + ":") == std::string::npos) in.path = path;
    }
  }
  return in;
}

struct Arguments {
  std::string config_path = "/etc/clusterd/clusterd.yaml";
  std::string environment;  // --env NAME: each app's env_NAME over its env
  std::string log_level = "info";
  bool check_only = false;
  bool print_unit = false;
  bool background = false;           // -d
  std::string log_file;              // -d: where the master's output goes
  std::string log_max_size = "10M";  // -d: the log is rotated before it passes this
  unsigned log_keep = 5;             // -d: rotated logs kept
  bool fd_store = false;
  UpgradeOptions upgrade;
};

// The command line into `args`; an exit code when clusterd must end now (--help, a bad option).
std::optional<int> parse_arguments(int argc, char** argv, Arguments& args) {
  CLI::App cli{"clusterd: a process supervisor for prefork servers"};
  cli.add_option("-c,--config", args.config_path, "the YAML configuration file")
      ->capture_default_str();
  cli.add_option("--env", args.environment,
                 "merge each app's env_NAME: section over its env: (PM2's --env NAME)");
  cli.add_flag("-t,--check", args.check_only,
               "validate the configuration, print what would run, and exit (0 valid, 2 invalid)");
  cli.add_flag("--print-unit", args.print_unit,
               "print a systemd unit that runs this config (its sandbox opened as far as the apps "
               "need), and exit");
  CLI::Option* background =
      cli.add_flag("-d,--daemon", args.background,
                   "run in the background (for hosts without systemd): return once the apps are "
                   "ready, the output going to a log file rotated by size");
  cli.add_option("--log-file", args.log_file,
                 "-d: the log file (default /var/log/clusterd/clusterd.log for root, else "
                 "~/.local/state/clusterd/clusterd.log)")
      ->needs(background);
  cli.add_option("--log-max-size", args.log_max_size,
                 "-d: rotate the log before it passes this size (10M; K, M, G as in the config)")
      ->needs(background);
  cli.add_option("--log-keep", args.log_keep, "-d: how many rotated logs to keep (5)")
      ->needs(background);
  cli.add_flag("--fd-store", args.fd_store,
               "under systemd, keep every listening socket in its fd store (set "
               "FileDescriptorStoreMax= in the unit), so a restarted master loses no connection");
  cli.add_option("--log-level", args.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  // A live upgrade's, between two masters (docs/upgrade.md): not for people.
  cli.add_flag("--upgrade-check", args.upgrade.check)->group("");
  cli.add_option("--upgrade-from", args.upgrade.from)->group("");
  cli.add_option("--upgrade-fallback", args.upgrade.fallback)->group("");
  cli.add_option("--upgrade-binary", args.upgrade.binary)->group("");
  cli.add_option("--upgrade-failed", args.upgrade.failed)->group("");
  cli.add_option("--upgrade-fault", args.upgrade.fault)->group("");
  cli.set_version_flag("--version", std::string("clusterd ") + CLUSTERD_VERSION);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = cli.exit(e);
    return rc == 0 ? 0 : kExitConfig;
  }
  return std::nullopt;
}

// Every config error, then their count: the exit code of a bad config.
int report_errors(const std::vector<clusterd::config::ConfigError>& errors,
                  const std::string& path) {
  for (const clusterd::config::ConfigError& error : errors) {
    std::cerr << clusterd::printable(error.to_string()) << "\n";
  }
  std::cerr << "clusterd: " << path << ": " << errors.size()
            << (errors.size() == 1 ? " error" : " errors") << "\n";
  return kExitConfig;
}

// -d: forks the log writer and the master. In the command: the exit code, once the master said
// READY=1 (or why not). In the master: nothing, and it goes on to run.
std::optional<int> go_background(const Arguments& args, const clusterd::config::Config& config) {
  namespace os = clusterd::os;
  const clusterd::config::Result<std::uint64_t> size =
      clusterd::config::parse_size(args.log_max_size);
  if (!size.value || *size.value < 4096) {
    std::cerr << "clusterd: --log-max-size: " << (size.value ? "must be at least 4K" : size.error)
              << "\n";
    return kExitConfig;
  }
  os::Launched launched;
  try {
    launched =
        os::launch_background({args.log_file.empty() ? os::default_background_log() : args.log_file,
                               *size.value, args.log_keep});
  } catch (const std::exception& e) {
    std::cerr << "clusterd: cannot start in the background: " << clusterd::printable(e.what())
              << "\n";
    return kExitRuntime;
  }
  if (launched.master) {
    clusterd::setup_logging(args.log_level);  // its stderr is the pipe now
    return std::nullopt;
  }
  // A worker that dies within its min_uptime of the start counts as a failed start.
  std::chrono::milliseconds grace(0);
  for (const clusterd::config::AppSpec& app : config.apps) grace = std::max(grace, app.min_uptime);
  const os::Started started = os::wait_ready(launched, std::chrono::minutes(5), grace);
  const std::string pid = std::to_string(launched.pid);
  const std::string status = clusterd::printable(started.status);
  switch (started.how) {
    case os::Started::How::Ready:
      std::cout << "clusterd: started, pid " << pid << " (log writer " << launched.writer
                << "): " << status << "; its log " << launched.log << "\n";
      return 0;
    case os::Started::How::Failed:
      std::cerr << "clusterd: a worker failed to start, pid " << pid << ": " << status
                << "; it keeps running (clusterctl status; kill -TERM " << pid << " stops it)\n";
      break;
    case os::Started::How::Exited:
      os::wait_writer(launched, std::chrono::seconds(5));  // its last lines, in the log
      std::cerr << "clusterd: not started: " << status << "\n";
      break;
    case os::Started::How::NotYet:
      std::cerr << "clusterd: " << status << "; it keeps running, pid " << pid << "\n";
      break;
  }
  std::cerr << "clusterd: the end of its log, " << launched.log << ":\n";
  const std::string text = os::log_tail(launched.log, 10);  // kept: tail views into it
  std::string_view tail = text;
  while (!tail.empty()) {
    const std::size_t end = std::min(tail.find('\n'), tail.size());
    std::cerr << "  " << clusterd::printable(tail.substr(0, end)) << "\n";
    tail.remove_prefix(std::min(end + 1, tail.size()));
  }
  return kExitRuntime;
}

}  // namespace

int main(int argc, char** argv) {
  // 0. Before anything opens a fd: /dev/null on a closed fd 0-2, and low fd numbers for starting
  // workers cheaply (spawn_slots.h); then /proc, held for every status and notify check.
  clusterd::os::SpawnSlots::reserve();
  clusterd::os::proc_dir();
  clusterd::os::fix_mmap_threshold();

  // 1. Arguments.
  Arguments args;
  if (const std::optional<int> rc = parse_arguments(argc, argv, args)) return *rc;
  const std::string& config_path = args.config_path;
  const UpgradeOptions& upgrade = args.upgrade;

  // 2. Logging, before anything can fail.
  try {
    clusterd::setup_logging(args.log_level);
  } catch (const std::exception& e) {
    std::cerr << "clusterd: " << e.what() << "\n";
    return kExitConfig;
  }

  // A live upgrade: the rehearsal, or the take-over (the config comes with the state).
  if (upgrade.check) return check_upgrade_state();
  if (upgrade.from >= 0) {
    signal(SIGPIPE, SIG_IGN);
    spdlog::info("clusterd {} pid {} taking over{}", CLUSTERD_VERSION, getpid(),
                 upgrade.failed.empty() ? "" : " again");
    return take_over(upgrade, plain_argv(argc, argv));
  }

  // 3. Configuration: parse, then check it against this machine; print every problem.
  clusterd::config::ParseResult parsed =
      clusterd::config::load_config(config_path, args.environment);
  if (parsed.config) {
    for (clusterd::config::ConfigError& error :
         clusterd::config::check_environment(*parsed.config)) {
      parsed.errors.push_back(std::move(error));
    }
  }
  if (!parsed.errors.empty()) return report_errors(parsed.errors, config_path);
  clusterd::loop::resolve_control_socket(*parsed.config);

  // 4. --check: what would run, with `auto` resolved on this machine; --print-unit: how systemd
  // would run it.
  if (args.check_only) {
    print_check(*parsed.config, config_path);
    return 0;
  }
  if (args.print_unit) {
    std::cout << clusterd::sd::unit_file(unit_input(*parsed.config, args.environment));
    return 0;
  }
  // -d: the command waits for the master's READY=1 and returns; the master goes on below.
  if (args.background) {
    if (const std::optional<int> rc = go_background(args, *parsed.config)) return *rc;
  }

  // 5. Bind and run. A write to a vanished peer must be an error, not a death.
  signal(SIGPIPE, SIG_IGN);
  clusterd::daemon::DaemonOptions options;
  options.config = std::move(*parsed.config);
  options.fd_store = args.fd_store;
  options.inherited_nofile = raise_nofile();
  options.argv = plain_argv(argc, argv);
  spdlog::info("clusterd {} pid {} starting", CLUSTERD_VERSION, getpid());
  try {
    clusterd::loop::AsioHost host(clusterd::control::socket_dir_of(options.config.control.socket),
                                  options.config.cgroups);
    clusterd::daemon::Daemon daemon(host, std::move(options));
    daemon.start();
    host.run(daemon);
    return 0;
  } catch (const std::exception& e) {
    log_critical_lines(e.what());
    return kExitRuntime;
  }
}
