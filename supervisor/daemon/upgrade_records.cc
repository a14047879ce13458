#include "supervisor/daemon/upgrade_records.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "config/parse.h"

namespace clusterd::daemon::records {

using json = nlohmann::json;

std::int64_t ticks(core::TimePoint t) { return t.time_since_epoch().count(); }
core::TimePoint point(std::int64_t n) { return core::TimePoint(core::Clock::duration(n)); }

int bounded_int(const json& j, int count, const char* what) {
  const int v = j.get<int>();
  if (v < 0 || v >= count) throw std::runtime_error(std::string("bad ") + what);
  return v;
}

namespace {

template <class Enum>
Enum bounded(const json& j, int count, const char* what) {
  return static_cast<Enum>(bounded_int(j, count, what));
}

json exit_json(const core::ExitStatus& e) {
  return {static_cast<int>(e.kind), e.code, e.detail, static_cast<int>(e.blame), e.last_words};
}
core::ExitStatus exit_of(const json& j) {
  core::ExitStatus e;
  e.kind = bounded<core::ExitStatus::Kind>(j.at(0), 5, "exit kind");
  e.code = j.at(1).get<int>();
  e.detail = j.at(2).get<std::string>();
  e.blame = bounded<core::ExitStatus::Blame>(j.at(3), 3, "exit blame");
  if (j.size() > 4) e.last_words = j.at(4).get<std::string>();  // absent before this version
  return e;
}

json lane_json(const core::Lane& lane) {
  const core::Lane::Record& s = lane.record();
  json j{{"state", static_cast<int>(s.state)},
         {"wanted", s.wanted},
         {"restart_after_stop", s.restart_after_stop},
         {"one_shot", s.one_shot},
         {"generation", s.generation},
         {"spawns", s.spawns},
         {"quick_streak", s.quick_streak},
         {"crash_streak", s.crash_streak},
         {"backoff_until", ticks(s.backoff_until)},
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
                   w.stopping_by_itself,
                   w.counted,
                   w.settling,
                   w.probe_failure};
  }
  return j;
}

core::Lane lane_of(const json& j) {
  core::Lane::Record s;
  s.state = bounded<core::LaneState>(j.at("state"), static_cast<int>(core::kLaneStates), "state");
  s.wanted = j.at("wanted").get<bool>();
  s.restart_after_stop = j.at("restart_after_stop").get<bool>();
  s.one_shot = j.at("one_shot").get<bool>();
  s.generation = j.at("generation").get<unsigned>();
  s.spawns = j.at("spawns").get<unsigned>();
  s.quick_streak = j.at("quick_streak").get<unsigned>();
  s.crash_streak = j.at("crash_streak").get<unsigned>();
  s.backoff_until = point(j.at("backoff_until").get<std::int64_t>());
  s.status_text = j.at("status_text").get<std::string>();
  // A master before the ready probe had two timers: the rest are not armed.
  const json& tokens = j.at("tokens");
  if (!tokens.is_array() || tokens.size() > core::kLaneTimers)
    throw std::runtime_error("bad tokens");
  for (std::size_t t = 0; t < tokens.size(); ++t) s.tokens[t] = tokens[t].get<unsigned>();
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
                                  w.at(6).get<bool>(),
                                  w.at(7).get<bool>(),
                                  w.size() > 8 && w.at(8).get<bool>(),
                                  w.size() > 9 ? w.at(9).get<std::string>() : std::string()};
    if (s.worker->pid <= 0) throw std::runtime_error("bad worker pid");
  }
  return core::Lane::from(std::move(s));
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
          {"old_instances", r.old_instances},
          {"old_instances_reason", r.old_instances_reason},
          {"total", r.total},
          {"failure", r.failure},
          {"purpose", r.purpose},
          {"stop_first", r.stop_first},
          {"vacating", r.vacating},
          {"restore", r.restore}};
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
  r.old_instances = j.at("old_instances").get<unsigned>();
  r.old_instances_reason = j.at("old_instances_reason").get<std::string>();
  r.total = j.at("total").get<std::size_t>();
  r.failure = j.at("failure").get<std::string>();
  r.purpose = j.at("purpose").get<std::string>();
  // A master from before stop-first rollouts wrote none of these: it rolled out start-first.
  r.stop_first = j.value("stop_first", false);
  if (j.contains("vacating")) r.vacating = j["vacating"].get<std::vector<unsigned>>();
  if (j.contains("restore")) r.restore = j["restore"].get<std::vector<unsigned>>();
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

}  // namespace

