// What socket adoption costs (bench/adoption.sh): this program plays the master with the
// project's own code (supervisor/os/adopt.h, supervisor/core/adoption.h), without the daemon.
//
//   adopt-bench serve plain|filter|adopted HELLO_WORKER
//       holds 127.0.0.1:<ephemeral> (shared, backlog 4096) and runs HELLO_WORKER on it:
//       plain    the socket at fd 3 (LISTEN_FDS), no filter
//       filter   the same, under the adoption filter (its every system call passes the filter)
//       adopted  no fd 3: the worker binds 127.0.0.1:PORT itself (--listen) and gets the socket
//       prints "port N" once the worker answers a request, then answers its calls until stdin
//       closes
//   adopt-bench roundtrip N
//       runs itself as a worker (`loop`) under the filter, answering its calls, then without the
//       filter; the worker times N rounds of socket+bind+listen+close of each kind and prints the
//       median microseconds of a round:
//       adopted  bind(127.0.0.1:PORT) and listen() answered by this master (ADDFD, then 0)
//       proceed  bind(127.0.0.1:0) and listen() let through (SECCOMP_USER_NOTIF_FLAG_CONTINUE)
//       kernel   bind(127.0.0.1:0) and listen() with no filter
//   adopt-bench syscalls PAIRS
//       runs itself as a worker (`sysloop`) under the filter and without it, PAIRS times each,
//       alternating; the worker times batches of 10000 getppid() calls (a system call the vDSO
//       does not answer) and prints the median nanoseconds of one; prints "filter NS plain NS"
//       per pair
//   adopt-bench spawn N [slots]
//       starts /bin/true N times with the filter and N times without, alternating: the median
//       microseconds spawn() takes (the master's loop waits that long; with the filter and no
//       spawn slots it waits until the child has its filter and a table of its own) and until
//       the child has exec'd. `slots`: with spawn slots reserved, as the daemon runs
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <variant>
#include <vector>

#include "supervisor/core/adoption.h"
#include "supervisor/os/adopt.h"
#include "supervisor/os/listen_socket.h"
#include "supervisor/os/process.h"
#include "supervisor/os/spawn_slots.h"
#include "worker/listen_env.h"

namespace core = clusterd::core;
namespace os = clusterd::os;
namespace config = clusterd::config;

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "adopt-bench: %s\n", what.c_str());
  std::exit(1);
}

config::Address loopback(int port) {
  config::Address a;
  a.host = "127.0.0.1";
  a.port = static_cast<std::uint16_t>(port);
  a.text = "127.0.0.1:" + std::to_string(port);
  return a;
}

// The master's side for one worker: answers every waiting call of `listener` by the rules.
struct Master {
  core::AdoptionScope scope;
  int socket = -1;
  std::uint64_t inode = 0;

  void answer_all(int listener) {
    for (int i = 0; i < 64; ++i) {
      const os::Received r = os::receive(listener);
      if (r.status != os::Received::Status::Call) return;
      const os::SocketCall& call = r.call;
      std::optional<core::HeldSocket> held;
      std::optional<core::CallerSocket> caller;
      if (call.socket) {
        if (call.socket->inode == inode) held = core::HeldSocket{};
        caller = core::CallerSocket{call.socket->tcp, call.socket->ipv6, call.socket->v6only,
                                    call.socket->nonblocking, call.socket->cloexec};
      }
      if (call.kind == os::SocketCall::Kind::Listen) {
        const core::ListenAnswer a = core::decide_listen({held, call.backlog});
        if (std::holds_alternative<core::Listening>(a)) {
          os::succeed(listener, call.id);
        } else {
          os::proceed(listener, call.id);
        }
        continue;
      }
      const core::BindAnswer a =
          core::decide_bind(scope, {call.address, caller, held, call.unseen});
      if (const auto* give = std::get_if<core::GiveSocket>(&a)) {
        os::replace(listener, call, socket,
                    {give->replacement.nonblocking, give->replacement.cloexec});
      } else if (std::holds_alternative<core::ReturnZero>(a)) {
        os::succeed(listener, call.id);
      } else if (const auto* fail = std::get_if<core::FailCall>(&a)) {
        os::refuse(listener, call.id, fail->error);
      } else {
        os::proceed(listener, call.id);
      }
    }
  }
};

