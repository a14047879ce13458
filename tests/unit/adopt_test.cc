// Socket adoption on the real kernel (docs/adoption.md): unmodified programs (python3, Node's
// `server.listen(PORT)`, a static Go `net.Listen`) started under the adoption filter bind and
// listen on a port this test holds as the master would, answering with os/adopt.h by the rules
// of core/adoption.h (adopt_master.h). Each checks that the program's bind returned 0, that it
// answers a connection to the master's port, what getsockname shows it, that its listen() left
// the master's backlog alone, and that its binds of other addresses ran untouched.
#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "adopt_master.h"
#include "failing_syscall.h"
#include "supervisor/os/process.h"
#include "supervisor/os/spawn_slots.h"

using namespace adopt_test;
namespace config = clusterd::config;
namespace fs = std::filesystem;

namespace {

config::Address address(const std::string& text) {
  config::Address a;
  const std::size_t colon = text.rfind(':');
  a.host = text.substr(0, colon);
  if (a.host.front() == '[') {
    a.host = a.host.substr(1, a.host.size() - 2);
    a.family = config::Address::Family::Ipv6;
  }
  a.port = static_cast<std::uint16_t>(std::stoi(text.substr(colon + 1)));
  a.text = text;
  return a;
}

config::ListenerSpec listener(const std::string& text, config::ListenMode mode) {
  config::ListenerSpec l;
  l.name = "web";
  l.address = address(text);
  l.mode = mode;
  l.adopt = true;
  return l;
}

// A port nobody listens on just now (the kernel's choice for 127.0.0.1:0).
int free_port() {
  const os::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  socklen_t length = sizeof sin;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sin), &length);
  return ntohs(sin.sin_port);
}

bool bind_fails_in_use(int port) {
  const os::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<std::uint16_t>(port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0 && errno == EADDRINUSE;
}

// Connects to 127.0.0.1:port, sends `text`, returns all it reads until the peer closes.
std::string exchange(int port, const std::string& text) {
  const os::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<std::uint16_t>(port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0)
    return "connect failed";
  if (!text.empty()) {
    REQUIRE(write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  }
  std::string out;
  for (int i = 0; i < 1000; ++i) {
    pollfd pfd{fd.get(), POLLIN, 0};
    if (poll(&pfd, 1, 30000) != 1) break;
    char buffer[4096];
    const ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

// A program started under the adoption filter, its stdout on a pipe; killed at the end.
struct Program {
  os::Child child;
  os::UniqueFd out;
  std::string pending;  // read, not yet returned by line()
  Program(std::vector<std::string> argv, bool adopt = true,
          std::optional<clusterd::os::Ids> ids = std::nullopt) {
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0);
    out.reset(p[0]);
    os::SpawnSpec spec;
    spec.path = argv[0];
    spec.argv = std::move(argv);
    spec.env = {"PATH=/usr/bin:/bin", "HOME=/tmp"};
    spec.stdout_fd = p[1];
    spec.adopt = adopt;
    spec.ids = std::move(ids);
    child = os::spawn(spec);
    // With spawn slots (none here unless reserved), the listener comes a moment later.
    for (int i = 0; i < 10000 && child.adopt_pending && !child.adopt_listener; ++i) {
      child.adopt_listener = os::take_adopt_listener(child.memory);
      if (!child.adopt_listener) usleep(1000);
    }
    close(p[1]);  // the child has its own table: it made its filter before it took it
  }
  /// The next line it wrote (without the newline); empty at its end, or after 30 s.
  std::string line() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (pending.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{out.get(), POLLIN, 0};
      if (poll(&pfd, 1, 100) != 1) continue;
      char buffer[512];
      const ssize_t n = read(out.get(), buffer, sizeof buffer);
      if (n <= 0) break;
      pending.append(buffer, static_cast<std::size_t>(n));
    }
    const std::size_t end = pending.find('\n');
    const std::string first = pending.substr(0, end);
    pending.erase(0, end == std::string::npos ? end : end + 1);
    return first;
  }
  ~Program() {
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    os::SpawnSlots::child_gone(child.pid);
  }
};

std::vector<std::string> answers(const std::vector<Record>& records) {
  std::vector<std::string> out;
  for (const Record& r : records) {
    std::string what = r.call.kind == os::SocketCall::Kind::Listen
                           ? "listen(" + std::to_string(r.call.backlog) + ")"
                           : "bind(" + (r.call.address ? r.call.address->text : "?") + ")";
    out.push_back(what + " " + r.answer);
  }
  return out;
}

core::AdoptionScope scope_of(config::ListenerSpec l) {
  core::AdoptionScope scope;
  scope.listeners.push_back(std::move(l));
  return scope;
}

const Record& first_give(const std::vector<Record>& records) {
  const auto it = std::find_if(records.begin(), records.end(),
                               [](const Record& r) { return r.answer == "give"; });
  REQUIRE(it != records.end());
  return *it;
}

bool have(const char* program) {
  return std::system((std::string("command -v ") + program + " >/dev/null 2>&1").c_str()) == 0;
}

std::string p(int port) { return std::to_string(port); }

constexpr const char* kPython = R"(
import errno, socket, sys
P, Q = int(sys.argv[1]), int(sys.argv[2])
other = socket.socket(); other.bind(("127.0.0.1", Q))
eph = socket.socket(); eph.bind(("127.0.0.1", 0))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", P))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", P))
s.listen(511)
try:
    s.bind(("127.0.0.1", Q + 1)); again = "0"
