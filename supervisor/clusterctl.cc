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

#include "supervisor/control/arguments.h"
#include "supervisor/control/client.h"
#include "supervisor/control/config_socket.h"
#include "supervisor/control/ecosystem.h"
#include "supervisor/control/paths.h"
#include "supervisor/control/protocol.h"
#include "supervisor/control/socket_dir.h"
#include "supervisor/control/status_table.h"
#include "supervisor/control/top.h"
#include "text/printable.h"

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreachable = 3;

using clusterd::control::StatusSnapshot;

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
  std::cout << clock_time(e.time_ms) << " " << clusterd::printable(e.kind) << " " << who << ": "
            << clusterd::printable(e.reason)
            << (e.last_words.empty() ? "" : ": " + clusterd::printable(e.last_words)) << "\n"
            << std::flush;
}

// What the command line says.
struct Args {
  std::string socket_path;
  std::string config_path;  // -c: the socket its config names
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
  bool env = false;         // describe
  bool flush = false;       // logs --flush: the verb flush
  std::string import_file;  // import
  CLI::App* top = nullptr;
  CLI::App* import = nullptr;
  std::vector<std::pair<const clusterd::control::CommandSpec*, CLI::App*>> verbs;
};

// The clusterctl arguments of one Arg of the command table (its flags and their help).
void add_arg(clusterd::control::Arg arg, CLI::App* sub, Args& args) {
  using clusterd::control::Arg;
  switch (arg) {
    case Arg::Scale:
      sub->add_option("instances", args.instances,
                      "the new number of workers (>= 1); +N or -N: N more or N fewer than it "
                      "has; auto: what instances: auto gives now")
          ->required();
      return;
    case Arg::Worker:
      sub->add_option("-w,--worker", args.worker, "only this worker slot (0-based)");
      return;
    case Arg::Wait:
      sub->add_flag("--no-wait", args.no_wait, "return as soon as it has started");
      return;
    case Arg::History:
      sub->add_option("-n,--lines", args.lines, "how many of the latest to show (default 20)")
          ->check(CLI::NonNegativeNumber);
      sub->add_flag("-f,--follow", args.follow,
                    "then show the new ones as they come (Ctrl-C ends)");
      sub->add_option("--since", args.since, "only those of the last DURATION (30s, 10m, 2h, 1d)");
      sub->add_flag("--json", args.json, "one JSON object per line (see docs/control-protocol.md)");
      return;
    case Arg::Detail:
      sub->add_flag("--json", args.json,
                    "the status as JSON (stable; see docs/control-protocol.md)");
      sub->add_flag("--check", args.check,
                    "a probe: exit 0 when every app (or APP) has all its workers ready, else 1");
      sub->add_flag("--detail", args.detail,
                    "with each worker's PSS, USS and open fds: columns of the table, numbers in "
                    "--json (about 0.2 ms a worker to read)");
      return;
    case Arg::Binary:
      sub->add_option("--binary", args.binary,
                      "the new clusterd binary (default: the one the master was started from)");
      return;
    case Arg::Env:
      sub->add_flag("--env", args.env, "the env values too (secret-looking names stay redacted)");
      sub->add_flag("--json", args.json, "as JSON (see docs/control-protocol.md)");
      return;
  }
}

// What the command line gave for one Arg, into the request.
void read_arg(clusterd::control::Arg arg, const Args& args, clusterd::control::Request& request) {
  using clusterd::control::Arg;
  switch (arg) {
    case Arg::Scale:
      if (const std::optional<std::string> error =
              clusterd::control::read_scale_target(args.instances, request)) {
        std::cerr << "clusterctl: " << *error << "\n";
        std::exit(kExitUsage);
      }
      return;
    case Arg::Worker:
      if (args.worker >= 0) request.worker = static_cast<unsigned>(args.worker);
      return;
    case Arg::Wait:
      request.wait = !args.no_wait;
      return;
    case Arg::History:
      if (args.lines >= 0) request.lines = static_cast<unsigned>(args.lines);
      request.follow = args.follow;
      if (!args.since.empty()) {
        const std::optional<std::uint64_t> ms = clusterd::control::duration_ms(args.since);
        if (!ms) {
          std::cerr << "clusterctl: --since: expected a duration such as 30s, 10m, 2h or 1d, got '"
                    << clusterd::printable(args.since) << "'\n";
          std::exit(kExitUsage);
        }
        request.since_ms = *ms;
      }
      return;
    case Arg::Detail:
      request.detail = args.detail;
      return;
    case Arg::Binary:
      if (!args.binary.empty()) {
        // The daemon runs elsewhere: a relative path is made absolute here.
        request.binary = args.binary.front() == '/'
                             ? args.binary
                             : std::filesystem::current_path().string() + "/" + args.binary;
      }
      return;
    case Arg::Env:
      request.env = args.env;
      return;
  }
}