Master master_on(int port) {
  Master m;
  config::ListenerSpec l;
  l.name = "http";
  l.address = loopback(port);
  l.adopt = true;
  m.scope.listeners.push_back(l);
  return m;
}

// A GET on 127.0.0.1:port answered within the deadline, while answering the worker's calls.
bool answered(int port, int listener, Master& master) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (listener >= 0) master.answer_all(listener);
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(static_cast<std::uint16_t>(port));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if (connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0) {
      const char request[] = "GET /read HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
      ok = write(fd, request, sizeof request - 1) > 0;
      pollfd pfd{fd, POLLIN, 0};
      char buffer[256];
      for (int i = 0; ok && i < 20; ++i) {
        if (listener >= 0) master.answer_all(listener);
        if (poll(&pfd, 1, 50) == 1) break;
      }
      ok = ok && (pfd.revents & POLLIN) != 0 && read(fd, buffer, sizeof buffer) > 0;
    }
    close(fd);
    if (ok) return true;
  }
  return false;
}

int serve(const std::string& mode, const std::string& hello) {
  os::UniqueFd held = os::bind_listener(loopback(0), 4096, false);
  const int port = os::local_port(held.get());
  Master master = master_on(port);
  master.socket = held.get();
  master.inode = os::socket_inode(held.get());
  os::SpawnSpec spec;
  spec.path = hello;
  spec.argv = {hello};
  const std::string listen_pid = std::string(clusterd::worker::kListenPidPrefix) +
                                 std::string(clusterd::worker::kListenPidDigits, '0');
  if (mode == "adopted") {
    spec.argv.insert(spec.argv.end(), {"--listen", "127.0.0.1:" + std::to_string(port)});
  } else {
    spec.fds = {held.get()};
    spec.env = {"LISTEN_FDS=1", "LISTEN_FDNAMES=http", listen_pid};
  }
  spec.adopt = mode != "plain";
  os::Child child = os::spawn(spec);
  const int listener = child.adopt_listener.get();
  if (!answered(port, listener, master)) die("the worker does not answer on its port");
  std::printf("port %d\n", port);
  std::fflush(stdout);
  std::vector<pollfd> fds{{0, POLLIN, 0}, {listener, POLLIN, 0}};
  for (;;) {
    if (poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents != 0) break;  // stdin closed: the run is over
    if (fds[1].revents != 0) master.answer_all(listener);
  }
  kill(child.pid, SIGKILL);
  waitpid(child.pid, nullptr, 0);
  return 0;
}

// The worker of `roundtrip`: N rounds of each kind, the median microseconds of one.
double median_round(int rounds, int port, bool listen_too) {
  std::vector<double> us;
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(static_cast<std::uint16_t>(port));
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < rounds; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) != 0)
      die("bind: " + std::string(std::strerror(errno)));
    if (listen_too && listen(fd, 16) != 0) die("listen");
    close(fd);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

int loop(int rounds, int port, bool filtered) {
  if (filtered) {
    std::printf("adopted %.2f\n", median_round(rounds, port, true));
    std::printf("proceed %.2f\n", median_round(rounds, 0, true));
  } else {
    std::printf("kernel %.2f\n", median_round(rounds, 0, true));
  }
  return 0;
}

int roundtrip(int rounds, const std::string& self) {
  os::UniqueFd held = os::bind_listener(loopback(0), 4096, false);
  const int port = os::local_port(held.get());
  Master master = master_on(port);
  master.socket = held.get();
  master.inode = os::socket_inode(held.get());
  for (const bool filtered : {true, false}) {
    os::SpawnSpec spec;
    spec.path = self;
    spec.argv = {self, "loop", std::to_string(rounds), std::to_string(port), filtered ? "1" : "0"};
    spec.adopt = filtered;
    os::Child child = os::spawn(spec);
    const int listener = child.adopt_listener.get();
    pollfd fds[] = {{child.pidfd.get(), POLLIN, 0}, {listener, POLLIN, 0}};
    for (;;) {
      if (poll(fds, listener >= 0 ? 2 : 1, -1) < 0) continue;
      if (listener >= 0 && fds[1].revents & POLLIN) master.answer_all(listener);
      if (fds[0].revents != 0) break;
    }
    waitpid(child.pid, nullptr, 0);
  }
  return 0;
}

