// A lane and an app behave the same after a save and restore through the live upgrade's codec
// (daemon/upgrade_records.cc) as without. Two supervisors are fed the same random events and
// commands; one of them is written out and read back at random moments. They must answer every
// event with the same actions and end with the same records: a field the codec forgot (a streak,
// a deadline, a counter) makes them part, and the seed that did it is printed.
#include <catch2/catch.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "config/parse.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/daemon/upgrade_records.h"

using namespace clusterd;
using namespace std::chrono_literals;

namespace {

const char* kConfig = R"(apps:
  web:
    command: ["/bin/web"]
    instances: 3
    ready: notify
    watchdog: 2s
    max_restarts: 4
    restart_window: 10s
    min_uptime: 1s
    backoff: { initial: 50ms, max: 800ms, jitter: 0.5 }
    rollout: { batch: 2, canary_time: 300ms }
)";

// The same app probed (ready: http) on a port of each worker's own.
const char* kProbedConfig = R"(apps:
  web:
    command: ["/bin/web"]
    instances: 3
    listen:
      http: { address: "127.0.0.1:8000", mode: worker, port_per_worker: true }
    ready: { http: "GET /healthz", interval: 200ms }
    ready_timeout: 2s
    min_ready: 300ms
    max_restarts: 4
    restart_window: 10s
    min_uptime: 1s
    backoff: { initial: 50ms, max: 800ms, jitter: 0.5 }
    rollout: { batch: 2, canary_time: 300ms }
)";

std::vector<core::AppState> apps_of(const std::string& text) {
  config::ParseResult parsed = config::parse_config(text, "walk.yaml");
  REQUIRE(parsed.config);
  core::AppState app;
  app.spec = parsed.config->apps.at(0);
  app.instances = 3;
  app.instances_reason = "3: set in config";
  return {app};
}

// Every field of an action, as text: two runs agree when their texts do.
std::string describe(const core::SlotAction& a) {
  std::ostringstream out;
  out << a.slot.app << "/" << a.slot.index << "/" << a.slot.lane << " ";
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, core::Spawn>) {
          out << "spawn";
        } else if constexpr (std::is_same_v<T, core::Signal>) {
          out << "signal " << x.pid << " " << x.signal << " " << x.group;
        } else if constexpr (std::is_same_v<T, core::ArmTimer>) {
          out << "arm " << static_cast<int>(x.timer) << " " << x.deadline.time_since_epoch().count()
              << " " << x.token;
        } else if constexpr (std::is_same_v<T, core::CancelTimer>) {
          out << "cancel " << static_cast<int>(x.timer);
        } else if constexpr (std::is_same_v<T, core::ArmRolloutTimer>) {
          out << "arm-rollout " << x.deadline.time_since_epoch().count() << " " << x.token;
        } else if constexpr (std::is_same_v<T, core::Retire>) {
          out << "retire";
        } else if constexpr (std::is_same_v<T, core::Probe>) {
          out << "probe";
        } else if constexpr (std::is_same_v<T, core::Transition>) {
          out << "transition " << core::to_string(x.from) << " " << core::to_string(x.to) << " "
              << x.reason;
        } else {
          out << "notice " << static_cast<int>(x.kind) << " " << x.message;
        }
      },
      a.action);
  return out.str();
}

std::string describe(const std::vector<core::SlotAction>& actions) {
  std::string out;
  for (const core::SlotAction& a : actions) out += describe(a) + "\n";
  return out;
}

// The supervisor as the next master would have it: every app through its codec.
core::Supervisor saved_and_restored(const core::Supervisor& s) {
  std::vector<std::string> texts;
  std::vector<nlohmann::json> written;
  for (const core::AppState& app : s.apps()) {
    written.push_back(daemon::records::app_json(app, texts));
  }
  // Through the text, as across the exec.
  const std::string document = nlohmann::json(written).dump();
  const daemon::records::Specs specs(texts);
  std::vector<core::AppState> apps;
  for (const nlohmann::json& app : nlohmann::json::parse(document)) {
    apps.push_back(daemon::records::app_of(app, specs));
  }
  return core::Supervisor(std::move(apps), s.stopping(), s.next_token());
}

// The armed tokens of the lanes' timers and of the rollout, as a shell keeps them.
struct Armed {
  std::map<std::tuple<unsigned, unsigned, int>, unsigned> lanes;
  unsigned rollout = 0;
  void note(const std::vector<core::SlotAction>& actions) {
    for (const core::SlotAction& a : actions) {
      if (const auto* t = std::get_if<core::ArmTimer>(&a.action)) {
        lanes[{a.slot.index, a.slot.lane, static_cast<int>(t->timer)}] = t->token;
      } else if (const auto* r = std::get_if<core::ArmRolloutTimer>(&a.action)) {
        rollout = r->token;
      }
    }
  }
};

