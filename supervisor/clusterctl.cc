// clusterctl: argv -> request -> call -> print. A thin client over the control protocol.
// Exit codes: 0 done, 1 the daemon refused or the action failed, 2 usage, 3 no daemon reachable.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/control/client.h"
#include "supervisor/control/paths.h"
#include "supervisor/control/protocol.h"
#include "supervisor/control/socket_dir.h"
#include "supervisor/control/top.h"
#include "text/printable.h"

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

using clusterd::control::StatusSnapshot;

std::string human_duration(double seconds) {
  const long s = static_cast<long>(seconds);
  char text[32];
  if (s < 60) {
    std::snprintf(text, sizeof text, "%lds", s);
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%ldm%lds", s / 60, s % 60);
  } else if (s < 86400) {
    std::snprintf(text, sizeof text, "%ldh%ldm", s / 3600, (s % 3600) / 60);
  } else {
    std::snprintf(text, sizeof text, "%ldd%ldh", s / 86400, (s % 86400) / 3600);
  }
  return text;
}

std::string human_kb(std::uint64_t kb) {
  char text[32];
  if (kb < 1024) {
    std::snprintf(text, sizeof text, "%llu KB", static_cast<unsigned long long>(kb));
  } else if (kb < 1024 * 1024) {
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(kb) / 1024.0);
  } else {
    std::snprintf(text, sizeof text, "%.2f GB", static_cast<double>(kb) / 1048576.0);
  }
  return text;
}

