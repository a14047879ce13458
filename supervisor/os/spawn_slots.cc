#include "supervisor/os/spawn_slots.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace clusterd::os {

namespace {

struct Group {
  int slots[SpawnSlots::kPerGroup] = {};
  int used = 0;  // slots that hold a child's fds
  bool busy = false;
  pid_t pid = 0;  // the child holding it, once known
  std::atomic<int> released{0};
};

struct State {
  bool ready = false;
  int placeholder = -1;  // /dev/null
  int wake = -1;
  int limit = 0;
  Group groups[SpawnSlots::kGroups];
  unsigned long leased = 0;
  unsigned long copied = 0;
  int high_water = 0;
};

// Never freed: a child may set its group's `released` while the master is on its way out.
State& state() {
  static State* s = new State;
  return *s;
}

void clear(State& s, Group& g) {
  for (int i = 0; i < g.used; ++i) dup3(s.placeholder, g.slots[i], O_CLOEXEC);
  g.used = 0;
  g.pid = 0;
  g.busy = false;
}

Group* free_group(State& s) {
  for (Group& g : s.groups) {
    if (!g.busy) return &g;
  }
  return nullptr;
}

}  // namespace

void SpawnSlots::reserve() {
  State& s = state();
  if (s.ready) return;
  // Started with stdin, stdout or stderr closed: those numbers get /dev/null for good (not
  // close-on-exec: workers that inherit the master's output inherit them), or the first fds
  // opened, a slot among them, would be taken for the master's 0-2.
  int fd = open("/dev/null", O_RDWR);
  while (fd >= 0 && fd <= 2) fd = open("/dev/null", O_RDWR);
  if (fd < 0) return;
  // A range with nothing in it: only asks whether the kernel knows the flag (Linux 5.9+).
  if (syscall(SYS_close_range, 0x7fffffffU, ~0U, CLOSE_RANGE_UNSHARE) != 0) {
    close(fd);
    return;
  }
  s.placeholder = fd;
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  s.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s.wake < 0) return;
  s.limit = s.wake + 1;
  for (Group& g : s.groups) {
    for (int& slot : g.slots) {
      slot = fcntl(s.placeholder, F_DUPFD_CLOEXEC, 0);  // the lowest free number
      if (slot < 0) return;
      s.limit = std::max(s.limit, slot + 1);
    }
  }
  s.ready = true;
}

SlotLease SpawnSlots::lease(int* const* fds, int count, bool any_table) {
  State& s = state();
  for (int i = 0; i < count; ++i) note_fd(*fds[i]);
  if (!s.ready || (s.high_water < kLargeTable && !any_table)) return {};
  const auto open = [](const int* fd) { return *fd >= 0; };
  if (std::count_if(fds, fds + count, open) > kPerGroup) {
    ++s.copied;
    return {};
  }
  sweep();
  Group* g = free_group(s);
  // Every group is held by a child that has not run yet (a burst of spawns on busy CPUs): give
  // way to them for a moment rather than copy the whole table at once.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(500);
  while (g == nullptr && std::chrono::steady_clock::now() < deadline) {
    sched_yield();
    sweep();
    g = free_group(s);
  }
  if (g == nullptr) {
    ++s.copied;
    return {};
  }
  int slot = 0;
  for (int i = 0; i < count; ++i) {
    if (*fds[i] < 0) continue;
    if (dup3(*fds[i], g->slots[slot], O_CLOEXEC) < 0) {
      g->used = slot;
      clear(s, *g);
      ++s.copied;
      return {};
    }
    ++slot;
  }
  slot = 0;
  for (int i = 0; i < count; ++i) {
    if (*fds[i] >= 0) *fds[i] = g->slots[slot++];
  }
  g->used = slot;
  g->busy = true;
  g->released.store(0, std::memory_order_relaxed);
  ++s.leased;
  return SlotLease{static_cast<int>(g - s.groups), s.limit, &g->released, s.wake};
}

void SpawnSlots::cancel(const SlotLease& lease) {
  if (lease.group >= 0) clear(state(), state().groups[lease.group]);
}

void SpawnSlots::assign(const SlotLease& lease, pid_t pid) {
  if (lease.group >= 0) state().groups[lease.group].pid = pid;
}

void SpawnSlots::child_gone(pid_t pid) {
  State& s = state();
  for (Group& g : s.groups) {
    if (g.busy && g.pid == pid) clear(s, g);
  }
}

void SpawnSlots::sweep() {
  State& s = state();
  for (Group& g : s.groups) {
    if (g.busy && g.released.load(std::memory_order_acquire) != 0) clear(s, g);
  }
}

void SpawnSlots::note_fd(int fd) { state().high_water = std::max(state().high_water, fd); }

void SpawnSlots::woken() {
  eventfd_t count = 0;
  if (state().ready) eventfd_read(state().wake, &count);
  sweep();
}

int SpawnSlots::wake_fd() { return state().ready ? state().wake : -1; }
unsigned long SpawnSlots::leased() { return state().leased; }
unsigned long SpawnSlots::copied() { return state().copied; }

}  // namespace clusterd::os