// One subcommand per verb of the command table, with the arguments it declares.
void add_verbs(CLI::App& cli, Args& args) {
  using clusterd::control::AppArg;
  for (const clusterd::control::CommandSpec& spec : clusterd::control::kCommands) {
    CLI::App* sub = cli.add_subcommand(std::string(spec.name), std::string(spec.summary));
    if (spec.app == AppArg::Required) sub->add_option("app", args.app, "the app")->required();
    if (spec.app == AppArg::Optional) sub->add_option("app", args.app, "only this app");
    for (const clusterd::control::Arg arg : clusterd::control::kArgs) {
      if (spec.args.has(arg)) add_arg(arg, sub, args);
    }
    if (spec.command == clusterd::control::Command::Logs) {
      sub->add_flag("--flush", args.flush, "empty them (and the log file) instead: as `flush`");
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
  // A client-side verb that needs no daemon: a PM2 ecosystem file to a config (docs/from-pm2.md).
  args.import = cli.add_subcommand(
      "import",
      "a PM2 ecosystem file (.js evaluated with node, .json, .yaml) as a clusterd config "
      "on stdout; what became of each key on stderr");
  args.import->add_option("file", args.import_file, "the ecosystem file")->required();
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
  if (args.flush) request.command = clusterd::control::Command::Flush;
  const clusterd::control::CommandSpec& spec = clusterd::control::spec_of(request.command);
  if (!args.app.empty()) request.app = args.app;
  for (const clusterd::control::Arg arg : clusterd::control::kArgs) {
    if (spec.args.has(arg)) read_arg(arg, args, request);
  }
  return request;
}

// Sends the request and returns the final reply line; progress lines go to stderr. Exits with
// the documented code when there is no reply. A read that the master closed without an answer
// (it was replaced by a live upgrade at that moment) is asked again, once. `status`: set when
// the final line is a status decoded as it was read.
std::string call(const Args& args, const clusterd::control::Request& request,
                 clusterd::control::StatusReply* status = nullptr, bool again = true) {
  try {
    return clusterd::control::call(
        args.socket_path, clusterd::control::encode_request(request),
        request.follow
            ? std::chrono::milliseconds(0)
            : std::chrono::milliseconds(static_cast<long long>(std::lround(args.timeout_s * 1000))),
        [&args, status, tty = isatty(STDOUT_FILENO) == 1](const std::string& reply_line) {
          if (status != nullptr) {  // a status: decoded once, as its printing needs it
            *status = clusterd::control::decode_status_reply(reply_line, args.json && !args.check);
            if (status->json || status->snapshot) return true;
          }
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
    if (again && read && !request.follow) return call(args, request, status, false);
    std::cerr << "clusterctl: " << args.socket_path << ": " << e.what()
              << (read ? "" : " (an upgrade of the master may have cut it: check, then retry)")
              << "\n";
    std::exit(kExitRefused);
  } catch (const std::exception& e) {
    std::cerr << "clusterctl: " << args.socket_path << ": " << e.what() << "\n";
    std::exit(kExitRefused);
  }
}

// `status --check`: exit 0 when each app has as many ready workers as it wants.
int check_ready(const StatusSnapshot& status) {
  bool all = true;
  std::cout << clusterd::control::ready_check(status, all);
  return all ? 0 : kExitRefused;
}

int print_reply(const Args& args, const clusterd::control::Request& request,
                const std::string& line, const clusterd::control::StatusReply& status) {
  if (status.json) {  // a status, pretty-printed as it came
    std::cout << *status.json << "\n";
    return 0;
  }
  if (status.snapshot) {
    if (args.check) return check_ready(*status.snapshot);
    std::cout << clusterd::control::status_table(*status.snapshot,
                                                 {isatty(STDOUT_FILENO) == 1, request.detail});
    return 0;
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
  if (reply.description) {
    std::cout << (args.json ? clusterd::control::describe_json(*reply.description) + "\n"
                            : clusterd::control::describe_text(*reply.description));
    return 0;
  }
  if (reply.status) {
    if (args.json) {
      std::cout << clusterd::control::status_json(*reply.status) << "\n";
    } else {
      std::cout << clusterd::control::status_table(*reply.status,
                                                   {isatty(STDOUT_FILENO) == 1, request.detail});
    }
  } else if (clusterd::control::spec_of(request.command)
                 .args.has(clusterd::control::Arg::History)) {
    // The records went to stdout; the last line says how many (nothing to parse there).
    if (!args.json) std::cerr << clusterd::printable(reply.message) << "\n";
  } else {
    std::cout << clusterd::printable(reply.message, true) << "\n";
  }
  return 0;
}

// What an unknown word is compared with: the options `app` takes ("-s", "--socket", ...).
std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* option : app.get_options()) {
    if (!option->nonpositional()) continue;
    for (const std::string& name : option->get_snames()) names.push_back("-" + name);
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
  }
  return names;
}

// "a, b, c", without -h and --help (every verb has them).
std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& word : words) {
    if (word != "-h" && word != "--help") out += (out.empty() ? "" : ", ") + word;
  }
  return out;
}

// Names the first word the parser did not take (an unknown verb or option, an argument too
// many) with the nearest known one and the list to choose from, or says that a verb is
// missing; returns the exit code (2), or nullopt when there is nothing to say.
std::optional<int> refuse_leftovers(const CLI::App& cli, const Args& args) {
  std::vector<std::string> verbs;  // the command table's, and the client's own
  for (const auto& [spec, sub] : args.verbs) verbs.emplace_back(spec->name);
  verbs.push_back(args.top->get_name());
  verbs.push_back(args.import->get_name());
  const std::vector<CLI::App*> parsed = cli.get_subcommands();
  const CLI::App* where = &cli;
  std::vector<std::string> left = cli.remaining(false);
  if (left.empty() && !parsed.empty()) {
    where = parsed.front();
    left = where->remaining(false);
  }
  const std::string verb = where == &cli ? "" : where->get_name();
  const std::string help = "clusterctl " + (verb.empty() ? "" : verb + " ") + "--help";
  const auto say = [](const std::string& what, const std::optional<std::string>& near,
                      const std::string& then) {
    std::cerr << "clusterctl: " << clusterd::printable(what)
              << (near ? "; did you mean '" + *near + "'?" : "") << "\n"
              << clusterd::printable(then) << "\n";
    return kExitUsage;
  };
  const std::string commands = "commands: " + joined(verbs) + "; " + help + " says what each does";
  if (left.empty() && parsed.empty()) return say("a command is required", std::nullopt, commands);
  if (left.empty()) return std::nullopt;
  if (parsed.empty()) {  // the verb, if any word is not an option
    for (const std::string& word : left) {
      if (!word.empty() && word[0] == '-') continue;
      return say("unknown command '" + word + "'", clusterd::control::closest(word, verbs),
                 commands);
    }
  }
  const std::string of = verb.empty() ? "" : verb + ": ";
  const std::string& word = left.front();
  if (word.size() < 2 || word[0] != '-') {
    return say(of + "unexpected argument '" + word + "'", std::nullopt,
               help + " says what it takes");
  }
  const std::string name = word.substr(0, word.find('='));  // --option=value
  const std::vector<std::string> options = option_names(*where);
  const std::string list = joined(options);
  return say(of + "unknown option '" + name + "'", clusterd::control::closest(name, options),
             (list.empty() ? (verb.empty() ? "clusterctl" : verb) + " takes no options"
                           : (verb.empty() ? "options: " : verb + " options: ") + list) +
                 "; " + help + " says more");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "clusterctl: control a running clusterd\n"
      "exit codes: 0 done, 1 the daemon refused or the action failed, 2 usage, 3 no daemon "
      "reachable"};
  cli.require_subcommand(0, 1);  // none: refuse_leftovers() says so, with the list
  cli.set_version_flag("--version", "clusterctl " CLUSTERD_VERSION ", control protocol " +
                                        std::to_string(clusterd::control::kProtocolVersion));
  Args args;
  CLI::Option* socket_option = cli.add_option(
      "-s,--socket", args.socket_path,
      "control socket (default: -c's, else $CLUSTERD_SOCKET, else the daemon's default)");
  cli.add_option("-c,--config", args.config_path,
                 "the control socket of this config file (its control.socket, else the default)")
      ->excludes(socket_option);
  cli.add_option("--timeout", args.timeout_s,
                 "seconds to wait for the reply (reload: for each progress line)")
      ->capture_default_str();
  add_verbs(cli, args);
  // Words the parser does not know are kept (the verbs got their settings when they were added,
  // so set it on each) and named by refuse_leftovers(), instead of "A subcommand is required".
  cli.allow_extras();
  for (CLI::App* verb : cli.get_subcommands([](const CLI::App*) { return true; })) {
    verb->allow_extras();
  }
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // An unknown word first: `scale web --1` is about '--1', not the missing count.
    const bool left = !cli.remaining(true).empty();
    if (e.get_exit_code() != 0 && left) return *refuse_leftovers(cli, args);
    const int rc = cli.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  if (const std::optional<int> rc = refuse_leftovers(cli, args)) return *rc;
  if (args.import->parsed())
    return clusterd::control::run_import(args.import_file, std::cout, std::cerr);
  if (!args.config_path.empty()) {
    const std::optional<std::string> named =
        clusterd::control::socket_of_config(args.config_path, std::cerr);
    if (!named) return kExitUsage;
    args.socket_path = *named;
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
  // A status is decoded as it is read; anything else (or a status reply that is not plain) by
  // decode_reply.
  clusterd::control::StatusReply status;
  const bool plain_status =
      request.command == clusterd::control::Command::Status && !request.follow;
  const std::string line = call(args, request, plain_status ? &status : nullptr);
  return print_reply(args, request, line, status);
}
