// Low fd numbers kept for starting children cheaply. A child created with its own copy of the
// master's fd table costs what the table holds: at 1,024 workers the master has ~4,100 fds, so
// clone() copies 4,100 entries and the child's exec closes 4,100 files again (at spawn 1,024
// that was over a third of the master's and the children's CPU). Instead, the fds a child needs
// are copied into a group of slots at the bottom of the table, the child shares the master's
// table (CLONE_FILES) and its first system call, close_range(limit, ~0, CLOSE_RANGE_UNSHARE),
// gives it a private table with only the fds below `limit` (Linux 5.9+): the slots and the few
// fds the master opened before them. Until the child has done that, the master leaves that
// group alone; then the group's slots get their placeholder back (/dev/null, close-on-exec).
// Each group is one child's; when none is free, or a child needs more fds than a group has,
// the child gets a copy of the whole table as before. A child cloned while another's group is
// still held copies that group too (close-on-exec, like everything of the master's): it holds
// those fds until its own exec, a few milliseconds at most.
#pragma once

#include <sys/types.h>

#include <atomic>

namespace clusterd::os {

struct SlotLease {
  int group = -1;                        // -1: no lease (the child copies the whole table)
  int limit = 0;                         // close_range(limit, ~0U, CLOSE_RANGE_UNSHARE)
  std::atomic<int>* released = nullptr;  // the child sets it once its table is its own,
  int wake_fd = -1;                      // then writes 1 to this eventfd (below `limit`)
};

class SpawnSlots {
 public:
  static constexpr int kGroups = 4;
  static constexpr int kPerGroup = 8;
  /// Used only from this many fds in the master's table. A child of the slots still copies the
  /// ~40 fds below their limit and closes them at exec, plus ten dup3 calls of the master; with a
  /// table a few times that size the copy saves little (a dup3 costs ~0.3 us here, closing a file
  /// at exec about as much), so the slots wait for tables several times larger.
  static constexpr int kLargeTable = 256;
  /// The highest fd number seen so far (the fds lease() is given, and the pidfds noted here)
  /// decides whether the table is large: a new fd takes the lowest free number, which after a
  /// worker's exit is one of its old ones however large the table, so the high-water mark is
  /// kept instead.
  static void note_fd(int fd);

  /// Reserves the slots: the lowest free fd numbers now, so call it before the master opens
  /// many (and first fills a closed fd 0, 1 or 2 with /dev/null). Without it (or on a kernel
  /// without CLOSE_RANGE_UNSHARE) lease() always says no.
  static void reserve();
  /// Copies the fds that `*fds[i]` name into a free group and rewrites each to its slot number
  /// (entries that are negative stay as they are). No lease while the table is small
  /// (kLargeTable), when no group is free after a short wait for the oldest child, when there
  /// are more than kPerGroup fds, or when nothing is reserved. `any_table`: whatever the table's
  /// size (an adopting child, which shares the table anyway until it has its filter: with a
  /// lease, the master need not wait for it).
  static SlotLease lease(int* const* fds, int count, bool any_table = false);
  /// The child of `lease` was not created: the group is free again.
  static void cancel(const SlotLease& lease);
  /// Records which child holds a lease, so that its exit frees the group even if it never got
  /// to its first system call (see child_gone()).
  static void assign(const SlotLease& lease, pid_t pid);
  /// A child was reaped: a group it still held is freed.
  static void child_gone(pid_t pid);
  /// Gives every group whose child has its own table its placeholders back.
  static void sweep();
  /// Readable (an eventfd) when a child has taken its own table: time for woken(). -1 when
  /// nothing is reserved.
  static int wake_fd();
  /// Empties the eventfd and sweeps.
  static void woken();
  /// How many children got a lease and how many a large table did not (for the tests).
  static unsigned long leased();
  static unsigned long copied();
};

}  // namespace clusterd::os
