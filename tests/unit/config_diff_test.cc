// Unit tests of config::diff_configs / same_app / same_socket: pairs of YAML documents, parsed
// with parse_config, and what a reload from the first to the second would change.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/diff.h"
#include "config/parse.h"

namespace cfg = clusterd::config;

namespace {

using Names = std::vector<std::string>;

cfg::Config parse_ok(const std::string& yaml) {
  cfg::ParseResult r = cfg::parse_config(yaml, "t.yaml");
  std::string errors;
  for (const auto& e : r.errors) errors += e.to_string() + "\n";
  INFO(yaml);
  INFO(errors);
  REQUIRE(r.config.has_value());
  return *r.config;
}

cfg::ConfigDiff diff(const std::string& running, const std::string& next) {
  return cfg::diff_configs(parse_ok(running), parse_ok(next));
}

const std::string kBase = R"(control:
  socket: /run/x.sock
apps:
  web:
    command: ["./w", "--threads", "1"]
    instances: 2
    listen:
      http: { address: "127.0.0.1:8080", mode: reuseport, backlog: 128 }
    env: { A: "1", B: "2" }
  jobs:
    command: ./jobs
)";

// kBase with the first occurrence of `from` replaced by `to`.
std::string edit(const std::string& from, const std::string& to) {
  std::string out = kBase;
  std::size_t at = out.find(from);
  REQUIRE(at != std::string::npos);
  out.replace(at, from.size(), to);
  return out;
}

// web changed, jobs unchanged, nothing else.
void check_only_web_changed(const cfg::ConfigDiff& d) {
  CHECK(d.added.empty());
  CHECK(d.removed.empty());
  CHECK(d.changed == Names{"web"});
  CHECK(d.unchanged == Names{"jobs"});
  CHECK_FALSE(d.control_changed);
}

}  // namespace

TEST_CASE("diff: identical configs", "[config][diff]") {
  cfg::ConfigDiff d = diff(kBase, kBase);
  CHECK(d.added.empty());
  CHECK(d.removed.empty());
  CHECK(d.changed.empty());
  CHECK(d.unchanged == Names{"web", "jobs"});
  CHECK_FALSE(d.control_changed);
}

TEST_CASE("diff: comments, blank lines and another spelling move marks only", "[config][diff]") {
  std::string moved = R"(# a new comment at the top

control: { socket: /run/x.sock }   # flow style now
apps:
  # a comment above web
  web:
    command:
      - ./w
      - --threads
      - "1"
    instances: 2

    listen:
      http:
        address: "127.0.0.1:8080"
        mode: reuseport
        backlog: 128
    env:
      A: 1
      B: 2
  jobs: { command: ["./jobs"] }
)";
  cfg::Config a = parse_ok(kBase);
  cfg::Config b = parse_ok(moved);
  REQUIRE(a.apps[0].at.line != b.apps[0].at.line);
  REQUIRE(a.apps[0].listeners[0].at.line != b.apps[0].listeners[0].at.line);
  REQUIRE(a.control.socket_at.line != b.control.socket_at.line);
  cfg::ConfigDiff d = cfg::diff_configs(a, b);
  CHECK(d.changed.empty());
  CHECK(d.unchanged == Names{"web", "jobs"});
  CHECK_FALSE(d.control_changed);
  CHECK(cfg::same_app(a.apps[0], b.apps[0]));
}

TEST_CASE("diff: apps in another order are unchanged", "[config][diff]") {
  std::string reordered = R"(apps:
  jobs:
    command: ./jobs
  web:
    env: { A: "1", B: "2" }
    listen:
      http: { backlog: 128, mode: reuseport, address: "127.0.0.1:8080" }
    instances: 2
    command: ["./w", "--threads", "1"]
control:
  socket: /run/x.sock
)";
  cfg::ConfigDiff d = diff(kBase, reordered);
  CHECK(d.changed.empty());
  CHECK(d.unchanged == Names{"jobs", "web"});
  CHECK_FALSE(d.control_changed);
}