except OSError as e:
    again = errno.errorcode[e.errno]
print("ports", s.getsockname()[1], other.getsockname()[1], eph.getsockname()[1] != 0,
      udp.getsockname()[1], again, flush=True)
c, _ = s.accept()
c.sendall(b"python %d\n" % s.getsockname()[1])
c.close()
)";

}  // namespace

TEST_CASE("python: its own bind gets the master's socket, other binds run untouched", "[adopt]") {
  const int port = free_port();
  const int other = free_port();
  MasterSide master(scope_of(listener("127.0.0.1:" + p(port), config::ListenMode::Shared)));
  Program program({"/usr/bin/python3", "-c", kPython, p(port), p(other)});
  REQUIRE(program.child.adopt_listener);
  master.start(std::move(program.child.adopt_listener));
  const std::string line = program.line();
  INFO("records: " << Catch::Detail::stringify(answers(master.records())));
  // bind returned 0 on the master's port, getsockname shows it; the others are the program's own
  CHECK(line == "ports " + p(port) + " " + p(other) + " True " + p(port) + " EINVAL");
  CHECK(bind_fails_in_use(other));  // the program bound it itself
  CHECK(exchange(port, "") == "python " + p(port) + "\n");
  const std::vector<Record> records = master.records();
  CHECK(answers(records) ==
        std::vector<std::string>{"bind(127.0.0.1:" + p(other) + ") run", "bind(127.0.0.1:0) run",
                                 "bind(127.0.0.1:" + p(port) + ") run",  // UDP
                                 "bind(127.0.0.1:" + p(port) + ") give", "listen(511) listening",
                                 "bind(127.0.0.1:" + p(other + 1) + ") fail"});
  CHECK(records[2].reason == "not a TCP socket (UDP and other kinds are never adopted)");
  const Record& give = first_give(records);
  CHECK_FALSE(give.replacement.nonblocking);  // Python's sockets block unless told otherwise
  CHECK(give.replacement.cloexec);
  CHECK(give.call.socket->reuseaddr);
  // its listen(511) left the master's backlog as the master set it
  REQUIRE(os::accept_queue(master.socket(0)));
  CHECK(os::accept_queue(master.socket(0))->limit == 1234);
}

