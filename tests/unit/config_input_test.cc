// Unit tests of the config parser against hostile or impossible input: YAML tags, what aliases
// expand to, recursive documents, long keys and values in messages, the number of errors kept,
// limits too small to run a process, the unix socket path of control.socket, and `umask`.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "config/parse.h"
#include "config/values.h"
#include "config/walker.h"
#include "config_test_helpers.h"

namespace cfg = clusterd::config;
using namespace clusterd::test;

namespace {

const std::string kTags =
    "; only !!str, !!int, !!float, !!bool, !!null, !!seq and !!map are accepted";

// "[*NAME, *NAME, ...]", `count` aliases.
std::string aliases(const std::string& name, int count) {
  std::string list;
  for (int i = 0; i < count; ++i) list += (i == 0 ? "*" : ", *") + name;
  return "[" + list + "]";
}

}  // namespace

TEST_CASE("tags: the core schema's are accepted where they fit the value", "[config]") {
  const cfg::AppSpec app = only_app(R"(apps:
  !!str web: !!map
    command: !!seq [!!str /bin/w, !!int 1, !!float 1.5e3, !!bool true, !<tag:yaml.org,2002:str> x]
    instances: !!int 4
    env: {A: !!str 5, C: ! text, D: !!float .inf, E: !!int 0x1F}
)");
  CHECK(app.name == "web");
  CHECK(app.command == std::vector<std::string>{"/bin/w", "1", "1.5e3", "true", "x"});
  CHECK(app.instances.count == 4u);
  CHECK(app.env == decltype(app.env){{"A", "5"}, {"C", "text"}, {"D", ".inf"}, {"E", "0x1F"}});
  // !!null is a null: an env value must be a scalar, so B is refused while the rest are read.
  CHECK(errors_of(app_with("    env: {B: !!null }\n")) ==
        std::vector<std::string>{
            "t.yaml:4:14: apps.web.env.B: expected a scalar value (write \"\" for an empty "
            "string)"});
}

TEST_CASE("tags: any other tag, or one that does not fit, is an error at its place", "[config]") {
  struct Case {
    std::string yaml;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {app_with("    ready: !!python/object:os.system notify\n"),
       {"t.yaml:4:12: apps.web.ready: unsupported tag '!!python/object:os.system'" + kTags}},
      {app_with("    ready: !custom notify\n"),
       {"t.yaml:4:12: apps.web.ready: unsupported tag '!custom'" + kTags}},
      {app_with("    ready: !!binary bm90aWZ5\n"),
       {"t.yaml:4:12: apps.web.ready: unsupported tag '!!binary'" + kTags}},
      {app_with("    ready: !<tag:example.com,2000:x> notify\n"),
       {"t.yaml:4:12: apps.web.ready: unsupported tag 'tag:example.com,2000:x'" + kTags}},
      {"%TAG !! tag:example.com,2000:\n---\n" + app_with("    ready: !!str notify\n"),
       {"t.yaml:6:12: apps.web.ready: unsupported tag 'tag:example.com,2000:str'" + kTags}},
      {app_with("    instances: !!int four\n"),
       {"t.yaml:4:16: apps.web.instances: tag !!int does not fit 'four'"}},
      {app_with("    env: {A: !!bool yes, B: !!float 1.5.0, C: !!null x}\n"),
       {"t.yaml:4:14: apps.web.env.A: tag !!bool does not fit 'yes'",
        "t.yaml:4:29: apps.web.env.B: tag !!float does not fit '1.5.0'",
        "t.yaml:4:47: apps.web.env.C: tag !!null does not fit 'x'"}},
      {app_with("    listen: !!seq {}\n"),
       {"t.yaml:4:13: apps.web.listen: tag !!seq does not fit a map"}},
      {app_with("    env: !!map []\n"),
       {"t.yaml:4:10: apps.web.env: tag !!map does not fit a sequence"}},
      {app_with("    inherit_env: [PATH, !!str {}]\n"),
       {"t.yaml:4:25: apps.web.inherit_env[1]: tag !!str does not fit a map"}},
      // A refused command is reported once, not also as missing.
      {"apps:\n  web:\n    command: !sh echo hi\n",
       {"t.yaml:3:14: apps.web.command: unsupported tag '!sh'" + kTags}},
      {"apps:\n  web:\n    command: [!sh x]\n",
       {"t.yaml:3:15: apps.web.command[0]: unsupported tag '!sh'" + kTags}},
      {"apps:\n  !app web:\n    command: x\n",
       {"t.yaml:2:3: apps.web: unsupported tag '!app'" + kTags}},
      {"!config\napps:\n  web:\n    command: x\n",
       {"t.yaml:1:1: unsupported tag '!config'" + kTags}},
      {"control: {read: [!!str alice, !user bob]}\n" + app_with(""),
       {"t.yaml:1:31: control.read[1]: unsupported tag '!user'" + kTags}},
      // An anchored tagged node is refused wherever an alias names it.
      {"x: &t !t v\n" + app_with("    ready: *t\n    cwd: *t\n"),
       {"t.yaml:1:1: x: unknown key; expected one of control, cgroups, metrics, apps",
        "t.yaml:1:4: apps.web.ready: unsupported tag '!t'" + kTags,
        "t.yaml:1:4: apps.web.cwd: unsupported tag '!t'" + kTags}},
  };
  for (const Case& c : cases) {
    INFO(c.yaml);
    CHECK(joined(errors_of(c.yaml)) == joined(c.want));
  }
}

