// clusterd: the master daemon. main() is a list of named steps.
// Exit codes: 0 stopped cleanly (or --check passed), 1 a runtime failure (address in use, ...),
// 2 usage or configuration errors.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string_view>

#include "config/check.h"
#include "config/parse.h"
#include "supervisor/control/socket_dir.h"
#include "supervisor/core/reload_plan.h"
#include "supervisor/daemon/daemon.h"
#include "supervisor/logging.h"
#include "supervisor/loop/asio_host.h"
#include "supervisor/os/cpus.h"
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

}  // namespace

int main(int argc, char** argv) {
  // 1. Arguments.
  CLI::App cli{"clusterd: a process supervisor for prefork servers"};
  std::string config_path = "/etc/clusterd/clusterd.yaml";
  std::string log_level = "info";
  bool check_only = false;
  bool fd_store = false;
  cli.add_option("-c,--config", config_path, "the YAML configuration file")->capture_default_str();
  cli.add_flag("-t,--check", check_only,
               "validate the configuration, print what would run, and exit (0 valid, 2 invalid)");
  cli.add_flag("--fd-store", fd_store,
               "under systemd, keep every listening socket in its fd store (set "
               "FileDescriptorStoreMax= in the unit), so a restarted master loses no connection");
  cli.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
  cli.set_version_flag("--version", std::string("clusterd ") + CLUSTERD_VERSION);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = cli.exit(e);
    return rc == 0 ? 0 : kExitConfig;
  }

  // 2. Logging, before anything can fail.
  try {
    clusterd::setup_logging(log_level);
  } catch (const std::exception& e) {
    std::cerr << "clusterd: " << e.what() << "\n";
    return kExitConfig;
  }

  // 3. Configuration: parse, then check it against this machine; print every problem.
  clusterd::config::ParseResult parsed = clusterd::config::load_config(config_path);
  if (parsed.config) {
    for (clusterd::config::ConfigError& error :
         clusterd::config::check_environment(*parsed.config)) {
      parsed.errors.push_back(std::move(error));
    }
  }
  if (!parsed.errors.empty()) {
    for (const clusterd::config::ConfigError& error : parsed.errors) {
      std::cerr << clusterd::printable(error.to_string()) << "\n";
    }
    std::cerr << "clusterd: " << config_path << ": " << parsed.errors.size()
              << (parsed.errors.size() == 1 ? " error" : " errors") << "\n";
    return kExitConfig;
  }
  clusterd::loop::resolve_control_socket(*parsed.config);

  // 4. --check: what would run, with `auto` resolved on this machine.
  if (check_only) {
    const clusterd::os::CpuBudget cpus = clusterd::os::detect_cpus();
    std::cout << "clusterd: " << config_path << ": configuration is valid\n";
    for (const clusterd::config::AppSpec& app : parsed.config->apps) {
      std::cout << "app " << app.name << ": instances "
                << clusterd::core::resolve_instances(app, {cpus.count, cpus.reason}).second << "\n";
    }
    return 0;
  }

  // 5. Bind and run. A write to a vanished peer must be an error, not a death.
  signal(SIGPIPE, SIG_IGN);
  clusterd::daemon::DaemonOptions options;
  options.config = std::move(*parsed.config);
  options.fd_store = fd_store;
  options.inherited_nofile = raise_nofile();
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