TEST_CASE("node: an unmodified server.listen(PORT) serves on the master's socket", "[adopt]") {
  if (!have("node")) {
    WARN("node is not installed (Debian: nodejs): not checked");
    return;
  }
  const int port = free_port();
  MasterSide master(scope_of(listener("127.0.0.1:" + p(port), config::ListenMode::Shared)));
  Program program({"/bin/sh", "-c", "exec node -e \"$0\" \"$1\"",
                   "const http = require('http');"
                   "const server = http.createServer((q, r) => {"
                   "  r.setHeader('Connection', 'close'); r.end('node ' + server.address().port);"
                   "});"
                   "server.listen(Number(process.argv[1]), () => {"
                   "  const a = server.address(); console.log('listening', a.address, a.port);"
                   "});",
                   p(port)});
  master.start(std::move(program.child.adopt_listener));
  const std::string line = program.line();
  INFO("records: " << Catch::Detail::stringify(answers(master.records())));
  // It bound :: (dual stack), got the IPv4 socket, and says so.
  CHECK(line == "listening 127.0.0.1 " + p(port));
  const std::string reply = exchange(port, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(reply.rfind("HTTP/1.1 200 OK", 0) == 0);
  CHECK(reply.substr(reply.size() - std::min<std::size_t>(reply.size(), 10)) == "node " + p(port));
  const std::vector<Record> records = master.records();
  CHECK(answers(records) ==
        std::vector<std::string>{"bind([::]:" + p(port) + ") give", "listen(511) listening"});
  CHECK(first_give(records).replacement.nonblocking);  // libuv never sets it again
  CHECK_FALSE(first_give(records).call.socket->v6only);
  CHECK((fcntl(master.socket(0), F_GETFL) & O_NONBLOCK) != 0);
  CHECK(os::accept_queue(master.socket(0))->limit == 1234);
}

TEST_CASE("go: a static net.Listen(\":PORT\") serves on the master's reuseport socket", "[adopt]") {
  if (!have("go")) {
    WARN("go is not installed (Debian: golang-go): not checked");
    return;
  }
  char dir_template[] = "/tmp/clusterd-adopt-go-XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  std::ofstream(dir + "/main.go") << R"(package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", ":"+os.Args[1])
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("listening", ln.Addr().String())
	// Every connection answered: another test's probe of a port it thinks free may come first.
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(2)
		}
		fmt.Fprintf(c, "go %s\n", ln.Addr().String())
		c.Close()
	}
}
)";
  const std::string build = "cd " + dir + " && HOME=${HOME:-" + dir + "} CGO_ENABLED=0 " +
                            "timeout 600 go build -o server main.go >build.log 2>&1";
  const bool built = std::system(build.c_str()) == 0;
  if (!built) {
    std::ifstream log(dir + "/build.log");
    FAIL("go build failed: " << std::string(std::istreambuf_iterator<char>(log), {}));
  }
  const int port = free_port();
  MasterSide master(scope_of(listener("127.0.0.1:" + p(port), config::ListenMode::ReusePort)));
  {
    Program program({dir + "/server", p(port)});
    master.start(std::move(program.child.adopt_listener));
    const std::string line = program.line();
    INFO("records: " << Catch::Detail::stringify(answers(master.records())));
    CHECK(line == "listening 127.0.0.1:" + p(port));
    CHECK(exchange(port, "") == "go 127.0.0.1:" + p(port) + "\n");
    // Go first binds [::1]:0 and [::ffff:127.0.0.1]:0 to learn what the host supports: port 0,
    // its own binds. Then its listener, and listen() with its somaxconn.
    const std::vector<std::string> got = answers(master.records());
    REQUIRE(got.size() >= 2);
    CHECK(got[got.size() - 2] == "bind([::]:" + p(port) + ") give");
    CHECK(got.back().find(") listening") != std::string::npos);
    for (std::size_t i = 0; i + 2 < got.size(); ++i)
      CHECK(got[i].find(":0) run") != std::string::npos);
    CHECK(first_give(master.records()).replacement.nonblocking);
    CHECK(os::accept_queue(master.socket(0))->limit == 1234);
  }
  fs::remove_all(dir);
}