TEST_CASE("aliases: the text a document expands to is bounded", "[config]") {
  // s is 64 KiB and a holds 16 of it (1 MiB): with s and a themselves, 14 aliases of a in b stay
  // below 16 MiB and the 15th (line 4, column 6 + 14 * 4 + 1) crosses it.
  const auto doc = [](int count) {
    return "x:\n  s: &s " + std::string(65536, 'A') + "\n  a: &a " + aliases("s", 16) +
           "\n  b: " + aliases("a", count) + "\n" + app_with("");
  };
  CHECK(errors_of(doc(14)) ==
        std::vector<std::string>{
            "t.yaml:1:1: x: unknown key; expected one of control, cgroups, metrics, apps"});
  CHECK(errors_of(doc(20)) ==
        std::vector<std::string>{"t.yaml:4:63: the document expands to more than 16777216 bytes "
                                 "of text through its aliases"});
}

TEST_CASE("aliases: an alias inside the node it names is refused", "[config]") {
  const std::string kRecursive =
      "an alias inside the node it refers to (a recursive document) is not supported";
  CHECK(errors_of("apps: &a {web: *a}\n") ==
        std::vector<std::string>{"t.yaml:1:16: " + kRecursive});
  CHECK(errors_of(app_with("    command: &c [x, [*c]]\n")) ==
        std::vector<std::string>{"t.yaml:4:22: " + kRecursive});
  // An alias after its node has ended is an ordinary one.
  CHECK(only_app(app_with("    cwd: &c /srv\n    user: *c\n")).user == "/srv");
}

TEST_CASE("messages: long keys and values are cut, and at most 1000 errors are kept", "[config]") {
  const std::string name(300, 'n');
  const std::string shown = std::string(cfg::kQuotedMax, 'n') + "...";
  CHECK(errors_of("apps:\n  ? " + name + "\n  : command: x\n    instances: [1]\n") ==
        std::vector<std::string>{
            "t.yaml:2:5: apps." + shown +
                ": invalid app name; expected 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'",
            "t.yaml:4:16: apps." + shown +
                ".instances: expected auto, max, -1 or an integer from 1 to 65536"});
  CHECK(errors_of(app_with("    ready: " + std::string(200, 'r') + "\n")) ==
        std::vector<std::string>{
            "t.yaml:4:12: apps.web.ready: expected one of exec, notify, listen, fd, tcp, got '" +
            std::string(cfg::kQuotedMax, 'r') + "...' (200 bytes)"});

  std::string many = app_with("    env:\n");
  for (int i = 0; i < 1500; ++i) many += "      K" + std::to_string(i) + ": []\n";
  const std::vector<std::string> got = errors_of(many);
  REQUIRE(got.size() == 1001);
  CHECK(got[0] ==
        "t.yaml:5:11: apps.web.env.K0: expected a scalar value (write \"\" for an "
        "empty string)");
  CHECK(got[1000] == "t.yaml: and 500 more errors (at most 1000 are listed)");
}

TEST_CASE("limits too small to run any process are errors at their key", "[config]") {
  CHECK(errors_of(app_with("    memory_max: 1\n    max_memory: 1023K\n")) ==
        std::vector<std::string>{
            "t.yaml:4:17: apps.web.memory_max: must be at least 1M (no process runs in less), got "
            "'1'",
            "t.yaml:5:17: apps.web.max_memory: must be at least 1M (no process runs in less), got "
            "'1023K'"});
  const cfg::AppSpec least = only_app(app_with("    memory_max: 1M\n    max_memory: 1048576\n"));
  CHECK(least.cgroup_limits.memory_max == cfg::kMinMemory);
  CHECK(least.max_memory == cfg::kMinMemory);

  CHECK(errors_of(app_with("    limits: {nofile: 3}\n")) ==
        std::vector<std::string>{"t.yaml:4:22: apps.web.limits.nofile: must be at least 16 (a "
                                 "program needs a few files open to start), got 3"});
  CHECK(only_app(app_with("    limits: {nofile: 16}\n")).nofile == 16u);
  // One more per socket the worker is given; a `worker` mode listener gives none.
  const std::string listeners =
      "    listen:\n      a: \"127.0.0.1:0\"\n      b: {address: \"127.0.0.1:0\", mode: worker}\n";
  CHECK(errors_of(app_with("    limits: {nofile: 16}\n" + listeners)) ==
        std::vector<std::string>{"t.yaml:4:22: apps.web.limits.nofile: must be at least 17 (16, "
                                 "and one per listening socket it is given), got 16"});
  CHECK(only_app(app_with("    limits: {nofile: 17}\n" + listeners)).nofile == 17u);
}

