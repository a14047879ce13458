// The control verbs, declared once. The protocol decodes and checks requests by this table, the
// server checks the peer's role against it, clusterctl builds its subcommands from it, and
// docs/control-protocol.md lists the same verbs (a unit test compares them). The daemon's
// handlers are a table of their own in command order (supervisor/daemon/commands.cc), checked
// against this one at compile time.
#pragma once

#include <array>
#include <cstddef>
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
  Upgrade
};
inline constexpr std::size_t kCommandCount = 11;

/// What a peer may do: read the state, or change it. An admin may read.
enum class Role { Read, Admin };

/// Whether a verb takes an app name.
enum class AppArg { None, Optional, Required };

struct CommandSpec {
  Command command;
  const char* name;
  Role role;       // the role a peer needs
  bool streams;    // the reply may be many lines (progress, a live stream) before the last one
  AppArg app;      // "app"
  bool instances;  // "instances": required
  bool worker;     // "worker": optional
  bool wait;       // "wait": optional, true by default
  bool history;    // "lines", "follow", "since": optional (a record history and a live follow)
  const char* summary;
};

inline constexpr std::array<CommandSpec, kCommandCount> kCommands = {{
    {Command::Status, "status", Role::Read, false, AppArg::Optional, false, false, false, false,
     "processes, threads and state of every worker"},
    {Command::Version, "version", Role::Read, false, AppArg::None, false, false, false, false,
     "the daemon's version and protocol version"},
    {Command::Scale, "scale", Role::Admin, false, AppArg::Required, true, false, false, false,
     "change an app's number of workers"},
    {Command::Start, "start", Role::Admin, false, AppArg::Required, false, false, false, false,
     "start every worker of a stopped app"},
    {Command::Stop, "stop", Role::Admin, false, AppArg::Required, false, false, false, false,
     "stop every worker of an app gracefully"},
    {Command::Restart, "restart", Role::Admin, false, AppArg::Required, false, true, false, false,
     "hard-restart an app's workers, or one of them"},
    {Command::Reload, "reload", Role::Admin, true, AppArg::Optional, false, false, true, false,
     "re-read the config (refused whole if invalid), then replace the changed apps' workers one "
     "by one; progress lines until the rollout is over"},
    {Command::Logs, "logs", Role::Read, true, AppArg::Optional, false, true, false, true,
     "the workers' latest output lines, and with --follow what they write next"},
    {Command::Events, "events", Role::Read, true, AppArg::Optional, false, true, false, true,
     "the latest lifecycle events (spawned, ready, exited, ...), and with --follow the next ones"},
    {Command::Reopen, "reopen", Role::Admin, false, AppArg::None, false, false, false, false,
     "reopen the log files (after logrotate moved them; SIGUSR1 does the same)"},
    {Command::Upgrade, "upgrade", Role::Admin, false, AppArg::None, false, false, false, false,
     "replace the running master with a new clusterd binary (\"binary\": a path; default: the "
     "one it was started from) while every worker keeps running; SIGUSR2 does the same"},
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