// One random step applied to a supervisor: the same `roll` gives the same step to both.
std::vector<core::SlotAction> step(core::Supervisor& s, std::uint32_t roll, core::TimePoint now,
                                   const Armed& armed, const config::AppSpec& next_spec,
                                   int& next_pid) {
  const unsigned slots = static_cast<unsigned>(s.apps()[0].slots.size());
  const unsigned index = slots == 0 ? 0 : (roll >> 8) % slots;
  const unsigned lane = (roll >> 16) & 1;
  const core::LaneId id{0, index, lane};
  const core::Lane* l = slots == 0 ? nullptr : &s.lane(id);
  switch (roll % 18) {
    case 0: {
      const core::Outcome o = s.scale(0, 1 + (roll >> 20) % 4, "scaled", now);
      return o.actions;
    }
    case 1:
      return s.roll(0, next_spec, 1 + (roll >> 20) % 4, "rolled", now).actions;
    case 2:
      return s.replace(0, index, "max_memory", now).actions;
    case 3:
      return ((roll >> 20) & 1) ? s.stop_app(0, now).actions : s.start_app(0, now).actions;
    case 4:
      return s.restart_worker(0, index, now).actions;
    case 5:
      return s.on(core::RolloutTimerFired{0, armed.rollout}, now);
    case 6: {  // a lane's timer: the armed token, or a stale one
      const int timer = static_cast<int>((roll >> 20) % core::kLaneTimers);
      const auto it = armed.lanes.find({index, lane, timer});
      const unsigned token = it == armed.lanes.end() || ((roll >> 21) & 3) == 0 ? 1 : it->second;
      return s.on(id, core::TimerFired{static_cast<core::LaneTimer>(timer), token}, now);
    }
    case 7:
    case 8:
      if (l != nullptr && l->state() == core::LaneState::Starting && l->pid() == 0) {
        return s.on(id, core::Spawned{next_pid++}, now);
      }
      return s.on(id, core::Ready{}, now);
    case 9:
    case 10: {
      const core::ExitStatus status =
          ((roll >> 20) & 1) ? core::ExitStatus::exited(1) : core::ExitStatus::signaled(9);
      return s.on(id, core::Exited{status, static_cast<double>((roll >> 22) % 100) / 100.0}, now);
    }
    case 11:
      return s.on(id, core::WatchdogPing{}, now);
    case 12:
      return s.on(id, core::StatusText{"status " + std::to_string(roll % 97)}, now);
    case 13:
      return s.on(id, core::WorkerStopping{}, now);
    case 14:
      return s.on(id, core::ExtendTimeout{core::Duration((roll >> 20) % 3000)}, now);
    case 16:
      return s.on(id, core::ProbeResult{false, "GET /healthz: " + std::to_string(roll % 600)}, now);
    case 17:
      return s.on(id, core::ProbeResult{((roll >> 20) & 3) == 0, "connect: refused"}, now);
    default:
      return s.on(id, core::SetWatchdog{core::Duration((roll >> 20) % 4000)}, now);
  }
}

}  // namespace

TEST_CASE("a supervisor saved and restored through the upgrade codec decides as the original") {
  const std::string base = GENERATE(std::string(kConfig), std::string(kProbedConfig));
  config::ParseResult next = config::parse_config(base + "    env: { V: \"2\" }\n", "walk.yaml");
  REQUIRE(next.config);
  const config::AppSpec next_spec = next.config->apps.at(0);
  for (std::uint32_t seed = 1; seed <= 40; ++seed) {
    INFO("seed " << seed);
    std::mt19937 random(seed);
    core::Supervisor original(apps_of(base));
    core::Supervisor copy(apps_of(base));
    core::TimePoint now{};
    Armed armed;
    int pid_a = 1000;
    int pid_b = 1000;
    const auto first_a = original.start_all(now);
    const auto first_b = copy.start_all(now);
    REQUIRE(describe(first_a) == describe(first_b));
    armed.note(first_a);
    for (int n = 0; n < 400; ++n) {
      if (random() % 7 == 0) copy = saved_and_restored(copy);
      now += core::Duration(random() % 700);
      const std::uint32_t roll = static_cast<std::uint32_t>(random());
      const auto a = step(original, roll, now, armed, next_spec, pid_a);
      const auto b = step(copy, roll, now, armed, next_spec, pid_b);
      INFO("step " << n << " roll " << roll);
      REQUIRE(describe(a) == describe(b));
      armed.note(a);
    }
    copy = saved_and_restored(copy);
    REQUIRE(original.apps().size() == copy.apps().size());
    const core::AppState& x = original.apps()[0];
    const core::AppState& y = copy.apps()[0];
    CHECK(x.instances == y.instances);
    CHECK(x.generation == y.generation);
    CHECK(x.good_generation == y.good_generation);
    CHECK(x.stopped == y.stopped);
    CHECK(x.restarts == y.restarts);
    REQUIRE(x.slots.size() == y.slots.size());
    for (std::size_t i = 0; i < x.slots.size(); ++i) {
      CHECK(x.slots[i].active == y.slots[i].active);
      CHECK(x.slots[i].last_exit == y.slots[i].last_exit);
      for (unsigned l = 0; l < 2; ++l)
        CHECK(x.slots[i].lanes[l].record() == y.slots[i].lanes[l].record());
    }
  }
}

