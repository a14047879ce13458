// Plain values the OS layer hands up: credentials, the CPU budget, what /proc says about a
// process. No system call is declared here, so the daemon may use these types without reaching
// the OS itself.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace clusterd::os {

/// Credentials to drop to, resolved from names by resolve_ids().
struct Ids {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
  // The passwd entry of `user:`, for HOME, USER, LOGNAME and SHELL; for a uid written as digits
  // that has none, the digits, "/" and "/bin/sh".
  std::string user;
  std::string home;
  std::string shell;
};

/// Who may use a unix: listener's socket file.
struct SocketAccess {
  unsigned mode = 0666;
  std::optional<uid_t> uid;  // owner; unset: clusterd's
  std::optional<gid_t> gid;
};

/// Users and groups to look up (NSS: maybe a network service, so never in the event loop).
struct NameQueries {
  std::vector<std::string> users;
  std::vector<std::string> groups;
  bool empty() const { return users.empty() && groups.empty(); }
};

/// What the lookups found.
struct ResolvedNames {
  std::map<std::string, Ids> users;  // by name, with the user's groups
  std::map<std::string, gid_t> groups;
  std::map<std::string, std::string> failed;  // "user www" -> "does not exist"
};

/// How many CPUs this process may really use (cpus.h).
struct CpuBudget {
  std::vector<int> allowed;     // CPUs in the affinity mask, ascending
  std::optional<double> quota;  // the tightest cgroup quota in CPUs, if any
  std::string quota_source;     // the file the quota came from
  unsigned count = 1;           // min(allowed, ceil(quota)), at least 1
  std::string reason;           // "2: affinity 0-1, no cgroup quota"
};

/// A cgroup's cpu.stat: the CPU time of every process that ever ran in it, exited ones included.
struct CgroupCpu {
  std::uint64_t usage_usec = 0;
  std::uint64_t user_usec = 0;
  std::uint64_t system_usec = 0;
};

/// One process and its descendants as /proc shows them at one moment.
struct ProcessFacts {
  bool alive = false;
  unsigned threads = 0;         // the process's own
  std::uint64_t rss_kb = 0;     // the process's own, exact (statm)
  std::string cpus;             // its affinity, "0-1"
  std::uint64_t cpu_ticks = 0;  // utime + stime
  std::uint64_t user_ticks = 0;
  std::uint64_t system_ticks = 0;
  std::uint64_t start_ticks = 0;
  // Read for a status or a scrape only (sample_processes' `detail`):
  std::optional<std::uint64_t> pss_kb;  // smaps_rollup: its share of what it maps
  std::optional<std::uint64_t> uss_kb;  // what only it maps (Private_Clean + Private_Dirty)
  int fds = -1;                         // open file descriptors; -1: not read
  unsigned tree_processes = 0;          // it and all its descendants
  unsigned tree_threads = 0;
  std::uint64_t tree_rss_kb = 0;
  std::optional<CgroupCpu> tree_cpu;  // detail, with a cgroup per worker: its cpu.stat
};

/// A listening TCP socket's accept queue (TCP_INFO: tcpi_unacked and tcpi_sacked).
struct AcceptQueue {
  unsigned queued = 0;  // connections the kernel completed that nobody accepted yet
  unsigned limit = 0;   // the backlog it was listen()ed with, as the kernel caps it
};

/// Who sent a notify datagram, as far as the kernel can tell (notify_socket.h).
struct NotifySender {
  uid_t uid = static_cast<uid_t>(-1);  // SCM_CREDENTIALS
  pid_t pid = 0;
  bool pidfds = false;  // the socket asks for the sender's pidfd (SO_PASSPIDFD, Linux 6.5+)
  bool pidfd = false;   // one came with this datagram (SCM_PIDFD)
  bool worker = false;  // that pidfd is the worker's own process, alive or not
  bool alive = false;   // the sender had not been reaped when we looked
  std::optional<std::uint64_t> cgroup;  // its cgroup v2 id (kept by the kernel after its exit)
  // Alive only. Its session is the worker's even once the worker is reaped (a session's id stays
  // taken while any process is in it); the worker is among its parents (up to the master, at
  // most 64; looked for when it is not in the worker's session) only while the worker is not
  // reaped (its pid is no one else's then).
  pid_t session = 0;
  bool in_session = false;
  bool below = false;
};