TEST_CASE("control.socket: a unix socket path of at most 107 bytes", "[config]") {
  const std::string ok = "/run/" + std::string(102, 's');
  CHECK(parse_ok("control: {socket: " + ok + "}\n" + app_with("")).control.socket == ok);
  CHECK(errors_of("control: {socket: " + ok + "x}\n" + app_with("")) ==
        std::vector<std::string>{"t.yaml:1:19: control.socket: unix socket path is too long (108 "
                                 "bytes, at most 107)"});
}

TEST_CASE("umask: 022 by default, or an octal umask", "[config]") {
  CHECK(only_app(app_with("")).umask == 022u);
  CHECK(only_app(app_with("    umask: \"027\"\n")).umask == 027u);
  CHECK(only_app(app_with("    umask: 0077\n")).umask == 077u);
  CHECK(only_app(app_with("    umask: 2\n")).umask == 02u);
  CHECK(only_app(app_with("    umask: 0\n")).umask == 0u);
  const std::string hint = "expected an octal umask such as 022 or 0027";
  CHECK(errors_of(app_with("    umask: 0999\n")) ==
        std::vector<std::string>{"t.yaml:4:12: apps.web.umask: " + hint + ", got '0999'"});
  CHECK(errors_of(app_with("    umask: 1777\n")) ==
        std::vector<std::string>{"t.yaml:4:12: apps.web.umask: " + hint + ", got '1777'"});
  CHECK(errors_of(app_with("    umask: u=rwx\n")) ==
        std::vector<std::string>{"t.yaml:4:12: apps.web.umask: " + hint + ", got 'u=rwx'"});
  CHECK(errors_of(app_with("    umask: \"\"\n")) ==
        std::vector<std::string>{"t.yaml:4:12: apps.web.umask: " + hint + ", got ''"});
  CHECK(errors_of(app_with("    umask: [022]\n")) ==
        std::vector<std::string>{"t.yaml:4:12: apps.web.umask: " + hint});
}

TEST_CASE("listeners: the indexed conflict check answers as a scan in file order does",
          "[config]") {
  // Few ports and hosts, wildcards, port 0 and unix paths spelled several ways: many conflicts.
  const std::vector<std::string> texts = {
      "127.0.0.1:80", "127.0.0.2:80", "0.0.0.0:80",  "127.0.0.1:81",  "0.0.0.0:81",
      "127.0.0.1:0",  "0.0.0.0:0",    "[::1]:80",    "[::]:80",       "[0::1]:80",
      "[::2]:81",     "[::]:0",       "unix:/run/a", "unix:/run/./a", "unix:/run/x/../a",
      "unix:/run/b",  "unix:rel",     "unix:./rel",  "10.0.0.1:80",   "[::ffff:1.2.3.4]:80"};
  std::vector<cfg::Address> addresses;
  for (const std::string& t : texts) addresses.push_back(*cfg::parse_address(t).value);
  std::uint64_t state = 12345;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<std::size_t>(state >> 33);
  };
  for (int round = 0; round < 200; ++round) {
    cfg::BoundAddresses index;
    std::vector<cfg::Bound> scan;
    for (int i = 0; i < 12; ++i) {
      const cfg::Address& a = addresses[next() % addresses.size()];
      const cfg::Bound* want = nullptr;
      for (const cfg::Bound& b : scan) {
        if (cfg::addresses_conflict(b.address, a)) {
          want = &b;
          break;
        }
      }
      const cfg::Bound* got = index.conflict(a);
      INFO("round " << round << ", listener " << i << ": " << a.text);
      REQUIRE((got == nullptr) == (want == nullptr));
      if (got != nullptr) CHECK(got->path == want->path);
      const cfg::Bound bound{std::to_string(i), a, {i + 1, 1}};
      scan.push_back(bound);
      index.add(bound);
    }
  }
}
