// The reload planner: pairs of configs (running, next) and what the plan says, with no process.
#include "supervisor/core/reload_plan.h"

#include <catch2/catch.hpp>

#include "config/parse.h"

using namespace clusterd;

namespace {

config::Config parse(const std::string& yaml) {
  config::ParseResult result = config::parse_config(yaml, "c.yaml");
  INFO(yaml);
  REQUIRE(result.errors.empty());
  return *result.config;
}

std::string app(const std::string& name, const std::string& extra = "",
                const std::string& listen = "") {
  return "  " + name + ":\n    command: [\"/bin/" + name + "\"]\n    instances: 2\n" + extra +
         (listen.empty() ? "" : "    listen:\n" + listen);
}

core::Supervisor running(const config::Config& config) {
  std::vector<core::AppState> apps;
  for (const config::AppSpec& spec : config.apps) {
    core::AppState state;
    state.spec = spec;
    state.instances = spec.instances.count.value_or(2);
    apps.push_back(std::move(state));
  }
  return core::Supervisor(std::move(apps));
}

core::ReloadPlan plan(const config::Config& a, const config::Config& b,
                      std::optional<std::string> only = std::nullopt) {
  const core::Supervisor s = running(a);
  auto result = core::plan_reload(a, b, s, {3, "3: affinity 0-2, no cgroup quota"}, only);
  REQUIRE(std::holds_alternative<core::ReloadPlan>(result));
  return std::get<core::ReloadPlan>(result);
}

std::string refusal(const config::Config& a, const config::Config& b,
                    std::optional<std::string> only = std::nullopt) {
  const core::Supervisor s = running(a);
  auto result = core::plan_reload(a, b, s, {3, "3: affinity"}, only);
  REQUIRE(std::holds_alternative<core::Refused>(result));
  return std::get<core::Refused>(result).reason;
}

}  // namespace

TEST_CASE("reload plans: what changes, app by app") {
  const config::Config base = parse("apps:\n" + app("web") + app("api"));
  struct Case {
    std::string next;
    std::string summary;
  };
  const std::vector<Case> cases = {
      {"apps:\n" + app("web") + app("api"), "nothing changed"},
      {"apps:\n" + app("web"), "removed api"},
      {"apps:\n" + app("web") + app("api") + app("jobs"), "added jobs"},
      {"apps:\n" + app("web", "    env: { A: \"1\" }\n") + app("api"), "rolling web"},
      {"apps:\n" + app("web") + app("api", "    stop_timeout: 3s\n"), "rolling api"},
      {"apps:\n  web:\n    command: [\"/bin/web\"]\n    instances: 4\n" + app("api"),
       "web instances 2 -> 4"},
      {"apps:\n  web:\n    command: [\"/bin/web\"]\n    instances: auto\n" + app("api"),
       "web instances 2 -> 3"},
      {"apps:\n  web:\n    command: [\"/bin/web2\"]\n    instances: 4\n" + app("api"),
       "web instances 2 -> 4; rolling web"},
      {"control: { max_clients: 8 }\napps:\n" + app("web") + app("api"),
       "control settings applied"},
  };
  for (const Case& c : cases) {
    INFO(c.next);
    CHECK(plan(base, parse(c.next)).summary == c.summary);
  }
}

TEST_CASE("a reload of one app rolls it even unchanged and leaves the others alone") {
  const config::Config base = parse("apps:\n" + app("web") + app("api"));
  const config::Config next =
      parse("apps:\n" + app("web") + "  jobs:\n    command: [\"/bin/x\"]\n");
  const core::ReloadPlan p = plan(base, next, "web");
  CHECK(p.summary == "rolling web");
  REQUIRE(p.apps.size() == 1);
  CHECK(p.apps[0].roll);
  CHECK(p.remove.empty());  // api is missing from the file, but only web was asked for
  CHECK(refusal(base, next, "nope") == "no app named 'nope' in c.yaml");
}

TEST_CASE("listeners keep their sockets where address and mode stay, whatever the name") {
  const config::Config base =
      parse("apps:\n" + app("web", "",
                            "      http: { address: \"127.0.0.1:8080\", mode: reuseport }\n"
                            "      admin: { address: \"127.0.0.1:9000\" }\n"));
  const config::Config next = parse(
      "apps:\n" + app("web", "    env: { A: \"1\" }\n",
                      "      www: { address: \"127.0.0.1:8080\", mode: reuseport, backlog: 99 }\n"
                      "      admin: { address: \"127.0.0.1:9001\" }\n"));
  const core::ReloadPlan p = plan(base, next);
  REQUIRE(p.apps.size() == 1);
  const std::vector<core::ListenerStep>& steps = p.apps[0].listeners;
  REQUIRE(steps.size() == 2);
  CHECK(steps[0].kind == core::ListenerStep::Kind::Reuse);
  CHECK(steps[0].old == 0u);
  CHECK(steps[0].backlog_changed);
  CHECK(steps[1].kind == core::ListenerStep::Kind::Bind);
}

