// Unit tests of config::check_environment and find_executable against a scratch directory.
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/check.h"
#include "config/parse.h"
#include "failing_syscall.h"

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

TEST_CASE("check_environment refuses a log file that is a directory, not a file, or a system file",
          "[config]") {
  Scratch s;
  PathEnv path(s.dir);
  const auto logs = [&](const std::string& file) {
    return app("[run]", "    logs: { mode: capture, file: \"" + file + "\" }\n");
  };
  const auto at = [&](const std::string& file) {
    return "c.yaml:4:34: apps.web.logs.file: '" + file + "'";
  };
  CHECK(check(logs(s.dir + "/data")).empty());  // an existing regular file is appended to
  CHECK(check(logs("/tmp")) ==
        std::vector<std::string>{at("/tmp") +
                                 " is a directory; expected a file (or nothing yet) there"});
  CHECK(check(logs(s.dir + "/sub")) ==
        std::vector<std::string>{at(s.dir + "/sub") +
                                 " is a directory; expected a file (or nothing yet) there"});
  REQUIRE(symlink((s.dir + "/data").c_str(), (s.dir + "/link").c_str()) == 0);
  CHECK(
      check(logs(s.dir + "/link")) ==
      std::vector<std::string>{at(s.dir + "/link") + " is a symbolic link; name the file itself"});
  REQUIRE(mkfifo((s.dir + "/fifo").c_str(), 0600) == 0);
  CHECK(check(logs(s.dir + "/fifo")) ==
        std::vector<std::string>{at(s.dir + "/fifo") + " is not a regular file"});
  const std::string system = ", a system directory: the log and its rotations must go elsewhere";
  CHECK(check(logs("/etc/passwd")) ==
        std::vector<std::string>{at("/etc/passwd") + " is in /etc" + system});
  CHECK(check(logs("/usr/lib/web.log")) ==
        std::vector<std::string>{at("/usr/lib/web.log") + " is in /usr" + system});
  // Through a symbolic link to a system directory, too.
  REQUIRE(symlink("/etc", (s.dir + "/etc").c_str()) == 0);
  CHECK(check(logs(s.dir + "/etc/web.log")) ==
        std::vector<std::string>{at(s.dir + "/etc/web.log") + " is in /etc" + system});
}

namespace {

// Sets the soft RLIMIT_STACK for the lifetime of the object (where the hard limit allows).
class StackLimit {
 public:
  explicit StackLimit(rlim_t soft) {
    REQUIRE(getrlimit(RLIMIT_STACK, &saved_) == 0);
    rlimit next = saved_;
    next.rlim_cur = soft;
    set_ = (saved_.rlim_max == RLIM_INFINITY || soft <= saved_.rlim_max) &&
           setrlimit(RLIMIT_STACK, &next) == 0;
  }
  ~StackLimit() { setrlimit(RLIMIT_STACK, &saved_); }
  StackLimit(const StackLimit&) = delete;
  StackLimit& operator=(const StackLimit&) = delete;
  bool set() const { return set_; }

 private:
  rlimit saved_{};
  bool set_ = false;
};

}  // namespace

