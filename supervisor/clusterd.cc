// clusterd: the master daemon. main() is a list of named steps.
// Exit codes: 0 stopped cleanly (or --check passed), 1 a runtime failure (address in use, ...),
// 2 usage or configuration errors.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "config/check.h"
#include "config/parse.h"
#include "supervisor/core/types.h"
#include "supervisor/daemon.h"
#include "supervisor/logging.h"
#include "supervisor/os/cpus.h"

namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitConfig = 2;

// Resolves `instances` for every app: a number as written, or `auto` = the usable CPUs.
void resolve_instances(clusterd::DaemonOptions& options, const clusterd::os::CpuBudget& cpus) {
  for (const clusterd::config::AppSpec& app : options.config.apps) {
    if (app.instances.count) {
      options.instances.push_back(*app.instances.count);
      options.instances_reason.push_back(std::to_string(*app.instances.count) + ": set in config");
    } else {
      options.instances.push_back(cpus.count);
      options.instances_reason.push_back(cpus.reason);
    }
    options.cpus.push_back(cpus.allowed);
  }
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
      std::cerr << error.to_string() << "\n";
    }
    std::cerr << "clusterd: " << config_path << ": " << parsed.errors.size()
              << (parsed.errors.size() == 1 ? " error" : " errors") << "\n";
    return kExitConfig;
  }

  // 4. Worker counts: `auto` is the CPUs we may really use (affinity and cgroup quota).
  clusterd::DaemonOptions options;
  options.config = std::move(*parsed.config);
  options.fd_store = fd_store;
  try {
    resolve_instances(options, clusterd::os::detect_cpus());
  } catch (const std::exception& e) {
    std::cerr << "clusterd: " << e.what() << "\n";
    return kExitRuntime;
  }

  if (check_only) {
    std::cout << "clusterd: " << config_path << ": configuration is valid\n";
    for (std::size_t a = 0; a < options.config.apps.size(); ++a) {
      std::cout << "app " << options.config.apps[a].name << ": instances "
                << options.instances_reason[a] << "\n";
    }
    return 0;
  }

  // 5. Bind and run. A write to a vanished peer must be an error, not a death. Each worker costs
  //    the master two fds (pidfd, notify socket), so lift our soft RLIMIT_NOFILE to the hard one;
  //    the workers get the original back.
  signal(SIGPIPE, SIG_IGN);
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
    options.inherited_nofile = std::make_pair(static_cast<unsigned long>(nofile.rlim_cur),
                                              static_cast<unsigned long>(nofile.rlim_max));
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  try {
    clusterd::Daemon daemon(std::move(options));
    return daemon.run();
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return kExitRuntime;
  }
}
