// os::read_notify against the real kernel: what it says about each sender of a datagram, the test
// process standing in for the master. A "worker" leads a session of its own, as workers do; its
// child, its grandchild in a session of its own, a stranger beside it and the stranger's child
// (reaped before the datagram is read) each send one datagram; the worker sends its last one
// before it is reaped, and its child once more after.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "supervisor/os/notify_socket.h"

using namespace clusterd::os;

namespace {

struct Pipe {
  int read = -1;
  int write = -1;
  Pipe() {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    read = fds[0];
    write = fds[1];
  }
};

void send_to(const std::string& path, const char* text) {
  sockaddr_un sun{};
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.c_str(), path.size() + 1);
  const int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  sendto(s, text, std::strlen(text), 0, reinterpret_cast<const sockaddr*>(&sun), sizeof sun);
  close(s);
}

void tick(int fd) {
  const char byte = 1;
  (void)!write(fd, &byte, 1);
}

void wait_all() {
  while (wait(nullptr) > 0) {
  }
}

// The worker: a session of its own, a child in it, a grandchild that left it; each sends, says
// so on `ready`, and waits for `hold` to close. The worker then sends its last words and exits
// without waiting for the child, which sends once more when it has been orphaned (still in the
// worker's session), says so, and waits for `linger` to close.
pid_t start_worker(const std::string& path, const Pipe& hold, const Pipe& linger,
                   const Pipe& ready) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  close(hold.write);
  close(linger.write);
  setsid();
  const pid_t worker = getpid();
  char byte;
  if (fork() == 0) {
    send_to(path, "child");
    tick(ready.write);
    (void)!read(hold.read, &byte, 1);
    for (int i = 0; i < 10000 && getppid() == worker; ++i) usleep(1000);
    send_to(path, "orphan");
    tick(ready.write);
    (void)!read(linger.read, &byte, 1);
    _exit(0);
  }
  const pid_t middle = fork();
  if (middle == 0) {
    if (fork() == 0) {
      setsid();
      send_to(path, "grandchild");
      tick(ready.write);
      (void)!read(hold.read, &byte, 1);
      _exit(0);
    }
    (void)!read(hold.read, &byte, 1);
    wait_all();
    _exit(0);
  }
  send_to(path, "worker");
  tick(ready.write);
  (void)!read(hold.read, &byte, 1);
  waitpid(middle, nullptr, 0);
  send_to(path, "last words");
  _exit(0);
}

// The stranger: beside the worker, not below it. Its child sends and is reaped before the
// stranger sends and says so.
pid_t start_stranger(const std::string& path, const Pipe& hold, const Pipe& linger,
                     const Pipe& ready) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  close(hold.write);
  close(linger.write);
  if (fork() == 0) {
    send_to(path, "gone");
    _exit(0);
  }
  wait_all();
  send_to(path, "stranger");
  tick(ready.write);
  char byte;
  (void)!read(hold.read, &byte, 1);
  _exit(0);
}

// Waits for `n` more ticks on `ready` (10 s each at most).
void await(const Pipe& ready, int n) {
  for (int i = 0; i < n; ++i) {
    pollfd p{ready.read, POLLIN, 0};
    REQUIRE(poll(&p, 1, 10000) == 1);
    char byte;
    REQUIRE(read(ready.read, &byte, 1) == 1);
  }
}

}  // namespace

TEST_CASE("read_notify places each sender against the worker's pidfd, session and parents") {
  if (!notify_pidfds_supported()) {
    WARN("this kernel hands no pidfds (SO_PASSPIDFD): nothing to place senders by");
    return;
  }
  char pattern[] = "/tmp/clusterd-notify-sender.XXXXXX";
  REQUIRE(mkdtemp(pattern) != nullptr);
  std::map<std::string, NotifySender> seen;
  {
    const NotifyDir dir(pattern);
    const NotifySocket socket = dir.open(geteuid());
    const Pipe hold;
    const Pipe linger;
    const Pipe ready;
    const pid_t worker = start_worker(socket.path, hold, linger, ready);
    const UniqueFd worker_fd(static_cast<int>(syscall(SYS_pidfd_open, worker, 0)));
    const pid_t stranger = start_stranger(socket.path, hold, linger, ready);
    close(hold.read);
    close(linger.read);
    close(ready.write);
    await(ready, 4);  // worker, child, grandchild, stranger: all sent by then
    while (std::optional<NotifyDatagram> d =
               read_notify(socket.fd.get(), {worker, false, worker_fd.get()})) {
      seen[d->text] = d->sender;
    }
    close(hold.write);  // the worker sends its last words and exits
    REQUIRE(waitpid(worker, nullptr, 0) == worker);
    REQUIRE(waitpid(stranger, nullptr, 0) == stranger);
    await(ready, 1);  // the orphan has sent too
    while (std::optional<NotifyDatagram> d =
               read_notify(socket.fd.get(), {worker, true, worker_fd.get()})) {
      seen[d->text] = d->sender;
    }
    close(linger.write);  // the orphan ends (its new parent reaps it)
    struct statfs fs {};
    if (fstatfs(worker_fd.get(), &fs) != 0 || fs.f_type != 0x50494446) {
      WARN("pidfds are not pidfs files (before Linux 6.9): a reaped worker is not recognised");
      seen["last words"].worker = true;
    }
    close(ready.read);
  }
  std::filesystem::remove_all(pattern);
  REQUIRE(seen.size() == 7);
  for (const auto& [text, sender] : seen) {
    INFO(text);
    CHECK(sender.pidfds);
    CHECK(sender.uid == geteuid());
  }
  CHECK(seen["worker"].worker);
  CHECK(seen["worker"].alive);
  const NotifySender& child = seen["child"];
  CHECK((child.alive && child.in_session && !child.worker));  // (no walk needed: `below` unset)
  const NotifySender& grandchild = seen["grandchild"];
  CHECK((grandchild.alive && !grandchild.in_session && grandchild.below && !grandchild.worker));
  const NotifySender& stranger = seen["stranger"];
  CHECK((stranger.alive && !stranger.in_session && !stranger.below && !stranger.worker));
  const NotifySender& gone = seen["gone"];
  CHECK((!gone.alive && !gone.in_session && !gone.below && !gone.worker));
  const NotifySender& last = seen["last words"];
  CHECK((last.worker && !last.alive));
  // Its session's id stays taken while the orphan is in it: still the worker's session.
  const NotifySender& orphan = seen["orphan"];
  CHECK((orphan.alive && orphan.in_session && !orphan.below && !orphan.worker));
}
