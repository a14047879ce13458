// The part of spawning that socket adoption adds (SpawnSpec::adopt, docs/adoption.md): who needs
// no_new_privs for the filter, and the wait for a child that shares the master's fd table until
// it has its filter.
#pragma once

#include "worker/child.h"

namespace clusterd::os {

/// True when this process lacks CAP_SYS_ADMIN, so a child must set no_new_privs before the kernel
/// takes its seccomp filter (seccomp(2)); setuid programs in such a worker run without their
/// privileges.
bool filter_needs_no_new_privs();

/// An adopting child shares our fd table until it has its filter (worker/child.h): waits until
/// its table is its own, or it has exited, so that the caller may close the fds it was given. A
/// few system calls of the child; one that does not get there in 10 s is killed (`pidfd`).
void wait_own_table(const worker::ChildPlan& plan, int pidfd);

}  // namespace clusterd::os
