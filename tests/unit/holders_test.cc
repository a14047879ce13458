// os/holders.h: the pure parts (which listening sockets block an address, /proc/net/unix,
// cmdline, environ), then against the real kernel: a process started with CLUSTER_INSTANCE and
// a listening socket is found holding its address, with its marker, and ended; the instance id
// of this process is running, a changed one is not; the record refuses a file others may write.
#include "supervisor/os/holders.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "config/values.h"

using namespace clusterd;
using os::ListeningSocket;

namespace {

config::Address address(const std::string& text) {
  const config::Result<config::Address> a = config::parse_address(text);
  REQUIRE(a.value);
  return *a.value;
}

ListeningSocket tcp(const char* host, std::uint16_t port) {
  ListeningSocket s;
  s.port = port;
  s.family = std::string(host).find(':') == std::string::npos ? AF_INET : AF_INET6;
  REQUIRE(inet_pton(s.family, host, s.host) == 1);
  return s;
}

// Kills and reaps a child the test started, whatever happens to the test.
struct Reaper {
  pid_t pid = 0;
  ~Reaper() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
};

}  // namespace

TEST_CASE("holders: which listening sockets keep an address from being bound") {
  CHECK(os::blocks(tcp("127.0.0.1", 8080), address("127.0.0.1:8080")));
  CHECK_FALSE(os::blocks(tcp("127.0.0.1", 8081), address("127.0.0.1:8080")));
  CHECK_FALSE(os::blocks(tcp("127.0.0.2", 8080), address("127.0.0.1:8080")));
  CHECK(os::blocks(tcp("0.0.0.0", 8080), address("127.0.0.1:8080")));
  CHECK(os::blocks(tcp("127.0.0.1", 8080), address("0.0.0.0:8080")));
  CHECK(os::blocks(tcp("::", 8080), address("127.0.0.1:8080")));  // dual stack
  CHECK(os::blocks(tcp("::ffff:127.0.0.1", 8080), address("127.0.0.1:8080")));
  CHECK_FALSE(os::blocks(tcp("::1", 8080), address("127.0.0.1:8080")));
  CHECK(os::blocks(tcp("::1", 8080), address("[::1]:8080")));
  CHECK(os::blocks(tcp("::", 8080), address("[::1]:8080")));
  CHECK_FALSE(os::blocks(tcp("127.0.0.1", 8080), address("[::1]:8080")));
  CHECK_FALSE(os::blocks(tcp("127.0.0.1", 8080), address("127.0.0.1:0")));
}

TEST_CASE("holders: /proc/net/unix, cmdline and environ") {
  const std::string unix_text =
      "Num       RefCount Protocol Flags    Type St Inode Path\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/app.sock\n"
      "0000000000000000: 00000003 00000000 00000000 0001 03 4243 /run/app.sock\n"  // connected
      "0000000000000000: 00000002 00000000 00010000 0001 01 4244 /run/other.sock\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 4245 /run/my app.sock\n"
      "0000000000000000: 00000002 00000000 00000000 0002 01 4246\n";
  CHECK(os::parse_unix_listeners(unix_text, "/run/app.sock") == std::vector<std::uint64_t>{4242});
  CHECK(os::parse_unix_listeners(unix_text, "/run/my app.sock") ==
        std::vector<std::uint64_t>{4245});
  CHECK(os::parse_unix_listeners(unix_text, "/run/none.sock").empty());

  using namespace std::string_literals;
  CHECK(os::command_line("/usr/bin/hello-worker\0--threads\0001\0"s) == "hello-worker --threads 1");
  CHECK(os::command_line("python3\0-c\0print(1)\nprint(2)\0"s) == "python3 -c print(1) print(2)");
  CHECK(os::command_line(std::string(300, 'x')).size() == 120);
  CHECK(os::command_line("").empty());

  const std::string env = "PATH=/bin\0CLUSTER_INSTANCE_X=no\0CLUSTER_INSTANCE=1-2-3\0"s;
  CHECK(os::environ_value(env, "CLUSTER_INSTANCE") == "1-2-3");
  CHECK_FALSE(os::environ_value("PATH=/bin\0"s, "CLUSTER_INSTANCE"));
}

