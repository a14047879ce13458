// The control verbs, one handler each. kCommands (supervisor/control/commands.h) declares them;
// handler_for() maps each to its handler in the same order, checked at compile time. Refusals
// come from the core with their reason and go back verbatim.
#include <spdlog/spdlog.h>

#include <array>

#include "supervisor/daemon/daemon.h"

namespace clusterd::daemon {

using control::Command;

Daemon::Handler Daemon::handler_for(Command command) {
  static constexpr std::array<HandlerEntry, control::kCommandCount> kTable = {{
      {Command::Status, &Daemon::status},
      {Command::Version, &Daemon::version},
      {Command::Scale, &Daemon::scale},
      {Command::Start, &Daemon::start_app},
      {Command::Stop, &Daemon::stop_app},
      {Command::Restart, &Daemon::restart},
      {Command::Reload, &Daemon::reload_command},
      {Command::Logs, &Daemon::logs},
      {Command::Events, &Daemon::events},
      {Command::Reopen, &Daemon::reopen},
      {Command::Upgrade, &Daemon::upgrade_command},
      {Command::Describe, &Daemon::describe_app},
      {Command::Flush, &Daemon::flush},
  }};
  static_assert(
      [] {
        for (std::size_t i = 0; i < kTable.size(); ++i) {
          if (kTable[i].command != control::kCommands[i].command) return false;
        }
        return true;
      }(),
      "one handler per control verb, in the order of control::kCommands");
  return kTable[static_cast<std::size_t>(command)].handler;
}

void Daemon::on_request(const control::Request& request, const control::Peer& peer,
                        control::ReplyPtr reply) {
  const control::CommandSpec& spec = control::spec_of(request.command);
  if (spec.role == control::Role::Admin) {
    spdlog::info("control: {}{}{} from uid {} pid {}", spec.name, request.app ? " " : "",
                 request.app ? *request.app : "", peer.uid, peer.pid);
  }
  (this->*handler_for(request.command))(request, peer,
                                        observer_.counted(request.command, std::move(reply)));
}

std::optional<std::size_t> Daemon::app_of(const control::Request& request,
                                          control::ReplyPtr& reply) {
  const std::optional<std::size_t> app = supervisor_.find_app(*request.app);
  if (!app) {
    std::string names;
    for (const std::string& name : supervisor_.app_names()) {
      names += (names.empty() ? "" : ", ") + name;
    }
    reply->finish(control::encode_error("no app named '" + *request.app + "'; apps: " + names));
  }
  return app;
}

void Daemon::answer(control::ReplyPtr& reply, const core::Outcome& outcome,
                    const std::string& done) {
  if (outcome.refused) {
    reply->finish(control::encode_error(outcome.refused->reason));
    return;
  }
  execute(outcome.actions);
  reply->finish(control::encode_done(done));
}

void Daemon::status(const control::Request& request, const control::Peer&,
                    control::ReplyPtr reply) {
  if (request.app && !app_of(request, reply)) return;
  reply->finish(control::encode_status(
      snapshot(request.app ? &*request.app : nullptr, true, request.detail)));
}

void Daemon::version(const control::Request&, const control::Peer&, control::ReplyPtr reply) {
  reply->finish(control::encode_version(CLUSTERD_VERSION));
}

void Daemon::start_app(const control::Request& request, const control::Peer&,
                       control::ReplyPtr reply) {
  if (const std::optional<std::size_t> app = app_of(request, reply)) {
    answer(reply, supervisor_.start_app(*app, host_.clock.now()), "starting " + *request.app);
  }
}

void Daemon::stop_app(const control::Request& request, const control::Peer&,
                      control::ReplyPtr reply) {
  if (const std::optional<std::size_t> app = app_of(request, reply)) {
    const bool already = supervisor_.apps()[*app].stopped;
    answer(reply, supervisor_.stop_app(*app, host_.clock.now()),
           already ? *request.app + " was stopped already" : "stopping " + *request.app);
  }
}

void Daemon::restart(const control::Request& request, const control::Peer&,
                     control::ReplyPtr reply) {
  const std::optional<std::size_t> app = app_of(request, reply);
  if (!app) return;
  if (request.worker) {
    answer(reply, supervisor_.restart_worker(*app, *request.worker, host_.clock.now()),
           "restarting " + *request.app + " worker " + std::to_string(*request.worker));
    return;
  }
  answer(reply, supervisor_.restart_app(*app, host_.clock.now()), "restarting " + *request.app);
}

// The app's restart_schedule fired, or its watch saw changes settle: a rollout to a new
// generation of what it runs (the same spec, command and sockets), as `reload APP` rolls an
// unchanged app, without reading the config file: canary, batches and rollback as its `rollout:`
// says, each new worker ready before an old one stops.
void Daemon::rolling_restart(std::size_t app, std::string_view cause) {
  const core::AppState& state = supervisor_.apps()[app];
  const std::string name = state.spec.name;
  if (const std::optional<core::Refused> refused = supervisor_.check_roll(app)) {
    spdlog::warn("{}: {}: not now: {}", name, cause, refused->reason);
    return;
  }
  auto& generations = runtimes_.generations(app);
  const auto running = generations.find(state.generation);
  if (running == generations.end()) return;
  Generation next = running->second;  // shares its listeners, as a reload's Reuse does
  next.new_backlogs.clear();
  const unsigned number = supervisor_.next_generation(app);
  generations[number] = std::move(next);
  core::Outcome outcome =
      supervisor_.roll(app, state.spec, state.instances, state.instances_reason, host_.clock.now());
  if (outcome.refused) {
    generations.erase(number);
    spdlog::warn("{}: {}: not now: {}", name, cause, outcome.refused->reason);
    return;
  }
  spdlog::info("{}: {}: replacing its workers one by one (generation {})", name, cause, number);
  execute(std::move(outcome.actions));
}

void Daemon::reload_command(const control::Request& request, const control::Peer&,
                            control::ReplyPtr reply) {
  reload(request.app, request.wait, std::move(reply));
}

void Daemon::logs(const control::Request& request, const control::Peer&, control::ReplyPtr reply) {
  if (request.app && !app_of(request, reply)) return;
  output_.serve(request, reply);
}

void Daemon::events(const control::Request& request, const control::Peer&,
                    control::ReplyPtr reply) {
  if (request.app && !app_of(request, reply)) return;
  lifecycle_.events().serve(request, reply);
}

void Daemon::flush(const control::Request& request, const control::Peer&, control::ReplyPtr reply) {
  if (request.app && !app_of(request, reply)) return;
  reply->finish(control::encode_done(output_.flush(request.app.value_or(""))));
}

void Daemon::reopen(const control::Request&, const control::Peer&, control::ReplyPtr reply) {
  host_.sinks.log_files_reopen();
  reply->finish(control::encode_done("log files reopened"));
}

}  // namespace clusterd::daemon