TEST_CASE("a listener that changes mode on the same address binds beside the old one") {
  const std::string shared = "      http: { address: \"127.0.0.1:8080\", mode: shared }\n";
  const std::string reuseport = "      http: { address: \"127.0.0.1:8080\", mode: reuseport }\n";
  const config::Config a = parse("apps:\n" + app("web", "", shared));
  const config::Config b = parse("apps:\n" + app("web", "", reuseport));
  for (const auto& [from, to] : {std::pair{&a, &b}, std::pair{&b, &a}}) {
    const core::ReloadPlan p = plan(*from, *to);
    REQUIRE(p.apps.size() == 1);
    CHECK(p.apps[0].roll);
    REQUIRE(p.apps[0].listeners.size() == 1);
    CHECK(p.apps[0].listeners[0].kind == core::ListenerStep::Kind::Beside);
    CHECK(p.apps[0].listeners[0].old == 0u);
  }
  // A unix socket has one path: it cannot serve two modes at once.
  const config::Config u1 =
      parse("apps:\n" + app("web", "", "      s: { address: \"unix:/run/x.sock\" }\n"));
  const config::Config u2 = parse(
      "apps:\n" + app("web", "", "      s: { address: \"unix:/run/x.sock\", mode: worker }\n"));
  CHECK(refusal(u1, u2) ==
        "listener s: unix socket unix:/run/x.sock cannot change from shared to worker mode in one "
        "reload (one path, one socket); use a new path, or stop the app first");
}

TEST_CASE("a reload is refused while a rollout runs") {
  const config::Config base = parse("apps:\n" + app("web"));
  core::Supervisor s = running(base);
  core::TimePoint now{};
  s.start_all(now);
  config::AppSpec v2 = base.apps[0];
  v2.command = {"/bin/v2"};
  REQUIRE_FALSE(s.roll(0, v2, 2, "", now).refused);
  auto result = core::plan_reload(base, base, s, {1, ""}, std::nullopt);
  REQUIRE(std::holds_alternative<core::Refused>(result));
  CHECK(std::get<core::Refused>(result).reason == "a rollout is still in progress");
}

TEST_CASE("instances resolve from the config or the machine") {
  config::AppSpec spec;
  spec.instances.count = 4;
  CHECK(core::resolve_instances(spec, {2, "2: affinity 0-1"}) ==
        std::pair<unsigned, std::string>{4, "4: set in config"});
  spec.instances.count.reset();
  CHECK(core::resolve_instances(spec, {2, "2: affinity 0-1"}) ==
        std::pair<unsigned, std::string>{2, "2: affinity 0-1"});
}

TEST_CASE("instances: max is every usable CPU, -1 all but one and at least 1, each explained") {
  config::AppSpec spec;
  spec.instances.cpus = config::Instances::Cpus::Max;
  CHECK(core::resolve_instances(spec, {4, "4: affinity 0-3, no cgroup quota"}) ==
        std::pair<unsigned, std::string>{4, "4: max: affinity 0-3, no cgroup quota"});
  spec.instances.cpus = config::Instances::Cpus::AllButOne;
  CHECK(core::resolve_instances(spec, {4, "4: affinity 0-3, no cgroup quota"}) ==
        std::pair<unsigned, std::string>{3,
                                         "3: -1: all but one of 4: affinity 0-3, no cgroup quota"});
  CHECK(core::resolve_instances(spec, {2, "2: affinity 0-7, cgroup quota 1.50"}) ==
        std::pair<unsigned, std::string>{
            1, "1: -1: all but one of 2: affinity 0-7, cgroup quota 1.50"});
  CHECK(core::resolve_instances(spec, {1, "1: affinity 0, no cgroup quota"}) ==
        std::pair<unsigned, std::string>{
            1, "1: -1: all but one of 1 (at least 1): affinity 0, no cgroup quota"});
}

TEST_CASE("a reload to instances: max or -1 scales the app without replacing its workers") {
  const auto with = [](const std::string& instances) {
    return parse("apps:\n  web:\n    command: [\"/bin/web\"]\n    instances: " + instances + "\n");
  };
  const config::Config a = with("auto");
  const core::Supervisor s = running(a);  // 2 workers
  const core::AutoInstances cpus{3, "3: affinity 0-2, no cgroup quota"};
  auto max = core::plan_reload(a, with("max"), s, cpus, std::nullopt);
  REQUIRE(std::holds_alternative<core::ReloadPlan>(max));
  CHECK(std::get<core::ReloadPlan>(max).summary == "web instances 2 -> 3");
  CHECK_FALSE(std::get<core::ReloadPlan>(max).apps.at(0).roll);
  auto all_but_one = core::plan_reload(a, with("-1"), s, cpus, std::nullopt);
  REQUIRE(std::holds_alternative<core::ReloadPlan>(all_but_one));
  CHECK(std::get<core::ReloadPlan>(all_but_one).summary == "nothing changed");
}