TEST_CASE("diff: a change to what the workers run changes the app", "[config][diff]") {
  struct Case {
    std::string from;
    std::string to;
  };
  std::vector<Case> cases = {
      {R"(env: { A: "1", B: "2" })", R"(env: { A: "1", B: "3" })"},
      {R"(env: { A: "1", B: "2" })", R"(env: { B: "2", A: "1" })"},  // order reaches the worker
      {R"(env: { A: "1", B: "2" })", R"(env: { A: "1" })"},
      {R"(["./w", "--threads", "1"])", R"(["./w", "--threads", "2"])"},
      {R"(["./w", "--threads", "1"])", R"(["./w2", "--threads", "1"])"},
      {"instances: 2", "instances: 3"},
      {"instances: 2", "instances: auto"},
      {"backlog: 128", "backlog: 129"},
      {"mode: reuseport", "mode: shared"},
      {"127.0.0.1:8080", "127.0.0.1:8081"},
      {"http: {", "http2: {"},
      {"instances: 2", "instances: 2\n    cpu_affinity: per-worker"},
      {"instances: 2", "instances: 2\n    ready: notify"},
      {"instances: 2", "instances: 2\n    ready_timeout: 11s"},
      {"instances: 2", "instances: 2\n    stop_signal: INT"},
      {"instances: 2", "instances: 2\n    stop_timeout: 11s"},
      {"instances: 2", "instances: 2\n    restart: never"},
      {"instances: 2", "instances: 2\n    min_uptime: 2s"},
      {"instances: 2", "instances: 2\n    max_restarts: 11"},
      {"instances: 2", "instances: 2\n    restart_window: 61s"},
      {"instances: 2", "instances: 2\n    backoff: { initial: 200ms }"},
      {"instances: 2", "instances: 2\n    backoff: { max: 31s }"},
      {"instances: 2", "instances: 2\n    cwd: /srv"},
      {"instances: 2", "instances: 2\n    user: nobody"},
      {"instances: 2", "instances: 2\n    group: nogroup"},
      {"instances: 2", "instances: 2\n    limits: { nofile: 1024 }"},
      {"instances: 2", "instances: 2\n    rollout: { batch: 2 }"},
      {"instances: 2", "instances: 2\n    rollout: { canary_time: 5s }"},
      {"instances: 2", "instances: 2\n    watchdog: 30s"},
      {"instances: 2", "instances: 2\n    max_memory: 512M"},
      {"instances: 2", "instances: 2\n    memory_check_interval: 10s"},
      {"instances: 2", "instances: 2\n    umask: \"027\""},
      {"instances: 2", "instances: 2\n    adopt: all"},  // the filter is set up at each start
      {"backlog: 128 }", "backlog: 128, adopt: true }"},
      {"backlog: 128 }", "backlog: 128 }\n      more: \"127.0.0.1:9000\""},
  };
  for (const Case& c : cases) {
    INFO(c.from << " -> " << c.to);
    check_only_web_changed(diff(kBase, edit(c.from, c.to)));
  }
}

TEST_CASE("diff: values spelled differently but equal are unchanged", "[config][diff]") {
  struct Case {
    std::string from;
    std::string to;
  };
  std::vector<Case> cases = {
      {"instances: 2", "instances: 2\n    ready_timeout: 10s"},  // the default, written out
      {"instances: 2", "instances: 2\n    stop_timeout: 10000ms"},
      {"instances: 2", "instances: 2\n    stop_signal: TERM"},
      {"instances: 2", "instances: 2\n    rollout: { batch: 1, canary_time: 0 }"},
      {"instances: 2", "instances: 2\n    memory_check_interval: 5s"},
      {"instances: 2", "instances: 2\n    umask: \"0022\""},  // the default, written out
      {"instances: 2", "instances: 2\n    adopt: none"},
      {"backlog: 128 }", "backlog: 128, adopt: false }"},
      {R"(["./w", "--threads", "1"])", R"("./w  --threads 1")"},
  };
  for (const Case& c : cases) {
    INFO(c.from << " -> " << c.to);
    cfg::ConfigDiff d = diff(kBase, edit(c.from, c.to));
    CHECK(d.changed.empty());
    CHECK(d.unchanged == Names{"web", "jobs"});
  }
  // A size is compared in bytes, not as written.
  CHECK(diff(edit("instances: 2", "instances: 2\n    max_memory: 1G"),
             edit("instances: 2", "instances: 2\n    max_memory: 1024M"))
            .changed.empty());
  CHECK(diff(edit("instances: 2", "instances: 2\n    max_memory: 1G"),
             edit("instances: 2", "instances: 2\n    max_memory: 1GB"))
            .changed == Names{"web"});
}