// The worker of `syscalls`: the median nanoseconds of one getppid() over 200 batches.
int sysloop() {
  std::vector<double> ns;
  for (int batch = 0; batch < 200; ++batch) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 10000; ++i) syscall(SYS_getppid);
    ns.push_back(
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
        10000);
  }
  std::sort(ns.begin(), ns.end());
  std::printf("%.2f\n", ns[ns.size() / 2]);
  return 0;
}

int syscalls(int pairs, const std::string& self) {
  for (int i = 0; i < pairs; ++i) {
    std::string line;
    for (const bool filtered : {true, false}) {
      int out[2];
      if (pipe2(out, O_CLOEXEC) != 0) die("pipe2");
      os::SpawnSpec spec;
      spec.path = self;
      spec.argv = {self, "sysloop"};
      spec.adopt = filtered;
      spec.stdout_fd = out[1];
      os::Child child = os::spawn(spec);
      close(out[1]);
      char buffer[64] = {};
      const ssize_t n = read(out[0], buffer, sizeof buffer - 1);
      close(out[0]);
      waitpid(child.pid, nullptr, 0);
      line += std::string(filtered ? "filter " : " plain ") +
              std::string(buffer, n > 0 ? static_cast<std::size_t>(n - 1) : 0);
    }
    std::printf("%s\n", line.c_str());
  }
  return 0;
}

int spawns(int n, bool slots) {
  if (slots) os::SpawnSlots::reserve();
  std::vector<double> call[2];
  std::vector<double> exec[2];
  for (int i = 0; i < 2 * n; ++i) {
    const bool filtered = i % 2 == 0;
    os::SpawnSpec spec;
    spec.path = "/bin/true";
    spec.argv = {"true"};
    spec.adopt = filtered;
    const auto start = std::chrono::steady_clock::now();
    os::Child child = os::spawn(spec);
    const auto returned = std::chrono::steady_clock::now();
    if (!os::wait_started(child.memory, 10000)) die("a child did not exec in 10 s");
    const auto started = std::chrono::steady_clock::now();
    if (child.adopt_pending) {
      os::SpawnSlots::woken();
      if (!os::take_adopt_listener(child.memory)) die("an exec'd child left no listener");
    }
    waitpid(child.pid, nullptr, 0);
    os::SpawnSlots::child_gone(child.pid);
    call[filtered].push_back(std::chrono::duration<double, std::micro>(returned - start).count());
    exec[filtered].push_back(std::chrono::duration<double, std::micro>(started - start).count());
  }
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("plain %.1f %.1f\nfilter %.1f %.1f\n", median(call[0]), median(exec[0]),
              median(call[1]), median(exec[1]));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "serve") return serve(args[1], args[2]);
  char self[4096] = {};
  if (readlink("/proc/self/exe", self, sizeof self - 1) <= 0) die("readlink /proc/self/exe");
  if (args.size() == 2 && args[0] == "roundtrip") return roundtrip(std::stoi(args[1]), self);
  if (args.size() == 2 && args[0] == "syscalls") return syscalls(std::stoi(args[1]), self);
  if (args.size() == 1 && args[0] == "sysloop") return sysloop();
  if ((args.size() == 2 || (args.size() == 3 && args[2] == "slots")) && args[0] == "spawn") {
    return spawns(std::stoi(args[1]), args.size() == 3);
  }
  if (args.size() == 4 && args[0] == "loop") {
    return loop(std::stoi(args[1]), std::stoi(args[2]), args[3] == "1");
  }
  std::fprintf(stderr,
               "usage: adopt-bench serve plain|filter|adopted HELLO_WORKER | roundtrip N | "
               "syscalls PAIRS | spawn N [slots]\n");
  return 2;
}
