// Unit tests of config::check_environment and find_executable against a scratch directory.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/check.h"
#include "config/parse.h"

namespace cfg = clusterd::config;
namespace fs = std::filesystem;

namespace {

// A temporary directory with `run` (mode 0755), `data` (mode 0644) and `sub/` in it.
class Scratch {
 public:
  Scratch() {
    std::string tmpl = (fs::temp_directory_path() / "cfgcheck-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
    write("run", 0755);
    write("data", 0644);
    fs::create_directory(dir + "/sub");
  }
  ~Scratch() { fs::remove_all(dir); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  std::string dir;

 private:
  void write(const std::string& name, mode_t mode) {
    std::string path = dir + "/" + name;
    std::ofstream(path) << "#!/bin/sh\nexit 0\n";
    REQUIRE(chmod(path.c_str(), mode) == 0);
  }
};

// Sets PATH for the lifetime of the object.
class PathEnv {
 public:
  explicit PathEnv(const std::string& value) {
    if (const char* old = std::getenv("PATH")) saved_ = old;
    setenv("PATH", value.c_str(), 1);
  }
  ~PathEnv() {
    if (saved_) {
      setenv("PATH", saved_->c_str(), 1);
    } else {
      unsetenv("PATH");
    }
  }
  PathEnv(const PathEnv&) = delete;
  PathEnv& operator=(const PathEnv&) = delete;

 private:
  std::optional<std::string> saved_;
};

cfg::Config parse(const std::string& yaml) {
  cfg::ParseResult r = cfg::parse_config(yaml, "c.yaml");
  REQUIRE(r.errors.empty());
  return *r.config;
}

std::vector<std::string> check(const std::string& yaml) {
  std::vector<std::string> out;
  for (const cfg::ConfigError& e : cfg::check_environment(parse(yaml))) {
    out.push_back(e.to_string());
  }
  return out;
}

// An app whose command is `command` (a YAML flow sequence) plus `extra` lines.
std::string app(const std::string& command, const std::string& extra = "") {
  return "apps:\n  web:\n    command: " + command + "\n" + extra;
}

}  // namespace

TEST_CASE("find_executable", "[config]") {
  Scratch s;
  // Names with a slash: absolute, or relative to cwd.
  CHECK(cfg::find_executable(s.dir + "/run", "", "") == s.dir + "/run");
  CHECK(cfg::find_executable("./run", "", s.dir) == s.dir + "/./run");
  CHECK(cfg::find_executable("sub/../run", "", s.dir + "/") == s.dir + "/sub/../run");
  CHECK_FALSE(cfg::find_executable("./data", "", s.dir));
  CHECK_FALSE(cfg::find_executable("./sub", "", s.dir));
  CHECK_FALSE(cfg::find_executable("./missing", "", s.dir));
  CHECK_FALSE(cfg::find_executable("", "/bin", ""));
  // Bare names: each PATH entry in order; never the cwd unless PATH says so.
  CHECK(cfg::find_executable("run", "/nonexistent:" + s.dir, "") == s.dir + "/run");
  CHECK_FALSE(cfg::find_executable("data", s.dir, ""));
  CHECK_FALSE(cfg::find_executable("run", "/nonexistent", s.dir));
  CHECK(cfg::find_executable("run", "/nonexistent:", s.dir) == s.dir + "/run");
  CHECK(cfg::find_executable("run", "sub/..", s.dir) == s.dir + "/sub/../run");
  CHECK(cfg::find_executable("sh", "/nonexistent:/bin:/usr/bin", "").has_value());
}

TEST_CASE("check_environment accepts what exists", "[config]") {
  Scratch s;
  PathEnv path("/nonexistent:" + s.dir);
  CHECK(check(app("[run]")).empty());
  CHECK(check(app("[\"" + s.dir + "/run\", --flag]")).empty());
  CHECK(check(app("[./run]", "    cwd: " + s.dir + "\n")).empty());
  CHECK(check(app("[../run]", "    cwd: " + s.dir + "/sub\n")).empty());
  CHECK(check(app("[run]", "    user: root\n    group: root\n")).empty());
  CHECK(check("control: {group: root}\n" + app("[run]")).empty());
}

TEST_CASE("check_environment reports what is missing, at the key", "[config]") {
  Scratch s;
  PathEnv path("/nonexistent:" + s.dir);
  CHECK(check(app("[./nope]", "    cwd: " + s.dir + "\n")) ==
        std::vector<std::string>{"c.yaml:3:14: apps.web.command: './nope' not found"});
  CHECK(check(app("[\"" + s.dir + "/data\"]")) ==
        std::vector<std::string>{"c.yaml:3:14: apps.web.command: '" + s.dir +
                                 "/data' is not executable"});
  CHECK(check(app("[./sub]", "    cwd: " + s.dir + "\n")) ==
        std::vector<std::string>{"c.yaml:3:14: apps.web.command: './sub' is not executable"});
  CHECK(check(app("data --x")) ==
        std::vector<std::string>{"c.yaml:3:14: apps.web.command: 'data' not found in PATH "
                                 "(/nonexistent:" +
                                 s.dir + ")"});
  CHECK(check(app("[run]", "    cwd: " + s.dir + "/missing\n")) ==
        std::vector<std::string>{"c.yaml:4:10: apps.web.cwd: '" + s.dir +
                                 "/missing' does not exist"});
  CHECK(check(app("[run]", "    cwd: " + s.dir + "/data\n")) ==
        std::vector<std::string>{"c.yaml:4:10: apps.web.cwd: '" + s.dir +
                                 "/data' is not a directory"});
  // A relative command under a missing cwd is not reported twice.
  CHECK(check(app("[./run]", "    cwd: " + s.dir + "/missing\n")) ==
        std::vector<std::string>{"c.yaml:4:10: apps.web.cwd: '" + s.dir +
                                 "/missing' does not exist"});
  CHECK(check(app("[run]", "    user: no-such-user-xyz\n")) ==
        std::vector<std::string>{
            "c.yaml:4:11: apps.web.user: user 'no-such-user-xyz' does not exist"});
  CHECK(check(app("[run]", "    group: no-such-group-xyz\n")) ==
        std::vector<std::string>{
            "c.yaml:4:12: apps.web.group: group 'no-such-group-xyz' does not exist"});
  CHECK(check("control: {group: no-such-group-xyz}\n" + app("[run]")) ==
        std::vector<std::string>{
            "c.yaml:1:18: control.group: group 'no-such-group-xyz' does not exist"});
}

TEST_CASE("check_environment reports every app's problems", "[config]") {
  Scratch s;
  PathEnv path(s.dir);
  std::vector<std::string> got = check(R"(apps:
  a:
    command: [./missing-a]
    user: no-such-user-xyz
  b:
    command: [missing-b]
    group: no-such-group-xyz
)");
  std::vector<std::string> want = {
      "c.yaml:3:14: apps.a.command: './missing-a' not found",
      "c.yaml:4:11: apps.a.user: user 'no-such-user-xyz' does not exist",
      "c.yaml:6:14: apps.b.command: 'missing-b' not found in PATH (" + s.dir + ")",
      "c.yaml:7:12: apps.b.group: group 'no-such-group-xyz' does not exist",
  };
  CHECK(got == want);
}

TEST_CASE("check_environment reports a unix: listener whose directory cannot hold it", "[config]") {
  Scratch s;
  PathEnv path(s.dir);
  const auto listen = [&](const std::string& address) {
    return check(app("[run]", "    listen: { api: \"unix:" + address + "\" }\n"));
  };
  CHECK(listen(s.dir + "/sub/api.sock").empty());
  CHECK(listen(s.dir + "/missing/api.sock") ==
        std::vector<std::string>{"c.yaml:4:20: apps.web.listen.api: directory '" + s.dir +
                                 "/missing' does not exist"});
  CHECK(listen(s.dir + "/data/api.sock") ==
        std::vector<std::string>{"c.yaml:4:20: apps.web.listen.api: '" + s.dir +
                                 "/data' is not a directory"});
}

namespace {

// A uid (and gid) that has no passwd (and no group) entry on this machine.
unsigned unused_id() {
  for (unsigned id = 54321;; ++id) {
    if (getpwuid(id) == nullptr && getgrgid(id) == nullptr) return id;
  }
}

// An app with a unix: listener in `dir` whose socket file's owner is `owner` (a flow-map body).
std::string unix_app(const std::string& dir, const std::string& owner) {
  return app("[run]", "    listen:\n      api: { address: \"unix:" + dir + "/sub/api.sock\", " +
                          owner + " }\n");
}

}  // namespace

TEST_CASE("check_environment looks up the control roles and socket owners, at the key",
          "[config]") {
  Scratch s;
  PathEnv path(s.dir);
  CHECK(check("control: {read: [root, \"@root\"], admin: [\"@daemon\", daemon]}\n" + app("[run]"))
            .empty());
  CHECK(check("control:\n  read: [root, no-such-user-xyz]\n  admin: [\"@no-such-group-xyz\"]\n" +
              app("[run]")) ==
        std::vector<std::string>{
            "c.yaml:2:16: control.read: user 'no-such-user-xyz' does not exist",
            "c.yaml:3:11: control.admin: group 'no-such-group-xyz' does not exist"});
  CHECK(check(unix_app(s.dir, "socket_user: root, socket_group: root")).empty());
  CHECK(check(unix_app(s.dir, "socket_user: no-such-user-xyz")) ==
        std::vector<std::string>{"c.yaml:5:" + std::to_string(58 + s.dir.size()) +
                                 ": apps.web.listen.api.socket_user: user 'no-such-user-xyz' "
                                 "does not exist"});
  CHECK(check(unix_app(s.dir, "socket_group: no-such-group-xyz")) ==
        std::vector<std::string>{"c.yaml:5:" + std::to_string(59 + s.dir.size()) +
                                 ": apps.web.listen.api.socket_group: group 'no-such-group-xyz' "
                                 "does not exist"});
  // Without `names` (the daemon looks them up itself, outside its loop), none of them.
  cfg::ParseResult r = cfg::parse_config(
      "control: {read: [no-such-user-xyz], admin: [\"@no-such-group-xyz\"]}\n" +
          unix_app(s.dir, "socket_user: no-such-user-xyz, socket_group: no-such-group-xyz"),
      "c.yaml");
  REQUIRE(r.errors.empty());
  CHECK(cfg::check_environment(*r.config, false).empty());
}

TEST_CASE("check_environment takes a string of digits as a uid or gid", "[config]") {
  Scratch s;
  PathEnv path(s.dir);
  const std::string id = std::to_string(unused_id());
  // An id is valid whether or not the user database knows it, wherever a user or group goes.
  CHECK(check(app("[run]", "    user: \"" + id + "\"\n    group: \"" + id + "\"\n")).empty());
  CHECK(check(app("[run]", "    user: 0\n    group: 0\n")).empty());
  CHECK(check("control: {group: \"" + id + "\", read: [\"" + id + "\"], admin: [\"@" + id +
              "\"]}\n" + app("[run]"))
            .empty());
  CHECK(
      check(unix_app(s.dir, "socket_user: \"" + id + "\", socket_group: \"" + id + "\"")).empty());
  // Digits beyond the range are not a name either.
  CHECK(check(app("[run]", "    user: 4294967295\n")) ==
        std::vector<std::string>{
            "c.yaml:4:11: apps.web.user: user id 4294967295 is out of range (at most 4294967294)"});
  CHECK(check("control: {read: [\"@99999999999999999999999\"]}\n" + app("[run]")) ==
        std::vector<std::string>{"c.yaml:1:18: control.read: group id 99999999999999999999999 is "
                                 "out of range (at most 4294967294)"});
}

TEST_CASE("check_environment reports a capture log file whose directory is missing, at the key",
          "[config]") {
  Scratch s;
  PathEnv path(s.dir);
  const auto logs = [&](const std::string& file) {
    return app("[run]", "    logs: { mode: capture, file: \"" + file + "\" }\n");
  };
  CHECK(check(logs(s.dir + "/sub/web.log")).empty());
  CHECK(check(logs(s.dir + "/missing/web.log")) ==
        std::vector<std::string>{"c.yaml:4:34: apps.web.logs.file: its directory '" + s.dir +
                                 "/missing' does not exist"});
  CHECK(check(logs(s.dir + "/data/web.log")) ==
        std::vector<std::string>{"c.yaml:4:34: apps.web.logs.file: '" + s.dir +
                                 "/data' is not a directory"});
}