TEST_CASE("check_environment refuses a command or environment execve cannot take", "[config]") {
  Scratch s;
  PathEnv path(s.dir);
  const std::string most = std::to_string(sysconf(_SC_PAGESIZE) * 32 - 1);  // MAX_ARG_STRLEN - 1
  const std::string big(200000, 'x');
  CHECK(check(app("[run, \"" + big + "\"]")) ==
        std::vector<std::string>{"c.yaml:3:14: apps.web.command[1]: an argument of 200000 bytes; "
                                 "the kernel takes " +
                                 most + " at most (MAX_ARG_STRLEN)"});
  CHECK(check(app("[run]", "    env:\n      A: 1\n      BIG: \"" + big + "\"\n")) ==
        std::vector<std::string>{"c.yaml:6:12: apps.web.env.BIG: NAME=value is 200004 bytes; the "
                                 "kernel takes " +
                                 most + " at most in one variable (MAX_ARG_STRLEN)"});

  // 40 arguments of 100000 bytes (aliases of one: the file stays under 1 MiB): over a quarter of
  // an 8 MiB stack limit, under 6 MiB.
  std::string args = "[run, &a " + std::string(100000, 'a');
  for (int i = 1; i < 40; ++i) args += ", *a";
  args += "]";
  const std::string prefix =
      "c.yaml:3:14: apps.web.command: with its environment the command takes about ";
  StackLimit eight(8 << 20);
  if (eight.set()) {
    const std::vector<std::string> got = check(app(args));
    REQUIRE(got.size() == 1);
    CHECK_THAT(got[0], Catch::StartsWith(prefix) &&
                           Catch::EndsWith(" bytes; execve accepts at most 2097152 here (a quarter "
                                           "of the stack limit, 8388608)"));
  }
  StackLimit unlimited(RLIM_INFINITY);
  if (unlimited.set()) CHECK(check(app(args)).empty());  // 6 MiB
  // 70 such variables are over 6 MiB; none inherited with `inherit_env: false`.
  std::string env = "    inherit_env: false\n    env:\n      V0: &v " + std::string(100000, 'v');
  for (int i = 1; i < 70; ++i) env += "\n      V" + std::to_string(i) + ": *v";
  env += "\n";
  if (unlimited.set()) {
    const std::vector<std::string> got = check(app("[run]", env));
    REQUIRE(got.size() == 1);
    CHECK_THAT(got[0], Catch::StartsWith(prefix) &&
                           Catch::EndsWith(" bytes; execve accepts at most 6291456 here (its most, "
                                           "whatever the stack limit)"));
  }
  // Below 512 KiB of stack, still 128 KiB.
  StackLimit small(256 << 10);
  if (small.set()) {
    const std::vector<std::string> got =
        check(app("[run, &b " + std::string(70000, 'b') + ", *b]"));
    REQUIRE(got.size() == 1);
    CHECK_THAT(got[0], Catch::StartsWith(prefix) &&
                           Catch::EndsWith(" bytes; execve accepts at most 131072 here (its least, "
                                           "whatever the stack limit)"));
  }
}

namespace {

const char* const kAdoptingApp =
    "apps:\n  web:\n    command: /bin/true\n    listen:\n"
    "      http: { address: \"127.0.0.1:8080\", adopt: true }\n"
    "  api:\n    command: /bin/true\n    adopt: all\n";

std::string adopt_errors() {
  std::string out;
  for (const cfg::ConfigError& e :
       cfg::check_environment(*cfg::parse_config(kAdoptingApp, "t.yaml").config, false)) {
    out += e.to_string() + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("check_environment: socket adoption needs seccomp user notification with ADDFD",
          "[config]") {
  const std::string here = cfg::adoption_unsupported();
  if (!here.empty()) {
    WARN("this kernel cannot adopt sockets (" << here << "): only the refusal is checked");
  } else {
    CHECK(adopt_errors().empty());
  }
  // Where seccomp() is refused (a kernel without it, a sandbox), --check and every start say so
  // at each app's adopt key, never falling back to the workers' own binds.
  const int result = clusterd::test::with_syscall_failing(SYS_seccomp, [] {
    const std::string seen = adopt_errors();
    const std::string why =
        "socket adoption needs seccomp user notification with SECCOMP_IOCTL_NOTIF_ADDFD (Linux "
        "5.9 or later), and here seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER) failed: Function not "
        "implemented";
    if (seen == "t.yaml:5:49: apps.web.listen.http.adopt: " + why + "\n" +
                    "t.yaml:8:12: apps.api.adopt: " + why + "\n") {
      return 0;
    }
    std::fputs(seen.c_str(), stderr);  // in the test's output, for the one who reads it
    return 1;
  });
  CHECK(result == 0);
  // pidfd_getfd(2) is how the master sees the socket a worker binds: a SystemCallFilter= of
  // @system-service alone refuses it (it is in @debug).
  const int no_getfd = clusterd::test::with_syscall_failing(SYS_pidfd_getfd, [] {
    const std::string seen = cfg::adoption_unsupported();
    if (seen ==
        "pidfd_getfd(2), which looks at the socket a worker binds, failed: Function not "
        "implemented") {
      return 0;
    }
    std::fputs(seen.c_str(), stderr);
    return 1;
  });
  CHECK(no_getfd == 0);
}