TEST_CASE("asio: a socket the program watched before its bind is watched as the master's",
          "[adopt]") {
  // hello-worker's acceptor (asio) registers its socket with epoll when it opens it, before the
  // bind that replaces it: the registration is made again for the master's socket.
  const int port = free_port();
  MasterSide master(scope_of(listener("127.0.0.1:" + p(port), config::ListenMode::Shared)));
  Program program({CLUSTERD_HELLO_WORKER, "--listen", "127.0.0.1:" + p(port)});
  master.start(std::move(program.child.adopt_listener));
  CHECK(master.wait_for([](const std::vector<Record>& r) { return r.size() >= 2; }));
  const std::string request = "GET /read HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  for (int i = 0; i < 20; ++i) {
    INFO("request " << i);
    const std::string reply = exchange(port, request);
    CHECK(reply.find("X-Worker: ") != std::string::npos);
    if (reply.empty()) break;
  }
  const std::vector<Record> records = master.records();
  INFO("records: " << Catch::Detail::stringify(answers(records)));
  CHECK(answers(records) ==
        std::vector<std::string>{"bind(127.0.0.1:" + p(port) + ") give", "listen(4096) listening"});
}

TEST_CASE("without the filter the same program fails on the master's port", "[adopt]") {
  const int port = free_port();
  const int other = free_port();
  MasterSide master(scope_of(listener("127.0.0.1:" + p(port), config::ListenMode::Shared)));
  Program program({"/usr/bin/python3", "-c", kPython, p(port), p(other)}, false);
  CHECK_FALSE(program.child.adopt_listener);
  CHECK(program.line().empty());  // EADDRINUSE: it died before printing
}

TEST_CASE("adopt: all makes a socket at the first bind and gives it to the next worker",
          "[adopt]") {
  const int port = free_port();
  core::AdoptionScope scope;
  scope.all = true;
  MasterSide master(scope);
  const std::string serve =
      "import socket, sys\n"
      "s = socket.socket(socket.AF_INET6); s.bind(('::', int(sys.argv[1]))); s.listen(8)\n"
      "print('bound', s.getsockname()[1], flush=True)\n"
      "c, _ = s.accept(); c.sendall(sys.argv[2].encode()); c.close()\n";
  Program first({"/usr/bin/python3", "-c", serve, p(port), "first"});
  Program second({"/usr/bin/python3", "-c", serve, p(port), "second"});
  std::vector<os::UniqueFd> listeners;
  listeners.push_back(std::move(first.child.adopt_listener));
  listeners.push_back(std::move(second.child.adopt_listener));
  master.start(std::move(listeners));
  CHECK(first.line() == "bound " + p(port));
  CHECK(second.line() == "bound " + p(port));
  const std::vector<Record> records = master.records();
  INFO("records: " << Catch::Detail::stringify(answers(records)));
  const auto count = [&](const char* answer) {
    return std::count_if(records.begin(), records.end(),
                         [&](const Record& r) { return r.answer == answer; });
  };
  CHECK(records.size() == 4);
  CHECK(count("make") == 1);  // whichever bound first
  CHECK(count("give") == 1);
  CHECK(count("listening") == 2);
  // Python's AF_INET6 socket is dual-stack: so is the socket made for it.
  const std::string replies = exchange(port, "") + exchange(port, "");
  CHECK((replies == "firstsecond" || replies == "secondfirst"));
}

