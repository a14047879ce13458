// The upgrade state as JSON: a protocol between two masters, so (like the control protocol) the
// one other place JSON is written. Enums go as their numbers and times as steady-clock counts
// (CLOCK_MONOTONIC survives exec); the version number changes whenever either changes meaning.
#include "supervisor/daemon/upgrade_state.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "config/parse.h"
#include "supervisor/daemon/upgrade_records.h"

namespace clusterd::daemon {

namespace {

using json = nlohmann::json;
using records::app_json;
using records::app_of;
using records::bounded_int;
using records::point;
using records::Specs;
using records::ticks;

json ids_json(const std::optional<os::Ids>& ids) {
  if (!ids) return nullptr;
  return {{"uid", ids->uid},   {"gid", ids->gid},   {"groups", ids->groups},
          {"user", ids->user}, {"home", ids->home}, {"shell", ids->shell}};
}
std::optional<os::Ids> ids_of(const json& j) {
  if (j.is_null()) return std::nullopt;
  os::Ids ids;
  ids.uid = j.at("uid").get<uid_t>();
  ids.gid = j.at("gid").get<gid_t>();
  ids.groups = j.at("groups").get<std::vector<gid_t>>();
  ids.user = j.at("user").get<std::string>();
  ids.home = j.at("home").get<std::string>();
  ids.shell = j.at("shell").get<std::string>();
  return ids;
}

json worker_json(const HandedLaneWorker& w) {
  json j{{"slot", {w.slot.app, w.slot.index, w.slot.lane}},
         {"uid", w.uid},
         {"pid", w.host.pid},
         {"notify_fd", w.host.notify_fd},
         {"notify_path", w.host.notify_path},
         {"out_fd", w.host.out_fd},
         {"err_fd", w.host.err_fd},
         {"cgroup_path", w.host.cgroup_path},
         {"memory_events", w.host.memory_events}};
  // Only when used: a master that does not know it refuses a state that has it, which is right
  // for a worker under adoption and needless for the others.
  if (w.host.adopt_fd >= 0) j["adopt_fd"] = w.host.adopt_fd;
  if (w.cgroup_id) j["cgroup_id"] = *w.cgroup_id;
  return j;
}
HandedLaneWorker worker_of(const json& j) {
  HandedLaneWorker w;
  w.slot = {j.at("slot").at(0).get<std::size_t>(), j.at("slot").at(1).get<unsigned>(),
            j.at("slot").at(2).get<unsigned>()};
  w.uid = j.at("uid").get<unsigned>();
  w.host.pid = j.at("pid").get<int>();
  w.host.notify_fd = j.at("notify_fd").get<int>();
  w.host.notify_path = j.at("notify_path").get<std::string>();
  w.host.out_fd = j.at("out_fd").get<int>();
  w.host.err_fd = j.at("err_fd").get<int>();
  w.host.cgroup_path = j.at("cgroup_path").get<std::string>();
  w.host.memory_events = j.at("memory_events").get<bool>();
  w.host.adopt_fd = j.value("adopt_fd", -1);  // none from a master without adoption's hand-over
  if (j.contains("cgroup_id")) w.cgroup_id = j["cgroup_id"].get<std::uint64_t>();
  if (w.host.pid <= 0 || w.slot.lane > 1) throw std::runtime_error("bad worker");
  return w;
}

json timer_json(const HandedTimer& t) {
  return {static_cast<int>(t.key.kind),  t.key.app, t.key.index,      t.key.lane,
          static_cast<int>(t.key.timer), t.token,   ticks(t.deadline)};
}
HandedTimer timer_of(const json& j) {
  HandedTimer t;
  t.key.kind = static_cast<TimerKey::Kind>(bounded_int(j.at(0), 4, "timer kind"));
  t.key.app = j.at(1).get<std::size_t>();
  t.key.index = j.at(2).get<unsigned>();
  t.key.lane = j.at(3).get<unsigned>();
  t.key.timer = static_cast<core::LaneTimer>(
      bounded_int(j.at(4), static_cast<int>(core::kLaneTimers), "timer"));
  t.token = j.at(5).get<unsigned>();
  t.deadline = point(j.at(6).get<std::int64_t>());
  return t;
}

json control_json(const control::ServerOptions& o) {
  json j{{"path", o.path},
         {"admin_users", o.access.admin_users},
         {"admin_groups", o.access.admin_groups},
         {"read_users", o.access.read_users},
         {"read_groups", o.access.read_groups},
         {"world_connectable", o.world_connectable},
         {"max_clients", o.max_clients},
         {"idle_timeout_ms", o.idle_timeout.count()},
         {"max_queued_bytes", o.max_queued_bytes}};
  if (o.group) j["group"] = *o.group;
  return j;
}
control::ServerOptions control_of(const json& j) {
  control::ServerOptions o;
  o.path = j.at("path").get<std::string>();
  o.access.admin_users = j.at("admin_users").get<std::vector<uid_t>>();
  o.access.admin_groups = j.at("admin_groups").get<std::vector<gid_t>>();
  o.access.read_users = j.at("read_users").get<std::vector<uid_t>>();
  o.access.read_groups = j.at("read_groups").get<std::vector<gid_t>>();
  o.world_connectable = j.at("world_connectable").get<bool>();
  o.max_clients = j.at("max_clients").get<std::size_t>();
  o.idle_timeout = std::chrono::milliseconds(j.at("idle_timeout_ms").get<std::int64_t>());
  o.max_queued_bytes = j.at("max_queued_bytes").get<std::size_t>();
  if (j.contains("group")) o.group = j["group"].get<gid_t>();
  return o;
}

json daemon_json(const UpgradeState& s) {
  json j{{"listeners", json::array()},
         {"generations", json::array()},
         {"workers", json::array()},
         {"timers", json::array()},
         {"followed", s.followed},
         {"start_reasons", s.start_reasons},
         {"control", control_json(s.control_options)},
         {"auto_follow", json::array()}};
  for (const HandedListener& l : s.listeners) {
    j["listeners"].push_back({l.app, l.generation, l.index, l.fds, l.socket_file});
  }
  for (const HandedGeneration& g : s.generations) {
    j["generations"].push_back({{"app", g.app},
                                {"generation", g.generation},
                                {"executable", g.executable},
                                {"ids", ids_json(g.ids)},
                                {"listeners", g.listeners}});
  }
  for (const HandedLaneWorker& w : s.workers) j["workers"].push_back(worker_json(w));
  for (const HandedMadeSocket& m : s.made_sockets) {  // only when `adopt: all` made some
    j["made_sockets"].push_back({{"app", m.app}, {"address", m.address}, {"fd", m.fd}});
  }
  for (const HandedTimer& t : s.timers) j["timers"].push_back(timer_json(t));
  for (const auto& every : s.auto_follow) {
    j["auto_follow"].push_back(every ? json(every->count()) : json());
  }
  return j;
}

void daemon_of(const json& j, UpgradeState& s) {
  for (const json& l : j.at("listeners")) {
    s.listeners.push_back({l.at(0).get<std::size_t>(), l.at(1).get<unsigned>(),
                           l.at(2).get<std::size_t>(), l.at(3).get<std::vector<int>>(),
                           l.at(4).get<bool>()});
  }
  for (const json& g : j.at("generations")) {
    s.generations.push_back({g.at("app").get<std::size_t>(), g.at("generation").get<unsigned>(),
                             g.at("executable").get<std::string>(), ids_of(g.at("ids")),
                             g.at("listeners").get<std::vector<std::size_t>>()});
  }
  for (const json& w : j.at("workers")) s.workers.push_back(worker_of(w));
  for (const json& m : j.value("made_sockets", json::array())) {
    s.made_sockets.push_back({m.at("app").get<std::string>(), m.at("address").get<std::string>(),
                              m.at("fd").get<int>()});
  }
  for (const json& t : j.at("timers")) s.timers.push_back(timer_of(t));
  s.followed = j.at("followed").get<std::vector<unsigned>>();
  s.control_options = control_of(j.at("control"));
  for (const json& every : j.at("auto_follow")) {
    s.auto_follow.push_back(
        every.is_null() ? std::nullopt : std::optional(core::Duration(every.get<std::int64_t>())));
  }
  s.start_reasons = j.at("start_reasons").get<decltype(s.start_reasons)>();
}

// What the rest of the daemon relies on: indices in range, a spec behind every listener.
void check_references(const UpgradeState& s) {
  const auto app_ok = [&](std::size_t app) { return app < s.apps.size(); };
  for (const HandedListener& l : s.listeners) {
    if (!app_ok(l.app)) throw std::runtime_error("a listener of no app");
    const auto spec = s.apps[l.app].specs.find(l.generation);
    if (spec == s.apps[l.app].specs.end() || l.index >= spec->second.listeners.size()) {
      throw std::runtime_error("a listener with no spec");
    }
  }
  for (const HandedGeneration& g : s.generations) {
    if (!app_ok(g.app) || s.apps[g.app].specs.count(g.generation) == 0) {
      throw std::runtime_error("a generation with no spec");
    }
    for (std::size_t l : g.listeners) {
      if (l >= s.listeners.size()) throw std::runtime_error("a generation's listener is missing");
    }
  }
  for (const HandedLaneWorker& w : s.workers) {
    if (!app_ok(w.slot.app) || w.slot.index >= s.apps[w.slot.app].slots.size()) {
      throw std::runtime_error("a worker of no slot");
    }
  }
  for (const HandedTimer& t : s.timers) {
    if (!app_ok(t.key.app)) throw std::runtime_error("a timer of no app");
  }
  if (s.followed.size() != s.apps.size() || s.auto_follow.size() != s.apps.size()) {
    throw std::runtime_error("per-app runtime: wrong size");
  }
}

}  // namespace

std::vector<int> UpgradeState::fds() const {
  std::vector<int> out;
  for (int fd : {reply_fd, control_fd, metrics_fd}) {
    if (fd >= 0) out.push_back(fd);
  }
  for (const HandedListener& l : listeners) out.insert(out.end(), l.fds.begin(), l.fds.end());
  for (const HandedMadeSocket& m : made_sockets) out.push_back(m.fd);
  for (const HandedLaneWorker& w : workers) {
    for (int fd : {w.host.notify_fd, w.host.out_fd, w.host.err_fd, w.host.adopt_fd}) {
      if (fd >= 0) out.push_back(fd);
    }
  }
  return out;
}

std::string encode_upgrade_state(const UpgradeState& state) {
  std::vector<std::string> texts;
  json apps = json::array();
  for (const core::AppState& app : state.apps) apps.push_back(app_json(app, texts));
  json j{{"format", kUpgradeFormat},
         {"version", kUpgradeVersion},
         {"clusterd", state.version},
         {"argv", state.argv},
         {"binary", state.binary},
         {"upgraded_at_ms", state.upgraded_at_ms},
         {"config_path", state.config_path},
         {"config_text", state.config_text},
         {"control_socket", state.control_socket},
         {"started", ticks(state.started)},
         {"upgrades", state.upgrades},
         {"fd_store", state.fd_store},
         {"reply_fd", state.reply_fd},
         {"control_fd", state.control_fd},
         {"metrics_fd", state.metrics_fd},
         {"notify_dir", state.notify_dir},
         {"cgroup_root", state.cgroup_root},
         {"cgroup_mode", state.cgroup_mode},
         {"stopping", state.stopping},
         {"next_token", state.next_token},
         {"apps", std::move(apps)},
         {"texts", texts},
         {"daemon", daemon_json(state)}};
  if (state.inherited_nofile) {
    j["inherited_nofile"] = {state.inherited_nofile->soft, state.inherited_nofile->hard};
  }
  return j.dump();
}

UpgradeState decode_upgrade_state(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("the upgrade state is not JSON: ") + e.what());
  }
  if (!j.is_object() || j.value("format", "") != kUpgradeFormat) {
    throw std::runtime_error("not a clusterd upgrade state");
  }
  if (!j.contains("version") || !j["version"].is_number_integer() ||
      j["version"].get<int>() != kUpgradeVersion) {
    throw std::runtime_error("upgrade state version " + j.value("version", json()).dump() +
                             " is not the one this clusterd reads (" +
                             std::to_string(kUpgradeVersion) + ")");
  }
  UpgradeState s;
  try {
    s.version = j.at("clusterd").get<std::string>();
    s.argv = j.at("argv").get<std::vector<std::string>>();
    s.binary = j.at("binary").get<std::string>();
    s.upgraded_at_ms = j.at("upgraded_at_ms").get<std::int64_t>();
    s.config_path = j.at("config_path").get<std::string>();
    s.config_text = j.at("config_text").get<std::string>();
    s.control_socket = j.at("control_socket").get<std::string>();
    s.started = point(j.at("started").get<std::int64_t>());
    s.upgrades = j.at("upgrades").get<unsigned>();
    s.fd_store = j.at("fd_store").get<bool>();
    s.reply_fd = j.at("reply_fd").get<int>();
    s.control_fd = j.at("control_fd").get<int>();
    s.metrics_fd = j.at("metrics_fd").get<int>();
    s.notify_dir = j.at("notify_dir").get<std::string>();
    s.cgroup_root = j.at("cgroup_root").get<std::string>();
    s.cgroup_mode = j.at("cgroup_mode").get<std::string>();
    s.stopping = j.at("stopping").get<bool>();
    s.next_token = j.at("next_token").get<unsigned>();
    s.texts = j.at("texts").get<std::vector<std::string>>();
    const Specs specs(s.texts);
    if (const config::ParseResult running = config::parse_config(s.config_text, s.config_path);
        !running.config) {
      throw std::runtime_error("the running config does not parse: " +
                               running.errors.front().to_string());
    }
    for (const json& app : j.at("apps")) s.apps.push_back(app_of(app, specs));
    if (j.contains("inherited_nofile")) {
      s.inherited_nofile = core::NofileLimit{j["inherited_nofile"].at(0).get<unsigned long>(),
                                             j["inherited_nofile"].at(1).get<unsigned long>()};
    }
    daemon_of(j.at("daemon"), s);
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string("the upgrade state is incomplete: ") + e.what());
  }
  check_references(s);
  return s;
}

}  // namespace clusterd::daemon