json app_json(const core::AppState& app, std::vector<std::string>& texts) {
  json j{{"name", app.spec.name},
         {"spec", text_index(app.spec, texts)},
         {"instances", app.instances},
         {"instances_reason", app.instances_reason},
         {"generation", app.generation},
         {"good_generation", app.good_generation},
         {"latest_generation", app.latest_generation},
         {"removed", app.removed},
         {"stopped", app.stopped},
         {"restarts", app.restarts},
         {"specs", json::array()},
         {"slots", json::array()}};
  for (const auto& [generation, spec] : app.specs) {
    j["specs"].push_back({generation, text_index(spec, texts)});
  }
  for (const core::Slot& slot : app.slots) {
    json s{{"active", slot.active},
           {"lanes", {lane_json(slot.lanes[0]), lane_json(slot.lanes[1])}}};
    if (slot.last_exit) s["last_exit"] = exit_json(*slot.last_exit);
    j["slots"].push_back(std::move(s));
  }
  if (app.rollout) j["rollout"] = rollout_json(*app.rollout);
  if (app.last_rollout) j["last_rollout"] = {app.last_rollout->ok, app.last_rollout->message};
  return j;
}

Specs::Specs(const std::vector<std::string>& texts) {
  for (const std::string& text : texts) {
    config::ParseResult parsed = config::parse_config(text, "<upgrade state>");
    if (!parsed.config) {
      throw std::runtime_error("a config text does not parse: " +
                               parsed.errors.front().to_string());
    }
    configs_.push_back(std::move(*parsed.config));
  }
}

const config::AppSpec& Specs::get(const std::string& name, std::size_t index) const {
  if (index >= configs_.size()) throw std::runtime_error("bad config text index");
  for (const config::AppSpec& spec : configs_[index].apps) {
    if (spec.name == name) return spec;
  }
  throw std::runtime_error("app " + name + " is not in its config text");
}

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
  app.stopped = j.at("stopped").get<bool>();
  app.restarts = j.at("restarts").get<std::vector<core::RestartCounts>>();
  for (const json& s : j.at("specs")) {
    app.specs.emplace(s.at(0).get<unsigned>(), specs.get(name, s.at(1).get<std::size_t>()));
  }
  if (app.specs.count(app.generation) == 0) throw std::runtime_error(name + ": no target spec");
  for (const json& s : j.at("slots")) {
    core::Slot slot;
    slot.active = s.at("active").get<unsigned>();
    if (slot.active > 1) throw std::runtime_error("bad active lane");
    if (s.contains("last_exit")) slot.last_exit = exit_of(s["last_exit"]);
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
  if (j.contains("rollout")) {
    app.rollout = rollout_of(j["rollout"]);
    // The slots the rollout acts on at once are indexed directly.
    for (const auto* slots : {&app.rollout->in_flight, &app.rollout->vacating}) {
      for (unsigned i : *slots) {
        if (i >= app.slots.size()) throw std::runtime_error(name + ": a rollout names no slot");
      }
    }
  }
  if (j.contains("last_rollout")) {
    app.last_rollout = core::RolloutResult{j["last_rollout"].at(0).get<bool>(),
                                           j["last_rollout"].at(1).get<std::string>()};
  }
  return app;
}

}  // namespace clusterd::daemon::records