TEST_CASE("a signal to a worker whose bind the master has read waits for the answer", "[adopt]") {
  struct utsname u {};
  uname(&u);
  int major = 0;
  int minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  if (major < 5 || (major == 5 && minor < 19)) {
    WARN("Linux " << u.release << " has no SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: not checked");
    return;
  }
  const int port = free_port();
  // Python's handlers do not restart system calls: an interrupted bind() would raise EINTR.
  const std::string script =
      "import signal, socket, sys\n"
      "signal.signal(signal.SIGUSR1, lambda *a: print('signal', flush=True))\n"
      "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(8)\n"
      "print('bound', s.getsockname()[1], flush=True)\n";
  Program program({"/usr/bin/python3", "-c", script, p(port)});
  MasterSide master(scope_of(listener("127.0.0.1:" + p(port), config::ListenMode::Shared)));
  const int fd = program.child.adopt_listener.get();
  os::Received call;
  for (int i = 0; i < 30000 && call.status != os::Received::Status::Call; ++i) {
    pollfd pfd{fd, POLLIN, 0};
    poll(&pfd, 1, 1);
    call = os::receive(fd);
  }
  REQUIRE(call.status == os::Received::Status::Call);
  REQUIRE(kill(program.child.pid, SIGUSR1) == 0);
  // The signal stays pending while the call waits for the master.
  const std::string status = "/proc/" + std::to_string(program.child.pid) + "/status";
  bool pending = false;
  for (int i = 0; i < 5000 && !pending; ++i) {
    std::ifstream in(status);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("ShdPnd:", 0) == 0) {
        pending = (std::stoull(line.substr(7), nullptr, 16) >> (SIGUSR1 - 1) & 1) != 0;
      }
    }
    if (!pending) usleep(1000);
  }
  CHECK(pending);
  CHECK(os::replace(fd, call.call, master.socket(0), {}) == os::Delivery::Answered);
  master.start(std::move(program.child.adopt_listener));  // its listen()
  CHECK(program.line() == "signal");                      // after its bind returned
  CHECK(program.line() == "bound " + p(port));
}

TEST_CASE("a signal to a worker whose bind waits unread leaves it to be made again", "[adopt]") {
  const int port = free_port();
  // siginterrupt(False): SA_RESTART, as Go and libuv install their handlers.
  const std::string script =
      "import signal, socket, sys\n"
      "signal.signal(signal.SIGUSR1, lambda *a: print('signal', flush=True))\n"
      "signal.siginterrupt(signal.SIGUSR1, False)\n"
      "s = socket.socket(); s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen(8)\n"
      "print('bound', s.getsockname()[1], flush=True)\n";
  Program program({"/usr/bin/python3", "-c", script, p(port)});
  pollfd pfd{program.child.adopt_listener.get(), POLLIN, 0};
  REQUIRE(poll(&pfd, 1, 30000) == 1);  // its bind waits, unread
  REQUIRE(kill(program.child.pid, SIGUSR1) == 0);
  MasterSide master(scope_of(listener("127.0.0.1:" + p(port), config::ListenMode::Shared)));
  master.start(std::move(program.child.adopt_listener));
  CHECK(program.line() == "signal");
  CHECK(program.line() == "bound " + p(port));
  const std::vector<Record> records = master.records();
  REQUIRE_FALSE(records.empty());
  CHECK(answers(records).front() == "bind(127.0.0.1:" + p(port) + ") give");
}

TEST_CASE("the filter's listener reports nothing, then closed once the worker has exited",
          "[adopt]") {
  Program program({"/bin/sleep", "30"});  // killed below
  const int fd = program.child.adopt_listener.get();
  CHECK(os::receive(fd).status == os::Received::Status::Nothing);
  kill(program.child.pid, SIGKILL);
  waitpid(program.child.pid, nullptr, 0);
  CHECK(os::receive(fd).status == os::Received::Status::Closed);
}