/// A process that holds a socket listening on an address the master wants (holders.h), with what
/// tells whose it is.
struct Occupant {
  pid_t pid = 0;
  uid_t uid = 0;            // effective
  bool one_uid = false;     // real, effective, saved and filesystem uids are all `uid`
  pid_t pgrp = 0;           // its process group
  std::uint64_t start = 0;  // start time since boot, in clock ticks: which process this pid was
  std::string command;      // "hello-worker --threads 1": its argv, the program's base name first
  std::optional<std::string> instance;  // CLUSTER_INSTANCE in its environment (when readable)
};

/// The processes holding an address, and the others in their process groups.
struct Occupants {
  std::vector<Occupant> holders;
  std::vector<Occupant> group;
};

/// Which file, and which content of it: another inode, or a size, mtime or ctime of its own that
/// changed, is another file (a live upgrade runs only the file that rehearsed).
struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::int64_t size = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

/// What the rehearsal of a live upgrade came to (upgrade.h): why it failed, or what the new
/// binary answered on its fd 4, for the daemon to check.
struct Rehearsal {
  std::optional<std::string> failed;  // cannot execute, exit N, a signal, timed out: why
  std::string handshake;              // what it wrote on fd 4, cut after the limit asked + 1 byte
  FileIdentity binary;                // the file that ran
};

/// What /proc says about the master and some workers, at one moment.
struct ProcessSample {
  int master_pid = 0;
  ProcessFacts master;
  unsigned total_processes = 0;  // the master and everything below it
  unsigned total_threads = 0;
  std::vector<std::pair<int, ProcessFacts>> workers;  // in the order asked for
  double system_uptime_s = 0;
  long ticks_per_second = 100;
};

// Socket adoption (os/adopt.h, docs/adoption.md): a worker's bind() or listen(), as read.

/// What the master could see of the socket behind a worker's fd (through pidfd_getfd(2) and
/// /proc/PID/fdinfo).
struct TargetSocket {
  int domain = 0;  // AF_INET, AF_INET6, AF_UNIX, ...
  int type = 0;    // SOCK_STREAM, SOCK_DGRAM, ... (without the SOCK_NONBLOCK/CLOEXEC bits)
  int protocol = 0;
  bool tcp = false;   // SOCK_STREAM over AF_INET or AF_INET6, TCP or MPTCP (which falls back to it)
  bool ipv6 = false;  // AF_INET6
  bool nonblocking = false;  // O_NONBLOCK of the program's open file
  bool cloexec = true;       // FD_CLOEXEC of the program's fd (true when fdinfo could not say)
  bool reuseaddr = false;    // SO_REUSEADDR
  bool reuseport = false;    // SO_REUSEPORT
  bool v6only = false;       // IPV6_V6ONLY (AF_INET6 only)
  std::uint64_t inode = 0;   // the socket's inode number: compare with socket_inode()
};

/// One bind() or listen() of a worker, stopped in the kernel until answered.
struct SocketCall {
  enum class Kind { Bind, Listen };
  Kind kind = Kind::Bind;
  std::uint64_t id = 0;  // the notification's id: every answer names it
  pid_t pid = 0;         // the thread that made the call (a worker or anything it started)
  int fd = -1;           // the fd it passed
  int backlog = 0;       // listen()'s second argument
  /// bind(): the address family the sockaddr names (AF_*), or -1 when it could not be read.
  int family = -1;
  /// bind(): an AF_INET or AF_INET6 address (host as inet_ntop writes it, text `HOST:PORT` or
  /// `[HOST]:PORT`); nullopt for any other family, a scoped (link-local) IPv6 address, a length
  /// the kernel would refuse, or memory that could not be read (`unseen` says why).
  std::optional<config::Address> address;
  /// The socket behind `fd`; nullopt when it is not an open socket or could not be looked at.
  std::optional<TargetSocket> socket;
  std::string unseen;  // why the address or the socket could not be read, if either could not
};

}  // namespace clusterd::os
