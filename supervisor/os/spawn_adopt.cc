#include "supervisor/os/spawn_adopt.h"

#include <linux/capability.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>

namespace clusterd::os {

bool filter_needs_no_new_privs() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return true;
  return (data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective & CAP_TO_MASK(CAP_SYS_ADMIN)) == 0;
}

void wait_own_table(const worker::ChildPlan& plan, int pidfd) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool killed = false;
  while (plan.released->load(std::memory_order_acquire) == 0 &&
         plan.in_use.load(std::memory_order_acquire) != 0) {
    if (!killed && std::chrono::steady_clock::now() > deadline) {
      syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
      killed = true;
    }
    // The child wakes us once its table is its own; an exit wakes only `in_use`'s waiters: a
    // slice at a time.
    const timespec slice{0, 10'000'000};
    syscall(SYS_futex, plan.released, FUTEX_WAIT, 0, &slice, nullptr, 0);
  }
}

}  // namespace clusterd::os