TEST_CASE("holders: a process holding a listener is found with its marker, and ended") {
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(s >= 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  REQUIRE(listen(s, 4) == 0);
  socklen_t length = sizeof sin;
  REQUIRE(getsockname(s, reinterpret_cast<sockaddr*>(&sin), &length) == 0);
  const config::Address where = address("127.0.0.1:" + std::to_string(ntohs(sin.sin_port)));
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t child = fork();
  if (child == 0) {
    // At 3 and 4 without close-on-exec (a dup2 onto itself would keep the flag): sh keeps them.
    const int listening = fcntl(s, F_DUPFD, 10);
    const int up = fcntl(ready[1], F_DUPFD, 10);
    dup2(listening, 3);
    dup2(up, 4);
    const char* argv[] = {"/bin/sh", "-c", "echo >&4; exec sleep 60", nullptr};
    const char* envp[] = {"CLUSTER_INSTANCE=1-2-3", "PATH=/usr/bin:/bin", nullptr};
    execve("/bin/sh", const_cast<char**>(argv), const_cast<char**>(envp));
    _exit(127);
  }
  Reaper reaper{child};
  close(s);  // only the child holds it now
  close(ready[1]);
  char byte;
  REQUIRE(read(ready[0], &byte, 1) == 1);
  close(ready[0]);
  os::Occupants found;
  for (int i = 0; i < 500 && found.holders.empty(); ++i) {  // until sh has exec'd sleep
    found = os::address_occupants(where);
    if (!found.holders.empty() && found.holders[0].command.rfind("sleep", 0) != 0) {
      found = {};
      usleep(10000);
    }
  }
  REQUIRE(found.holders.size() == 1);
  const os::Occupant& o = found.holders[0];
  CHECK(o.pid == child);
  CHECK(o.command == "sleep 60");
  CHECK(o.instance == "1-2-3");
  CHECK(o.uid == geteuid());
  CHECK(o.one_uid);
  CHECK(o.pgrp == getpgrp());

  os::Occupant stale = o;
  stale.start += 1;  // another process than the one described: not touched
  CHECK(os::end_processes({stale}, std::chrono::milliseconds(100)).empty());
  CHECK(kill(child, 0) == 0);
  CHECK(os::end_processes({o}, std::chrono::milliseconds(5000)).empty());
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  reaper.pid = 0;
  CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM));
  CHECK(os::address_occupants(where).holders.empty());
}

TEST_CASE("holders: this process's instance runs; the record keeps one id, safely") {
  const std::string id = os::instance_id();
  CHECK(os::instance_running(id) == true);
  const std::size_t dash = id.find('-');
  const std::string later = id.substr(0, dash + 1) + "1" + id.substr(dash + 1);  // start time
  CHECK(os::instance_running(later) == false);
  CHECK(os::instance_running(id.substr(0, id.rfind('-')) + "-1") == std::nullopt);  // pid ns
  CHECK(os::instance_running("nonsense") == std::nullopt);

  char pattern[] = "/tmp/clusterd-instance-test.XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  const std::string record = std::string(pattern) + "/ctl.sock.instance";
  CHECK_FALSE(os::read_instance_record(record));
  os::write_instance_record(record, id);
  CHECK(os::read_instance_record(record) == id);
  chmod(record.c_str(), 0666);  // others could have written it
  CHECK_FALSE(os::read_instance_record(record));
  std::ofstream(record, std::ios::trunc) << "rm -rf /\n";
  chmod(record.c_str(), 0644);
  CHECK_FALSE(os::read_instance_record(record));
  std::filesystem::remove_all(pattern);
}
