// os::SpawnSlots with real processes: a child that shares the master's fd table gets its own fds
// and none of the master's many others; a group is free again once its child has its own table,
// and when a child dies before that, once it is reaped; with every group held, a spawn copies
// the table instead of waiting.
#include "supervisor/os/spawn_slots.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "supervisor/os/adopt.h"
#include "supervisor/os/process.h"

using namespace clusterd::os;

namespace {

// Enough open fds that a spawn shares the table (SpawnSlots::kLargeTable), closed at the end.
struct ManyFds {
  std::vector<int> fds;
  ManyFds() {
    for (int i = 0; i < SpawnSlots::kLargeTable + 16; ++i) {
      fds.push_back(open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
  }
  ~ManyFds() {
    for (int fd : fds) close(fd);
  }
};

bool is_dev_null(int fd) {
  struct stat a {};
  struct stat b {};
  return fstat(fd, &a) == 0 && stat("/dev/null", &b) == 0 && a.st_rdev == b.st_rdev &&
         S_ISCHR(a.st_mode);
}

// Reads until end of file (bounded by poll timeouts).
std::string read_all(int fd) {
  std::string out;
  char buffer[256];
  pollfd pfd{fd, POLLIN, 0};
  while (poll(&pfd, 1, 10000) == 1) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

// Reserves the slots; false (with a warning) on a kernel without them.
bool slots_here() {
  SpawnSlots::reserve();
  if (SpawnSlots::wake_fd() >= 0) return true;
  WARN("no spawn slots on this kernel (before Linux 5.9: no CLOSE_RANGE_UNSHARE): not checked");
  return false;
}

// A new pipe whose write end is offered to lease(): `fd` is the slot holding it when leased.
struct LeasedPipe {
  int read = -1;
  int write = -1;
  int fd = -1;
  SlotLease lease;
};
LeasedPipe lease_pipe() {
  int p[2];
  REQUIRE(pipe2(p, O_CLOEXEC) == 0);
  LeasedPipe out{p[0], p[1], p[1], {}};
  int* staged[] = {&out.fd};
  out.lease = SpawnSlots::lease(staged, 1);
  return out;
}

}  // namespace

TEST_CASE("a child sharing the master's fd table keeps only its own fds") {
  if (!slots_here()) return;
  const ManyFds many;
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  const int high = many.fds.back();
  SpawnSpec spec;
  spec.path = "/bin/sh";
  // fd 3 is the slot's socket stand-in; the master's highest fd and a reserved slot are absent.
  spec.argv = {"sh", "-c",
               "echo fd3 >&3; for f in " + std::to_string(high) + " " +
                   std::to_string(SpawnSlots::wake_fd()) +
                   "; do [ -e /proc/$$/fd/$f ] && echo leaked $f; done; exit 0"};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.fds = {out[1]};
  const unsigned long leased = SpawnSlots::leased();
  const Child child = spawn(spec);
  CHECK(SpawnSlots::leased() == leased + 1);
  close(out[1]);
  // The child sets its flag and wakes us once its table is its own; then the group is swept and
  // the pipe's last write end outside the child is gone: end of file comes with its exit.
  pollfd wake{SpawnSlots::wake_fd(), POLLIN, 0};
  REQUIRE(poll(&wake, 1, 10000) == 1);
  SpawnSlots::woken();
  CHECK(read_all(out[0]) == "fd3\n");
  int status = 0;
  REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
  SpawnSlots::child_gone(child.pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const SpawnReport report = spawn_report(child.memory);  // reaped: it let go of it
  CHECK(report.finished);
  CHECK_FALSE(report.error.has_value());
  close(out[0]);
}

TEST_CASE("a group held by a child that never took its own table is freed when it is reaped") {
  if (!slots_here()) return;
  const ManyFds many;  // the pipes below get numbers above it: a large table
  // Stand-ins for children that die before their first system call: leases nobody releases.
  std::vector<int> readers;
  std::vector<int> slots;
  for (int i = 0; i < SpawnSlots::kGroups; ++i) {
    const LeasedPipe pipe = lease_pipe();
    REQUIRE(pipe.lease.group >= 0);
    CHECK(pipe.fd != pipe.write);  // rewritten to its slot, which now holds the pipe
    CHECK_FALSE(is_dev_null(pipe.fd));
    SpawnSlots::assign(pipe.lease, 1'000'000 + i);
    close(pipe.write);
    readers.push_back(pipe.read);
    slots.push_back(pipe.fd);
  }
  // Every group held: the next spawn copies the table rather than wait for them.
  int other = readers[0];
  int* staged[] = {&other};
  const unsigned long copied = SpawnSlots::copied();
  CHECK(SpawnSlots::lease(staged, 1).group == -1);
  CHECK(SpawnSlots::copied() == copied + 1);
  CHECK(other == readers[0]);  // left as it was
  for (int i = 0; i < SpawnSlots::kGroups; ++i) {
    // Reaping the holder gives the slot its placeholder back: the pipe sees end of file.
    SpawnSlots::child_gone(1'000'000 + i);
    CHECK(is_dev_null(slots[i]));
    CHECK(read_all(readers[i]).empty());
    close(readers[i]);
  }
  const LeasedPipe again = lease_pipe();
  CHECK(again.lease.group >= 0);
  SpawnSlots::cancel(again.lease);
  CHECK(is_dev_null(again.fd));
  close(again.read);
  close(again.write);
}

TEST_CASE(
    "an adopting child with slots does not hold up spawn: its listener comes before its exec") {
  if (!slots_here()) return;
  SpawnSpec spec;
  spec.path = "/bin/sh";
  spec.argv = {"sh", "-c", "exit 0"};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.adopt = true;
  const unsigned long leased = SpawnSlots::leased();
  const Child child = spawn(spec);  // a small table: leased anyway, for the adopting child
  CHECK(SpawnSlots::leased() == leased + 1);
  CHECK(child.adopt_pending);
  CHECK_FALSE(child.adopt_listener);
  // The child wakes the slots once its table is its own, its filter made before that.
  pollfd wake{SpawnSlots::wake_fd(), POLLIN, 0};
  REQUIRE(poll(&wake, 1, 10000) == 1);
  SpawnSlots::woken();
  const UniqueFd listener = take_adopt_listener(child.memory);
  REQUIRE(listener);
  CHECK(is_filter_listener(listener.get()));
  int status = 0;
  REQUIRE(waitpid(child.pid, &status, 0) == child.pid);
  SpawnSlots::child_gone(child.pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
