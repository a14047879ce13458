// The upgrade state as JSON: a protocol between two masters, so (like the control protocol) the
// one other place JSON is written. Enums go as their numbers and times as steady-clock counts
// (CLOCK_MONOTONIC survives exec); the version number changes whenever either changes meaning.
#include "supervisor/daemon/upgrade_state.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "config/parse.h"

namespace clusterd::daemon {

namespace {

using json = nlohmann::json;

std::int64_t ticks(core::TimePoint t) { return t.time_since_epoch().count(); }
core::TimePoint point(std::int64_t n) { return core::TimePoint(core::Clock::duration(n)); }

template <class Enum>
Enum bounded(const json& j, int count, const char* what) {
  const int v = j.get<int>();
  if (v < 0 || v >= count) throw std::runtime_error(std::string("bad ") + what);
  return static_cast<Enum>(v);
}

json exit_json(const core::ExitStatus& e) {
  return {static_cast<int>(e.kind), e.code, e.detail, static_cast<int>(e.blame)};
}
core::ExitStatus exit_of(const json& j) {
  core::ExitStatus e;
  e.kind = bounded<core::ExitStatus::Kind>(j.at(0), 5, "exit kind");
  e.code = j.at(1).get<int>();
  e.detail = j.at(2).get<std::string>();
  e.blame = bounded<core::ExitStatus::Blame>(j.at(3), 3, "exit blame");
  return e;
}

json lane_json(const core::Lane& lane) {
  const core::Lane::Saved s = lane.save();
  json j{{"state", static_cast<int>(s.state)},
         {"wanted", s.wanted},
         {"restart_after_stop", s.restart_after_stop},
         {"one_shot", s.one_shot},
         {"generation", s.generation},
         {"spawns", s.spawns},
         {"restarts", s.restarts},
         {"quick_streak", s.quick_streak},
         {"status_text", s.status_text},
         {"tokens", s.tokens},
         {"next_token", s.next_token},
         {"quick_deaths", json::array()}};
  for (core::TimePoint t : s.quick_deaths) j["quick_deaths"].push_back(ticks(t));
  if (s.last_exit) j["last_exit"] = exit_json(*s.last_exit);
  if (s.worker) {
    const core::Lane::Worker& w = *s.worker;
    j["worker"] = {w.pid,
                   ticks(w.started),
                   w.watchdog.count(),
                   w.killed,
                   w.ready_timed_out,
                   w.watchdog_fired,
                   w.stopping_by_itself};
  }
  return j;
}

core::Lane lane_of(const json& j) {
  core::Lane::Saved s;
  s.state = bounded<core::LaneState>(j.at("state"), static_cast<int>(core::kLaneStates), "state");
  s.wanted = j.at("wanted").get<bool>();
  s.restart_after_stop = j.at("restart_after_stop").get<bool>();
  s.one_shot = j.at("one_shot").get<bool>();
  s.generation = j.at("generation").get<unsigned>();
  s.spawns = j.at("spawns").get<unsigned>();
  s.restarts = j.at("restarts").get<unsigned>();
  s.quick_streak = j.at("quick_streak").get<unsigned>();
  s.status_text = j.at("status_text").get<std::string>();
  s.tokens = j.at("tokens").get<std::array<unsigned, core::kLaneTimers>>();
  s.next_token = j.at("next_token").get<unsigned>();
  for (const json& t : j.at("quick_deaths")) s.quick_deaths.push_back(point(t.get<std::int64_t>()));
  if (j.contains("last_exit")) s.last_exit = exit_of(j["last_exit"]);
  if (j.contains("worker")) {
    const json& w = j["worker"];
    s.worker = core::Lane::Worker{w.at(0).get<int>(),
                                  point(w.at(1).get<std::int64_t>()),
                                  core::Duration(w.at(2).get<std::int64_t>()),
                                  w.at(3).get<bool>(),
                                  w.at(4).get<bool>(),
                                  w.at(5).get<bool>(),
                                  w.at(6).get<bool>()};
    if (s.worker->pid <= 0) throw std::runtime_error("bad worker pid");
  }
  return core::Lane::restore(std::move(s));
}

json rollout_json(const core::Rollout& r) {
  return {{"phase", static_cast<int>(r.phase)},
          {"direction", static_cast<int>(r.direction)},
          {"from", r.from},
          {"to", r.to},
          {"pending", r.pending},
          {"in_flight", r.in_flight},
          {"moved", r.moved},
          {"canary_token", r.canary_token},
          {"first_added", r.first_added},
          {"total", r.total},
          {"failure", r.failure},
          {"purpose", r.purpose}};
}

core::Rollout rollout_of(const json& j) {
  core::Rollout r;
  r.phase = bounded<core::Rollout::Phase>(j.at("phase"), 4, "rollout phase");
  r.direction = bounded<core::Rollout::Direction>(j.at("direction"), 2, "rollout direction");
  r.from = j.at("from").get<unsigned>();
  r.to = j.at("to").get<unsigned>();
  r.pending = j.at("pending").get<std::deque<unsigned>>();
  r.in_flight = j.at("in_flight").get<std::vector<unsigned>>();
  r.moved = j.at("moved").get<std::vector<unsigned>>();
  r.canary_token = j.at("canary_token").get<unsigned>();
  r.first_added = j.at("first_added").get<unsigned>();
  r.total = j.at("total").get<std::size_t>();
  r.failure = j.at("failure").get<std::string>();
  r.purpose = j.at("purpose").get<std::string>();
  return r;
}

// A spec goes as the index of the config text it came from: the new master parses it again.
std::size_t text_index(const config::AppSpec& spec, std::vector<std::string>& texts) {
  if (!spec.source) throw std::runtime_error("app " + spec.name + " has no config text");
  for (std::size_t i = 0; i < texts.size(); ++i) {
    if (texts[i] == *spec.source) return i;
  }
  texts.push_back(*spec.source);
  return texts.size() - 1;
}

json app_json(const core::AppState& app, std::vector<std::string>& texts) {
  json j{{"name", app.spec.name},
         {"spec", text_index(app.spec, texts)},
         {"instances", app.instances},
         {"instances_reason", app.instances_reason},
         {"generation", app.generation},
         {"good_generation", app.good_generation},
         {"latest_generation", app.latest_generation},
         {"removed", app.removed},
         {"specs", json::array()},
         {"slots", json::array()}};
  for (const auto& [generation, spec] : app.specs) {
    j["specs"].push_back({generation, text_index(spec, texts)});
  }
  for (const core::Slot& slot : app.slots) {
    j["slots"].push_back(
        {{"active", slot.active}, {"lanes", {lane_json(slot.lanes[0]), lane_json(slot.lanes[1])}}});
  }
  if (app.rollout) j["rollout"] = rollout_json(*app.rollout);
  if (app.last_rollout) j["last_rollout"] = {app.last_rollout->ok, app.last_rollout->message};
  return j;
}

// Parses each text once; the spec of `name` in text `index`.
class Specs {
 public:
  explicit Specs(const std::vector<std::string>& texts) {
    for (const std::string& text : texts) {
      config::ParseResult parsed = config::parse_config(text, "<upgrade state>");
      if (!parsed.config) {
        throw std::runtime_error("a config text does not parse: " +
                                 parsed.errors.front().to_string());
      }
      configs_.push_back(std::move(*parsed.config));
    }
  }
  const config::AppSpec& get(const std::string& name, std::size_t index) const {
    if (index >= configs_.size()) throw std::runtime_error("bad config text index");
    for (const config::AppSpec& spec : configs_[index].apps) {
      if (spec.name == name) return spec;
    }
    throw std::runtime_error("app " + name + " is not in its config text");
  }