// Prints rows as columns padded to the widest cell; `colour[r]` wraps row r's state cell.
// Prints rows as columns padded to the widest cell; `colour[r]` wraps row r's state cell. Every
// cell is escaped: worker-controlled text (STATUS=, names) must not drive the terminal.
void print_table(std::vector<std::vector<std::string>> rows, const std::vector<std::string>& colour,
                 std::size_t state_column) {
  std::vector<std::size_t> width;
  for (auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size());
    for (std::size_t c = 0; c < row.size(); ++c) {
      row[c] = clusterd::printable(row[c]);
      width[c] = std::max(width[c], row[c].size());
    }
  }
  for (std::size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      std::string cell = rows[r][c];
      const std::size_t pad = width[c] - cell.size();
      if (c == state_column && !colour[r].empty()) cell = colour[r] + cell + "\033[0m";
      line += cell;
      if (c + 1 < rows[r].size()) line += std::string(pad + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

void print_status(const StatusSnapshot& status, bool tty) {
  std::vector<std::vector<std::string>> rows = {{"APP", "ID", "PID", "STATE", "GEN", "UPTIME",
                                                 "RESTARTS", "THREADS", "PROCS", "CPU", "MEM",
                                                 "CPUS", "LAST EXIT", "STATUS"}};
  std::vector<std::string> colour = {tty ? "\033[1m" : ""};
  for (const auto& app : status.apps) {
    for (const auto& w : app.workers) {
      char cpu[16];
      std::snprintf(cpu, sizeof cpu, "%.1f%%", w.cpu_percent);
      const bool live = w.pid != 0;
      const bool bad = w.state == "failed" || w.state == "backoff";
      std::string state = w.state;
      if (bad && !w.last_exit.empty()) state += " (" + w.last_exit + ")";
      rows.push_back({app.name, std::to_string(w.id), live ? std::to_string(w.pid) : "-", state,
                      std::to_string(w.generation), live ? human_duration(w.uptime_s) : "-",
                      std::to_string(w.restarts), live ? std::to_string(w.threads) : "-",
                      live ? std::to_string(w.processes) : "-", live ? cpu : "-",
                      live ? human_kb(w.rss_kb) : "-", live ? w.cpus : "-",
                      w.last_exit.empty() ? "-" : w.last_exit, w.status_text});
      std::string c;
      if (tty) {
        if (w.state == "running") c = "\033[32m";
        if (w.state == "starting" || w.state == "stopping") c = "\033[33m";
        if (bad) c = "\033[31;1m";
      }
      colour.push_back(c);
    }
  }
  print_table(rows, colour, 3);
  for (const auto& app : status.apps) {
    std::cout << clusterd::printable(app.name) << ": " << app.ready << "/" << app.instances
              << " ready, instances " << clusterd::printable(app.instances_reason) << ", logs "
              << clusterd::printable(app.logs);
    if (app.log_dropped_bytes > 0) std::cout << " (" << app.log_dropped_bytes << " bytes dropped)";
    std::cout << "\n";
  }
  std::cout << "master pid " << status.master.pid << ", " << status.master.threads
            << (status.master.threads == 1 ? " thread, " : " threads, ")
            << human_kb(status.master.rss_kb) << ", up " << human_duration(status.master.uptime_s)
            << "; whole tree: " << status.totals.processes << " processes, "
            << status.totals.threads << " threads\n";
  if (!status.master.cgroups.empty()) {
    std::cout << clusterd::printable(status.master.cgroups) << "\n";
  }
}

// "30s", "10m", "2h", "1d", "500ms" -> milliseconds.
std::optional<std::uint64_t> duration_ms(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 9) return std::nullopt;
  const std::uint64_t n = std::stoull(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  if (unit == "ms") return n;
  if (unit == "s" || unit.empty()) return n * 1000;
  if (unit == "m") return n * 60 * 1000;
  if (unit == "h") return n * 3600 * 1000;
  if (unit == "d") return n * 86400 * 1000;
  return std::nullopt;
}

std::string clock_time(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  std::snprintf(text + n, sizeof text - n, ".%03d", static_cast<int>(ms % 1000));
  return text;
}

// One colour per worker slot on a terminal, so interleaved workers stay apart.
const char* worker_colour(unsigned worker) {
  static const char* const colours[] = {"\033[36m", "\033[33m", "\033[35m",
                                        "\033[32m", "\033[34m", "\033[91m"};
  return colours[worker % (sizeof colours / sizeof colours[0])];
}

void print_log(const clusterd::control::LogRecord& r, bool json, bool tty) {
  if (json) {
    std::cout << clusterd::control::record_json(r) << std::flush;
    return;
  }
  const std::string who = clusterd::printable(r.app) + "[" + std::to_string(r.worker) + "]";
  std::cout << clock_time(r.time_ms) << " " << (tty ? worker_colour(r.worker) : "") << who
            << (tty ? "\033[0m" : "") << " " << r.pid << (r.err ? " err| " : " out| ")
            << clusterd::printable(r.text) << (r.cut ? " [cut]" : "") << "\n"
            << std::flush;
}

void print_event(const clusterd::control::EventRecord& e, bool json) {
  if (json) {
    std::cout << clusterd::control::record_json(e) << std::flush;
    return;
  }
  std::string who = e.app.empty() ? "clusterd" : clusterd::printable(e.app);
  if (e.worker >= 0) who += "[" + std::to_string(e.worker) + "]";
  if (e.generation != 0) who += " gen " + std::to_string(e.generation);
  if (e.pid != 0) who += " pid " + std::to_string(e.pid);
  std::cout << clock_time(e.time_ms) << " " << e.kind << " " << who << ": "
            << clusterd::printable(e.reason) << "\n"
            << std::flush;
}

// What the command line says.
struct Args {
  std::string socket_path;
  double timeout_s = 30;
  std::string app;
  std::string instances;  // scale: N or auto
  bool json = false;
  int worker = -1;
  bool no_wait = false;
  int lines = -1;  // -1: the daemon's default
  bool follow = false;
  std::string since;
  double interval_s = 1;    // top
  std::string sort = "id";  // top
  unsigned iterations = 0;  // top
  bool plain = false;       // top
  bool detail = false;      // status
  bool check = false;       // status
  std::string binary;       // upgrade
  CLI::App* top = nullptr;
  std::vector<std::pair<const clusterd::control::CommandSpec*, CLI::App*>> verbs;
};

// One subcommand per verb of the command table, with the arguments it declares.
void add_verbs(CLI::App& cli, Args& args) {
  using clusterd::control::AppArg;
  for (const clusterd::control::CommandSpec& spec : clusterd::control::kCommands) {
    CLI::App* sub = cli.add_subcommand(spec.name, spec.summary);
    if (spec.app == AppArg::Required) sub->add_option("app", args.app, "the app")->required();
    if (spec.app == AppArg::Optional) sub->add_option("app", args.app, "only this app");
    if (spec.instances) {
      sub->add_option("instances", args.instances,
                      "the new number of workers (>= 1), or auto: what instances: auto gives now")
          ->required();
    }
    if (spec.worker) sub->add_option("-w,--worker", args.worker, "only this worker slot (0-based)");
    if (spec.wait) sub->add_flag("--no-wait", args.no_wait, "return as soon as it has started");
    if (spec.command == clusterd::control::Command::Status) {
      sub->add_flag("--json", args.json,
                    "the status as JSON (stable; see docs/control-protocol.md)");
      sub->add_flag("--check", args.check,
                    "a probe: exit 0 when every app (or APP) has all its workers ready, else 1");
      sub->add_flag("--detail", args.detail,
                    "with each worker's PSS, USS and open fds (about 0.2 ms a worker to read)");
    }
    if (spec.history) {
      sub->add_option("-n,--lines", args.lines, "how many of the latest to show (default 20)")
          ->check(CLI::NonNegativeNumber);
      sub->add_flag("-f,--follow", args.follow,
                    "then show the new ones as they come (Ctrl-C ends)");
      sub->add_option("--since", args.since, "only those of the last DURATION (30s, 10m, 2h, 1d)");
      sub->add_flag("--json", args.json, "one JSON object per line (see docs/control-protocol.md)");
    }
    if (spec.command == clusterd::control::Command::Upgrade) {
      sub->add_option("--binary", args.binary,
                      "the new clusterd binary (default: the one the master was started from)");
    }
    args.verbs.emplace_back(&spec, sub);
  }
  // A client-side verb: status and events, over and over.
  args.top = cli.add_subcommand(
      "top", "a live view of the workers, refreshed (keys: q quits; c, m, r, a, n sort)");
  args.top->add_option("app", args.app, "only this app");
  args.top->add_option("-i,--interval", args.interval_s, "seconds between refreshes (default 1)")
      ->check(CLI::Range(0.1, 3600.0));
  args.top->add_option("--sort", args.sort, "the first order: id, cpu, memory, restarts, queue")
      ->check(CLI::IsMember({"id", "cpu", "memory", "restarts", "queue"}));
  args.top->add_option("-n,--iterations", args.iterations,
                       "end after this many refreshes (default: when q is pressed)");
  args.top->add_flag("--plain", args.plain,
                     "the plain table, once per refresh, even on a terminal");
}

int run_top(const Args& args) {
  clusterd::control::TopOptions options;
  options.socket_path = args.socket_path;
  if (!args.app.empty()) options.app = args.app;
  options.interval = std::chrono::milliseconds(std::lround(args.interval_s * 1000));
  options.timeout = std::chrono::milliseconds(std::lround(args.timeout_s * 1000));
  options.sort = args.sort == "cpu"        ? 'c'
                 : args.sort == "memory"   ? 'm'
                 : args.sort == "restarts" ? 'r'
                 : args.sort == "queue"    ? 'a'
                                           : 'n';
  options.iterations = args.iterations;
  options.force_plain = args.plain;
  return clusterd::control::run_top(options);
}

clusterd::control::Request request_of(const Args& args) {
  clusterd::control::Request request;
  for (const auto& [spec, sub] : args.verbs) {
    if (sub->parsed()) request.command = spec->command;
  }
  const clusterd::control::CommandSpec& spec = clusterd::control::spec_of(request.command);
  if (!args.app.empty()) request.app = args.app;
  if (spec.instances) {
    if (args.instances == "auto") {
      request.instances_auto = true;
    } else {
      char* end = nullptr;
      const unsigned long n = std::strtoul(args.instances.c_str(), &end, 10);
      if (args.instances.empty() || *end != '\0' || args.instances[0] == '-' || n > 65536) {
        std::cerr << "clusterctl: scale: expected a number of workers or auto, got '"
                  << clusterd::printable(args.instances) << "'\n";
        std::exit(kExitUsage);
      }
      request.instances = static_cast<unsigned>(n);
    }
  }
  if (spec.worker && args.worker >= 0) request.worker = static_cast<unsigned>(args.worker);
  if (spec.wait) request.wait = !args.no_wait;
  if (request.command == clusterd::control::Command::Status) request.detail = args.detail;
  if (request.command == clusterd::control::Command::Upgrade && !args.binary.empty()) {
    // The daemon runs elsewhere: a relative path is made absolute here.
    request.binary = args.binary.front() == '/'
                         ? args.binary
                         : std::filesystem::current_path().string() + "/" + args.binary;
  }
  if (spec.history) {
    if (args.lines >= 0) request.lines = static_cast<unsigned>(args.lines);
    request.follow = args.follow;
    if (!args.since.empty()) {
      const std::optional<std::uint64_t> ms = duration_ms(args.since);
      if (!ms) {
        std::cerr << "clusterctl: --since: expected a duration such as 30s, 10m, 2h or 1d, got '"
                  << clusterd::printable(args.since) << "'\n";
        std::exit(kExitUsage);
      }
      request.since_ms = *ms;
    }
  }
  return request;
}

// Sends the request and returns the final reply line; progress lines go to stderr. Exits with
// the documented code when there is no reply. A read that the master closed without an answer
// (it was replaced by a live upgrade at that moment) is asked again, once.
std::string call(const Args& args, const clusterd::control::Request& request, bool again = true) {
  try {
    return clusterd::control::call(
        args.socket_path, clusterd::control::encode_request(request),
        request.follow
            ? std::chrono::milliseconds(0)
            : std::chrono::milliseconds(static_cast<long long>(std::lround(args.timeout_s * 1000))),
        [&args, tty = isatty(STDOUT_FILENO) == 1](const std::string& reply_line) {
          try {
            const clusterd::control::Reply line = clusterd::control::decode_reply(reply_line);
            if (line.progress) std::cerr << clusterd::printable(*line.progress) << "\n";
            if (line.log) print_log(*line.log, args.json, tty);
            if (line.event) print_event(*line.event, args.json);
            return !line.more();
          } catch (const std::exception&) {
            return true;  // let the caller report it
          }
        });
  } catch (const clusterd::control::Unreachable& e) {
    std::cerr << "clusterctl: no clusterd reachable at " << e.what() << "\n";
    std::exit(kExitUnreachable);
  } catch (const clusterd::control::ClosedWithoutReply& e) {
    const bool read =
        clusterd::control::spec_of(request.command).role == clusterd::control::Role::Read;
    if (again && read && !request.follow) return call(args, request, false);
    std::cerr << "clusterctl: " << args.socket_path << ": " << e.what()
              << (read ? "" : " (an upgrade of the master may have cut it: check, then retry)")
              << "\n";
    std::exit(kExitRefused);
  } catch (const std::exception& e) {
    std::cerr << "clusterctl: " << args.socket_path << ": " << e.what() << "\n";
    std::exit(kExitRefused);
  }
}

// `status --check`: one line per app, exit 0 when each has as many ready workers as it wants
// (a readiness probe for Kubernetes, a load balancer, a deploy script).
int check_ready(const StatusSnapshot& status) {
  bool all = true;
  for (const auto& app : status.apps) {
    const bool ready = app.ready >= app.instances;
    all = all && ready;
    std::cout << clusterd::printable(app.name) << ": " << app.ready << "/" << app.instances
              << " ready" << (ready ? "" : " (not ready)") << "\n";
  }
  return all ? 0 : kExitRefused;
}

int print_reply(const Args& args, const clusterd::control::Request& request,
                const std::string& line) {
  if (args.json && !args.check && request.command == clusterd::control::Command::Status) {
    if (const std::optional<std::string> text = clusterd::control::reply_status_json(line)) {
      std::cout << *text << "\n";
      return 0;
    }
  }
  clusterd::control::Reply reply;
  try {
    reply = clusterd::control::decode_reply(line);
  } catch (const std::exception& e) {
    std::cerr << "clusterctl: " << e.what() << "\n";
    return kExitRefused;
  }
  if (!reply.ok) {
    std::cerr << "clusterctl: " << clusterd::printable(reply.error, true) << "\n";
    return kExitRefused;
  }
  if (reply.status && args.check) return check_ready(*reply.status);
  if (reply.status) {
    if (args.json) {
      std::cout << clusterd::control::status_json(*reply.status) << "\n";
    } else {
      print_status(*reply.status, isatty(STDOUT_FILENO) == 1);
    }
  } else if (clusterd::control::spec_of(request.command).history) {
    if (!args.json) std::cerr << clusterd::printable(reply.message) << "\n";
  } else if (request.command == clusterd::control::Command::Version) {
    std::cout << "clusterctl " << CLUSTERD_VERSION
              << ", daemon: " << clusterd::printable(reply.message) << ", protocol "
              << reply.version << "\n";
  } else {
    std::cout << clusterd::printable(reply.message, true) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "clusterctl: control a running clusterd\n"
      "exit codes: 0 done, 1 the daemon refused or the action failed, 2 usage, 3 no daemon "
      "reachable"};
  cli.require_subcommand(1);
  Args args;
  cli.add_option("-s,--socket", args.socket_path,
                 "control socket (default: $CLUSTERD_SOCKET, else the daemon's default)");
  cli.add_option("--timeout", args.timeout_s,
                 "seconds to wait for the reply (reload: for each progress line)")
      ->capture_default_str();
  add_verbs(cli, args);
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = cli.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  if (args.socket_path.empty()) {
    const char* env = std::getenv("CLUSTERD_SOCKET");
    args.socket_path = env && *env ? env : clusterd::control::default_socket_path();
  }
  // Whoever can replace the socket can answer in the daemon's name: check before believing it.
  if (std::optional<std::string> why = clusterd::control::distrust_socket(args.socket_path)) {
    std::cerr << "clusterctl: not trusting control socket " << args.socket_path << ": "
              << clusterd::printable(*why) << "\n";
    return kExitRefused;
  }
  if (args.top->parsed()) return run_top(args);
  const clusterd::control::Request request = request_of(args);
  return print_reply(args, request, call(args, request));
}