TEST_CASE("the filter's listener is the master's alone", "[adopt]") {
  // With a small fd table (the child copies it whole once it has its filter) and a large one
  // (the child shares it through the spawn slots).
  const bool large = GENERATE(false, true);
  std::vector<int> many;
  if (large) {
    os::SpawnSlots::reserve();
    for (int i = 0; i < os::SpawnSlots::kLargeTable + 16; ++i) {
      many.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
  }
  {
    Program program(
        {"/bin/sh", "-c",
         "for f in /proc/$$/fd/*; do readlink $f; done | grep -c seccomp;"
         "grep -E '^(Seccomp|Seccomp_filters|NoNewPrivs):' /proc/$$/status | tr -s '\\t\\n' '  '"
         "; echo"});
    REQUIRE(program.child.adopt_listener);
    char target[64] = {};
    const std::string link = "/proc/self/fd/" + std::to_string(program.child.adopt_listener.get());
    REQUIRE(readlink(link.c_str(), target, sizeof target - 1) > 0);
    CHECK(std::string(target) == "anon_inode:seccomp notify");
    CHECK(program.line() == "0");
    // Root here: the filter needs no no_new_privs (setuid programs keep working).
    const std::string expected = geteuid() == 0 ? "NoNewPrivs: 0 Seccomp: 2 Seccomp_filters: 1 "
                                                : "NoNewPrivs: 1 Seccomp: 2 Seccomp_filters: 1 ";
    CHECK(program.line() == expected);
  }
  for (int fd : many) close(fd);
}

TEST_CASE("a child whose filter is refused fails its start at that step", "[adopt]") {
  const int result = clusterd::test::with_syscall_failing(SYS_seccomp, [] {
    os::SpawnSpec spec;
    spec.path = "/bin/true";
    spec.argv = {"true"};
    spec.adopt = true;
    const os::Child child = os::spawn(spec);
    if (child.adopt_listener) return 1;
    int status = 0;
    waitpid(child.pid, &status, 0);
    const os::SpawnReport report = os::spawn_report(child.memory);
    if (!report.error) return 2;  // it ran /bin/true without the filter
    return std::string(report.error->what()) ==
                   "seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER): Function "
                   "not implemented"
               ? 0
               : 3;
  });
  CHECK(result == 0);
}

namespace {

// The python server of the tests above, as another user (`ids`), adopted by this process:
// 0 when its bind got the master's socket and it answered there; else which step failed.
int serve_adopted(std::optional<clusterd::os::Ids> ids, bool expect_no_new_privs) {
  const int port = free_port();
  const int other = free_port();
  MasterSide master(scope_of(listener("127.0.0.1:" + p(port), config::ListenMode::Shared)));
  Program program({"/usr/bin/python3", "-c", kPython, p(port), p(other)}, true, std::move(ids));
  if (!program.child.adopt_listener) {
    waitpid(program.child.pid, nullptr, 0);
    const os::SpawnReport report = os::spawn_report(program.child.memory);
    std::fprintf(stderr, "no listener: %s\n", report.error ? report.error->what() : "no error");
    return 1;
  }
  const std::string status = "/proc/" + std::to_string(program.child.pid) + "/status";
  std::ifstream in(status);
  std::string line;
  bool no_new_privs = false;
  while (std::getline(in, line)) {
    if (line.rfind("NoNewPrivs:", 0) == 0) no_new_privs = line.find('1') != std::string::npos;
  }
  if (no_new_privs != expect_no_new_privs) return 2;
  master.start(std::move(program.child.adopt_listener));
  if (program.line() != "ports " + p(port) + " " + p(other) + " True " + p(port) + " EINVAL") {
    return 3;
  }
  if (exchange(port, "") != "python " + p(port) + "\n") return 4;
  return 0;
}

clusterd::os::Ids nobody() {
  clusterd::os::Ids ids;
  ids.uid = 65534;
  ids.gid = 65534;
  return ids;
}

}  // namespace

TEST_CASE("a root master adopts the binds of a worker that runs as another user", "[adopt]") {
  if (geteuid() != 0) {
    WARN("not root: a worker as another user is not checked");
    return;
  }
  // The master reads the memory and the fd of a process of another user: CAP_SYS_PTRACE.
  CHECK(serve_adopted(nobody(), false) == 0);
}

TEST_CASE("a master that is not root has its workers set no_new_privs, and adopts their binds",
          "[adopt]") {
  if (geteuid() != 0) {
    CHECK(serve_adopted(std::nullopt, true) == 0);
    return;
  }
  // As nobody, in a child of the test: no CAP_SYS_ADMIN any more.
  const pid_t pid = fork();
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(65534, 65534, 65534) != 0 ||
        setresuid(65534, 65534, 65534) != 0) {
      _exit(10);
    }
    _exit(serve_adopted(std::nullopt, true));
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