TEST_CASE("diff: same_socket ignores the backlog, same_app does not", "[config][diff]") {
  cfg::Config a = parse_ok(kBase);
  cfg::Config b = parse_ok(edit("backlog: 128", "backlog: 256"));
  const cfg::ListenerSpec& la = a.apps[0].listeners[0];
  const cfg::ListenerSpec& lb = b.apps[0].listeners[0];
  CHECK(cfg::same_socket(la, lb));
  CHECK_FALSE(cfg::same_app(a.apps[0], b.apps[0]));
  check_only_web_changed(cfg::diff_configs(a, b));

  cfg::Config mode = parse_ok(edit("mode: reuseport", "mode: shared"));
  CHECK_FALSE(cfg::same_socket(la, mode.apps[0].listeners[0]));
  cfg::Config port = parse_ok(edit("127.0.0.1:8080", "127.0.0.1:8081"));
  CHECK_FALSE(cfg::same_socket(la, port.apps[0].listeners[0]));
  cfg::Config adopted = parse_ok(edit("backlog: 128 }", "backlog: 128, adopt: true }"));
  CHECK(cfg::same_socket(la, adopted.apps[0].listeners[0]));  // the socket stays, workers roll
  CHECK_FALSE(cfg::same_app(a.apps[0], adopted.apps[0]));
  cfg::Config name = parse_ok(edit("http: {", "web: {"));
  CHECK_FALSE(cfg::same_socket(la, name.apps[0].listeners[0]));
  // The address text counts, even when it names the same socket address.
  cfg::Config v6a = parse_ok(edit("127.0.0.1:8080", "[::1]:8080"));
  cfg::Config v6b = parse_ok(edit("127.0.0.1:8080", "[0::1]:8080"));
  const cfg::ListenerSpec& l6a = v6a.apps[0].listeners[0];
  const cfg::ListenerSpec& l6b = v6b.apps[0].listeners[0];
  CHECK(l6a.address.host == l6b.address.host);
  CHECK_FALSE(cfg::same_socket(l6a, l6b));
  CHECK_FALSE(cfg::same_app(v6a.apps[0], v6b.apps[0]));
}

TEST_CASE("diff: apps added and removed", "[config][diff]") {
  std::string more = kBase + "  api:\n    command: ./api\n  cron:\n    command: ./cron\n";
  cfg::ConfigDiff added = diff(kBase, more);
  CHECK(added.added == Names{"api", "cron"});
  CHECK(added.removed.empty());
  CHECK(added.changed.empty());
  CHECK(added.unchanged == Names{"web", "jobs"});
  CHECK_FALSE(added.control_changed);

  cfg::ConfigDiff removed = diff(more, kBase);
  CHECK(removed.added.empty());
  CHECK(removed.removed == Names{"api", "cron"});
  CHECK(removed.unchanged == Names{"web", "jobs"});

  cfg::ConfigDiff swapped = diff(kBase, edit("  jobs:\n", "  batch:\n"));
  CHECK(swapped.added == Names{"batch"});
  CHECK(swapped.removed == Names{"jobs"});
  CHECK(swapped.unchanged == Names{"web"});
  CHECK(swapped.changed.empty());
}

TEST_CASE("diff: the control section", "[config][diff]") {
  CHECK(diff(kBase, edit("/run/x.sock", "/run/y.sock")).control_changed);
  CHECK(diff(kBase, edit("control:\n  socket: /run/x.sock\n", "")).control_changed);
  CHECK(diff(kBase, edit("/run/x.sock", "/run/x.sock\n  group: wheel")).control_changed);
  CHECK(diff(kBase, edit("/run/x.sock", "/run/x.sock\n  max_clients: 8")).control_changed);
  CHECK(diff(kBase, edit("/run/x.sock", "/run/x.sock\n  idle_timeout: 1m")).control_changed);
  CHECK_FALSE(diff(kBase, edit("/run/x.sock", "/run/x.sock\n  max_clients: 64")).control_changed);
  // The apps are compared independently of the control section.
  cfg::ConfigDiff d = diff(kBase, edit("/run/x.sock", "/run/y.sock"));
  CHECK(d.changed.empty());
  CHECK(d.unchanged == Names{"web", "jobs"});
}

TEST_CASE("diff: the file's path is not a change", "[config][diff]") {
  cfg::Config a = parse_ok(kBase);
  cfg::Config b = *cfg::parse_config(kBase, "/etc/other.yaml").config;
  cfg::ConfigDiff d = cfg::diff_configs(a, b);
  CHECK(d.unchanged == Names{"web", "jobs"});
  CHECK_FALSE(d.control_changed);
}