 private:
  std::vector<config::Config> configs_;
};

core::AppState app_of(const json& j, const Specs& specs) {
  core::AppState app;
  const std::string name = j.at("name").get<std::string>();
  app.spec = specs.get(name, j.at("spec").get<std::size_t>());
  app.instances = j.at("instances").get<unsigned>();
  app.instances_reason = j.at("instances_reason").get<std::string>();
  app.generation = j.at("generation").get<unsigned>();
  app.good_generation = j.at("good_generation").get<unsigned>();
  app.latest_generation = j.at("latest_generation").get<unsigned>();
  app.removed = j.at("removed").get<bool>();
  for (const json& s : j.at("specs")) {
    app.specs.emplace(s.at(0).get<unsigned>(), specs.get(name, s.at(1).get<std::size_t>()));
  }
  if (app.specs.count(app.generation) == 0) throw std::runtime_error(name + ": no target spec");
  for (const json& s : j.at("slots")) {
    core::Slot slot;
    slot.active = s.at("active").get<unsigned>();
    if (slot.active > 1) throw std::runtime_error("bad active lane");
    for (unsigned l = 0; l < 2; ++l) {
      slot.lanes[l] = lane_of(s.at("lanes").at(l));
      // An idle lane keeps the number of the generation it last ran, long forgotten.
      if (slot.lanes[l].state() != core::LaneState::Idle &&
          app.specs.count(slot.lanes[l].generation()) == 0) {
        throw std::runtime_error(name + ": a lane runs a generation with no spec");
      }
    }
    app.slots.push_back(std::move(slot));
  }
  if (j.contains("rollout")) app.rollout = rollout_of(j["rollout"]);
  if (j.contains("last_rollout")) {
    app.last_rollout = core::RolloutResult{j["last_rollout"].at(0).get<bool>(),
                                           j["last_rollout"].at(1).get<std::string>()};
  }
  return app;
}

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
  t.key.kind = bounded<TimerKey::Kind>(j.at(0), 4, "timer kind");
  t.key.app = j.at(1).get<std::size_t>();
  t.key.index = j.at(2).get<unsigned>();
  t.key.lane = j.at(3).get<unsigned>();
  t.key.timer = bounded<core::LaneTimer>(j.at(4), static_cast<int>(core::kLaneTimers), "timer");
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
  json j{{"listeners", json::array()},       {"generations", json::array()},
         {"workers", json::array()},         {"timers", json::array()},
         {"followed", s.followed},           {"counted", s.counted},
         {"start_reasons", s.start_reasons}, {"control", control_json(s.control_options)},
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
  for (const json& t : j.at("timers")) s.timers.push_back(timer_of(t));
  s.followed = j.at("followed").get<std::vector<unsigned>>();
  s.control_options = control_of(j.at("control"));
  for (const json& every : j.at("auto_follow")) {
    s.auto_follow.push_back(
        every.is_null() ? std::nullopt : std::optional(core::Duration(every.get<std::int64_t>())));
  }
  s.counted = j.at("counted").get<decltype(s.counted)>();
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
  for (const HandedLaneWorker& w : workers) {
    for (int fd : {w.host.notify_fd, w.host.out_fd, w.host.err_fd}) {
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
