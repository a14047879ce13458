// The control verbs, declared once. The protocol decodes and checks requests by this table, the
// server checks the peer's role against it, clusterctl builds its subcommands from it, and
// docs/control-protocol.md lists the same verbs (a unit test compares them). The daemon's
// handlers are a table of their own in command order (supervisor/daemon/commands.cc), checked
// against this one at compile time.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <string_view>

namespace clusterd::control {

enum class Command {
  Status,
  Version,
  Scale,
  Start,
  Stop,
  Restart,
  Reload,
  Logs,
  Events,
  Reopen,
  Upgrade,
  Describe,
  Flush
};
inline constexpr std::size_t kCommandCount = 13;

/// What a peer may do: read the state, or change it. An admin may read.
enum class Role { Read, Admin };

/// Whether a verb takes an app name.
enum class AppArg { None, Optional, Required };

/// How a verb answers: one line, or lines (progress, records, a live follow) before the last.
enum class Answer { Line, Stream };

/// What a verb takes besides the app: each is one or a few fields of Request and of the wire
/// ("name"), decoded in one place (protocol.cc), and one clusterctl argument.
enum class Arg : unsigned {
  Scale = 1U << 0,    // "instances": N or "auto", or "delta": +N / -N; required
  Worker = 1U << 1,   // "worker": one slot; optional (--worker)
  Wait = 1U << 2,     // "wait": reply when the rollout is over; true unless false (--no-wait)
  History = 1U << 3,  // "lines", "since_s", "follow": a history, then a live follow (-n, -f)
  Detail = 1U << 4,   // "detail": the costly numbers too (--detail)
  Binary = 1U << 5,   // "binary": an absolute path (--binary)
  Env = 1U << 6,      // "env": the env values too, secrets still redacted (--env)
};
inline constexpr Arg kArgs[] = {Arg::Scale,  Arg::Worker, Arg::Wait, Arg::History,
                                Arg::Detail, Arg::Binary, Arg::Env};

/// The request fields of an Arg, as they are named on the wire.
constexpr std::array<std::string_view, 3> wire_names(Arg arg) {
  switch (arg) {
    case Arg::Scale:
      return {"instances", "delta"};
    case Arg::Worker:
      return {"worker"};
    case Arg::Wait:
      return {"wait"};
    case Arg::History:
      return {"lines", "since_s", "follow"};
    case Arg::Detail:
      return {"detail"};
    case Arg::Binary:
      return {"binary"};
    case Arg::Env:
      return {"env"};
  }
  return {};
}

/// A set of Arg, written as a list: Args{Arg::Worker, Arg::Wait}.
class Args {
 public:
  constexpr Args() = default;
  constexpr Args(std::initializer_list<Arg> args) {
    for (Arg a : args) bits_ |= static_cast<unsigned>(a);
  }
  constexpr bool has(Arg a) const { return (bits_ & static_cast<unsigned>(a)) != 0; }

 private:
  unsigned bits_ = 0;
};

struct CommandSpec {
  Command command;
  std::string_view name;
  Role role;      // the role a peer needs
  Answer answer;  // Stream: lines may come before the last one
  AppArg app;     // "app"
  Args args;      // what else it takes
  std::string_view summary;
};

inline constexpr std::array<CommandSpec, kCommandCount> kCommands = {{
    {.command = Command::Status,
     .name = "status",
     .role = Role::Read,
     .answer = Answer::Line,
     .app = AppArg::Optional,
     .args = {Arg::Detail},
     .summary = "processes, threads and state of every worker"},
    {.command = Command::Version,
     .name = "version",
     .role = Role::Read,
     .answer = Answer::Line,
     .app = AppArg::None,
     .args = {},
     .summary = "the daemon's version and protocol version"},
    {.command = Command::Scale,
     .name = "scale",
     .role = Role::Admin,
     .answer = Answer::Line,
     .app = AppArg::Required,
     .args = {Arg::Scale},
     .summary = "change an app's number of workers"},
    {.command = Command::Start,
     .name = "start",
     .role = Role::Admin,
     .answer = Answer::Line,
     .app = AppArg::Required,
     .args = {},
     .summary = "start every worker of a stopped app"},
    {.command = Command::Stop,
     .name = "stop",
     .role = Role::Admin,
     .answer = Answer::Line,
     .app = AppArg::Required,
     .args = {},
     .summary = "stop every worker of an app gracefully"},
    {.command = Command::Restart,
     .name = "restart",
     .role = Role::Admin,
     .answer = Answer::Line,
     .app = AppArg::Required,
     .args = {Arg::Worker},
     .summary = "hard-restart an app's workers, or one of them"},
    {.command = Command::Reload,
     .name = "reload",
     .role = Role::Admin,
     .answer = Answer::Stream,
     .app = AppArg::Optional,
     .args = {Arg::Wait},
     .summary = "re-read the config (refused whole if invalid), then replace the changed apps' "
                "workers one by one; progress lines until the rollout is over"},
    {.command = Command::Logs,
     .name = "logs",
     .role = Role::Read,
     .answer = Answer::Stream,
     .app = AppArg::Optional,
     .args = {Arg::Worker, Arg::History},
     .summary = "the workers' latest output lines, and with --follow what they write next"},
    {.command = Command::Events,
     .name = "events",
     .role = Role::Read,
     .answer = Answer::Stream,
     .app = AppArg::Optional,
     .args = {Arg::Worker, Arg::History},
     .summary = "the latest lifecycle events (spawned, ready, exited, ...), and with --follow "
                "the next ones"},
    {.command = Command::Reopen,
     .name = "reopen",
     .role = Role::Admin,
     .answer = Answer::Line,
     .app = AppArg::None,
     .args = {},
     .summary = "reopen the log files (after logrotate moved them; SIGUSR1 does the same)"},
    {.command = Command::Upgrade,
     .name = "upgrade",
     .role = Role::Admin,
     .answer = Answer::Line,
     .app = AppArg::None,
     .args = {Arg::Binary},
     .summary = "replace the running master with a new clusterd binary (\"binary\": a path; "
                "default: the one it was started from) while every worker keeps running; "
                "SIGUSR2 does the same"},
    {.command = Command::Describe,
     .name = "describe",
     .role = Role::Read,
     .answer = Answer::Line,
     .app = AppArg::Required,
     .args = {Arg::Env},
     .summary = "what an app runs and how: command, cwd, user, ready and restart settings, "
                "listeners, env names (values with --env, secrets redacted), last exits"},
    {.command = Command::Flush,
     .name = "flush",
     .role = Role::Admin,
     .answer = Answer::Line,
     .app = AppArg::Optional,
     .args = {},
     .summary = "empty an app's (or every app's) recent output lines and its log file "
                "(also `logs --flush`)"},
}};

/// The table entry of `command`.
constexpr const CommandSpec& spec_of(Command command) {
  return kCommands[static_cast<std::size_t>(command)];
}
/// The entry named `name`, or null.
const CommandSpec* find_command(std::string_view name);
/// "admin" or "read".
const char* to_string(Role role);

// The table is in enum order, so spec_of() is an index.
constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < kCommands.size(); ++i) {
    if (static_cast<std::size_t>(kCommands[i].command) != i) return false;
  }
  return true;
}
static_assert(in_enum_order(), "kCommands must list the commands in the order of the enum");

}  // namespace clusterd::control