TEST_CASE("a lane saved by a master before the ready probe is read with its probe unarmed") {
  core::Supervisor s(apps_of(kConfig));
  core::TimePoint now{};
  s.start_all(now);
  s.on({0, 0, 0}, core::Spawned{1000}, now);
  std::vector<std::string> texts;
  nlohmann::json app = daemon::records::app_json(s.apps()[0], texts);
  // What the older master wrote: two timer tokens, nine fields of a worker.
  std::size_t lanes = 0;
  const std::function<void(nlohmann::json&)> strip = [&](nlohmann::json& j) {
    if (j.is_object() && j.contains("tokens") && j.contains("next_token")) {
      REQUIRE(j["tokens"].size() == 3);
      j["tokens"].erase(2);
      if (j.contains("worker")) j["worker"].erase(9);
      ++lanes;
    }
    if (j.is_structured()) {
      for (nlohmann::json& child : j) strip(child);
    }
  };
  strip(app);
  REQUIRE(lanes > 0);
  const daemon::records::Specs specs(texts);
  const core::AppState back = daemon::records::app_of(app, specs);
  CHECK(back.slots[0].lanes[0].record() == s.apps()[0].slots[0].lanes[0].record());
}

TEST_CASE("a stop-first rollout saved while a slot is emptied goes on in the new master") {
  core::Supervisor s(apps_of(kProbedConfig));
  core::TimePoint now{};
  int pid = 1000;
  for (const core::SlotAction& a : s.start_all(now)) {
    if (std::holds_alternative<core::Spawn>(a.action)) s.on(a.slot, core::Spawned{pid++}, now);
  }
  // Each probe succeeds; min_ready later each is running.
  for (unsigned i = 0; i < 3; ++i) {
    Armed armed;
    armed.note(s.on({0, i, 0}, core::ProbeResult{true, ""}, now));
    const unsigned token = armed.lanes[{i, 0, static_cast<int>(core::LaneTimer::State)}];
    s.on({0, i, 0}, core::TimerFired{core::LaneTimer::State, token}, now + 1s);
  }
  now += 1s;
  REQUIRE(s.lane({0, 0, 0}).state() == core::LaneState::Running);
  config::ParseResult next =
      config::parse_config(std::string(kProbedConfig) + "    env: { V: \"2\" }\n", "walk.yaml");
  REQUIRE(next.config);
  s.roll(0, next.config->apps.at(0), 3, "rolled", now);
  REQUIRE(s.apps()[0].rollout);
  REQUIRE(s.apps()[0].rollout->vacating == std::vector<unsigned>{0});
  core::Supervisor copy = saved_and_restored(s);
  REQUIRE(copy.apps()[0].rollout);
  CHECK(copy.apps()[0].rollout->stop_first);
  CHECK(copy.apps()[0].rollout->vacating == std::vector<unsigned>{0});
  // The old worker's exit starts the new one, in both.
  const core::Exited gone{core::ExitStatus::exited(0)};
  CHECK(describe(s.on({0, 0, 0}, gone, now)) == describe(copy.on({0, 0, 0}, gone, now)));
  CHECK(copy.lane({0, 0, 1}).state() == core::LaneState::Starting);

  // A master from before stop-first rollouts wrote none of its fields: it rolled out start-first.
  std::vector<std::string> texts;
  nlohmann::json app = daemon::records::app_json(s.apps()[0], texts);
  for (const char* key : {"stop_first", "vacating", "restore"}) {
    REQUIRE(app["rollout"].erase(key) == 1);
  }
  const core::AppState old = daemon::records::app_of(app, daemon::records::Specs(texts));
  REQUIRE(old.rollout);
  CHECK_FALSE(old.rollout->stop_first);
  CHECK(old.rollout->vacating.empty());
}
