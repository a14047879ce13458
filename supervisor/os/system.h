// Small facts about this process and the machine, each one system call or file away.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace clusterd::os {

/// The hard RLIMIT_NOFILE of this process now.
unsigned long nofile_hard_limit();
/// True when the /proc/sys file `path` (e.g. "net/ipv4/tcp_migrate_req") starts with '1'.
bool sysctl_enabled(const char* path);
/// The number a sysctl under /proc/sys holds (its first line); nullopt when it cannot be read.
std::optional<long> sysctl_number(const char* path);
/// Writes "1" to the /proc/sys file `path`; returns why it could not (empty when it did).
std::string sysctl_enable(const char* path);
/// This process's environment, as NAME=value.
std::vector<std::string> environment();
/// Makes `path` a directory of mode 0750 owned by `uid`:`gid` (created if missing, without
/// following a symlink in the way). Throws std::system_error.
/// Whether journald reads our stderr: JOURNAL_STREAM names the very file it is ("dev:inode").
bool stderr_is_journal();
void make_private_dir(const std::string& path, unsigned uid, unsigned gid);
/// Hands freed heap pages back to the kernel (after a large reply).
void trim_memory();
/// Blocks of 128 KiB and more come from mmap and go back to the kernel when freed, always. glibc's
/// default raises that threshold to the largest such block freed so far (a status reply of 1,024
/// workers), and from then on serves those blocks from the heap, where the holes they leave
/// between the lasting small blocks keep their pages (~0.25 MiB at 1,024 workers).
void fix_mmap_threshold();

}  // namespace clusterd::os
