#include "supervisor/os/holders.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <set>
#include <system_error>

#include "supervisor/os/procfs.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

namespace {

constexpr unsigned char kAny[16] = {};
constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// A file of /proc whole (up to `limit` bytes), relative to /proc; empty when it cannot be read.
std::string read_proc_file(const std::string& path, std::size_t limit) {
  const UniqueFd fd(openat(proc_dir(), path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string out;
  if (!fd) return out;
  char buffer[65536];
  while (out.size() < limit) {
    const ssize_t n = read(fd.get(), buffer, sizeof buffer);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  if (out.size() > limit) out.resize(limit);
  return out;
}

template <typename T>
bool number(std::string_view text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
}

// The listening TCP sockets of one family in our network namespace (sock_diag: the kernel
// filters the LISTEN state, so a host with many connections costs no more). Empty when the
// kernel will not say.
std::vector<ListeningSocket> tcp_listeners(int family) {
  std::vector<ListeningSocket> out;
  const UniqueFd nl(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl) return out;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = static_cast<std::uint8_t>(family);
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = 1U << TCP_LISTEN;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(nl.get(), &message, sizeof message, 0, reinterpret_cast<const sockaddr*>(&kernel),
             sizeof kernel) < 0) {
    return out;
  }
  alignas(nlmsghdr) char buffer[32768];
  for (int reads = 0; reads < 100000; ++reads) {  // bounded: the kernel ends with NLMSG_DONE
    ssize_t n = recv(nl.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, static_cast<unsigned>(n));
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) return out;
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      ListeningSocket s;
      s.family = m->idiag_family;
      std::memcpy(s.host, m->id.idiag_src, s.family == AF_INET ? 4 : 16);
      s.port = ntohs(m->id.idiag_sport);
      s.inode = m->idiag_inode;
      out.push_back(s);
    }
  }
  return out;
}

std::set<std::uint64_t> listening_inodes(const config::Address& address) {
  std::set<std::uint64_t> inodes;
  if (address.family == config::Address::Family::Unix) {
    const std::string text = read_proc_file("net/unix", 64 << 20);
    for (std::uint64_t inode : parse_unix_listeners(text, address.path)) inodes.insert(inode);
    return inodes;
  }
  for (int family : {AF_INET, AF_INET6}) {
    for (const ListeningSocket& s : tcp_listeners(family)) {
      if (blocks(s, address)) inodes.insert(s.inode);
    }
  }
  return inodes;
}

// Whether process `pid` has a fd on one of `inodes` ("socket:[N]" links in /proc/PID/fd).
bool holds(pid_t pid, const std::set<std::uint64_t>& inodes) {
  const std::string dir = std::to_string(pid) + "/fd";
  const int fd = openat(proc_dir(), dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  DIR* entries = fdopendir(fd);
  if (entries == nullptr) {
    close(fd);
    return false;
  }
  bool found = false;
  while (const dirent* e = readdir(entries)) {
    char link[64];
    const ssize_t n = readlinkat(fd, e->d_name, link, sizeof link - 1);
    if (n <= 9 || std::strncmp(link, "socket:[", 8) != 0 || link[n - 1] != ']') continue;
    std::uint64_t inode = 0;
    if (number(std::string_view(link + 8, static_cast<std::size_t>(n) - 9), inode) &&
        inodes.count(inode) != 0) {
      found = true;
      break;
    }
  }
  closedir(entries);
  return found;
}

// The uids of /proc/PID/status ("Uid:\treal\teffective\tsaved\tfs").
bool read_uids(pid_t pid, Occupant& out) {
  const std::string status = read_proc_file(std::to_string(pid) + "/status", 1 << 16);
  const std::size_t at = status.find("\nUid:");
  if (at == std::string::npos) return false;
  std::string_view line(status);
  line = line.substr(at + 5, line.find('\n', at + 1) - (at + 5));
  std::vector<uid_t> uids;
  while (!line.empty() && uids.size() < 4) {
    const std::size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    const std::size_t end = std::min(line.find_first_of(" \t"), line.size());
    uid_t uid = 0;
    if (!number(line.substr(0, end), uid)) return false;
    uids.push_back(uid);
    line.remove_prefix(end);
  }
  if (uids.size() != 4) return false;
  out.uid = uids[1];
  out.one_uid = std::all_of(uids.begin(), uids.end(), [&](uid_t u) { return u == uids[1]; });
  return true;
}

std::optional<Occupant> describe(pid_t pid) {
  const std::optional<ProcStat> stat = read_proc_stat(pid);
  if (!stat) return std::nullopt;
  Occupant out;
  out.pid = pid;
  out.pgrp = stat->pgrp;
  out.start = stat->start_ticks;
  if (!read_uids(pid, out)) return std::nullopt;
  out.command = command_line(read_proc_file(std::to_string(pid) + "/cmdline", 4096));
  if (out.command.empty()) out.command = "?";
  out.instance =
      environ_value(read_proc_file(std::to_string(pid) + "/environ", 8 << 20), "CLUSTER_INSTANCE");
  return out;
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (const dirent* e = readdir(proc)) {
    pid_t pid = 0;
    if (number(std::string_view(e->d_name), pid) && pid > 0) pids.push_back(pid);
  }
  closedir(proc);
  return pids;
}

bool alive(int pidfd) { return syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) == 0; }

struct Target {
  pid_t pid = 0;
  UniqueFd fd;
};

// Waits until every target has exited, or until `deadline`; drops those that did.
void wait_for_exits(std::vector<Target>& targets, std::chrono::steady_clock::time_point deadline) {
  while (!targets.empty()) {
    std::vector<pollfd> fds;
    for (const Target& t : targets) fds.push_back({t.fd.get(), POLLIN, 0});
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    if (poll(fds.data(), fds.size(), static_cast<int>(std::min<long>(left.count(), 1000))) < 0 &&
        errno != EINTR) {
      return;
    }
    std::size_t i = 0;
    std::erase_if(targets, [&](const Target&) { return (fds[i++].revents & POLLIN) != 0; });
  }
}

}  // namespace

bool blocks(const ListeningSocket& socket, const config::Address& address) {
  using Family = config::Address::Family;
  if (address.family == Family::Unix || address.port == 0 || socket.port != address.port) {
    return false;
  }
  const bool v4 = address.family == Family::Ipv4;
  unsigned char want[16] = {};
  if (inet_pton(v4 ? AF_INET : AF_INET6, address.host.c_str(), want) != 1) return false;
  const std::size_t size = v4 ? 4 : 16;
  const bool want_any = std::memcmp(want, kAny, size) == 0;
  if (socket.family == AF_INET) {
    return v4 && (want_any || std::memcmp(socket.host, kAny, 4) == 0 ||
                  std::memcmp(socket.host, want, 4) == 0);
  }
  if (socket.family != AF_INET6) return false;
  if (std::memcmp(socket.host, kAny, 16) == 0) return true;  // :: (dual stack, unless V6ONLY)
  if (v4) {
    return std::memcmp(socket.host, kMapped, 12) == 0 &&
           (want_any || std::memcmp(socket.host + 12, want, 4) == 0);
  }
  return want_any || std::memcmp(socket.host, want, 16) == 0;
}

std::vector<std::uint64_t> parse_unix_listeners(std::string_view text, const std::string& path) {
  // "Num: RefCount Protocol Flags Type St Inode Path"; Flags 00010000 is __SO_ACCEPTCON.
  std::vector<std::uint64_t> out;
  while (!text.empty()) {
    const std::size_t end = std::min(text.find('\n'), text.size());
    std::string_view line = text.substr(0, end);
    text.remove_prefix(std::min(end + 1, text.size()));
    std::string_view fields[7];
    bool complete = true;
    for (std::string_view& field : fields) {
      const std::size_t start = line.find_first_not_of(' ');
      if (start == std::string_view::npos) {
        complete = false;
        break;
      }
      line.remove_prefix(start);
      const std::size_t stop = std::min(line.find(' '), line.size());
      field = line.substr(0, stop);
      line.remove_prefix(stop);
    }
    if (!complete || line.empty() || line.substr(1) != path) continue;
    unsigned flags = 0;
    std::uint64_t inode = 0;
    const auto [ptr, ec] =
        std::from_chars(fields[3].data(), fields[3].data() + fields[3].size(), flags, 16);
    if (ec != std::errc() || (flags & 0x10000U) == 0 || !number(fields[6], inode)) continue;
    out.push_back(inode);
  }
  return out;
}

std::string command_line(std::string_view cmdline) {
  std::string out;
  bool first = true;
  while (!cmdline.empty() && out.size() < 120) {
    const std::size_t end = std::min(cmdline.find('\0'), cmdline.size());
    std::string_view arg = cmdline.substr(0, end);
    cmdline.remove_prefix(std::min(end + 1, cmdline.size()));
    if (first) {
      const std::size_t slash = arg.rfind('/');
      if (slash != std::string_view::npos) arg.remove_prefix(slash + 1);
      first = false;
    } else {
      out += ' ';
    }
    out += arg;
  }
  if (out.size() > 120) out = out.substr(0, 117) + "...";
  for (char& c : out) {  // one line, whatever the arguments hold
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

std::optional<std::string> environ_value(std::string_view environ, std::string_view name) {
  while (!environ.empty()) {
    const std::size_t end = std::min(environ.find('\0'), environ.size());
    const std::string_view entry = environ.substr(0, end);
    if (entry.size() > name.size() && entry.substr(0, name.size()) == name &&
        entry[name.size()] == '=') {
      return std::string(entry.substr(name.size() + 1));
    }
    environ.remove_prefix(std::min(end + 1, environ.size()));
  }
  return std::nullopt;
}

Occupants address_occupants(const config::Address& address) {
  Occupants out;
  const std::set<std::uint64_t> inodes = listening_inodes(address);
  if (inodes.empty()) return out;
  const pid_t self = getpid();
  const std::vector<pid_t> pids = all_pids();
  std::set<pid_t> holders;
  std::set<pid_t> groups;
  for (pid_t pid : pids) {
    if (pid == self || !holds(pid, inodes)) continue;
    if (std::optional<Occupant> o = describe(pid)) {
      holders.insert(pid);
      groups.insert(o->pgrp);
      out.holders.push_back(std::move(*o));
    }
  }
  if (groups.empty()) return out;
  for (pid_t pid : pids) {
    if (pid == self || holders.count(pid) != 0) continue;
    const std::optional<ProcStat> stat = read_proc_stat(pid);
    if (!stat || groups.count(stat->pgrp) == 0) continue;
    if (std::optional<Occupant> o = describe(pid)) out.group.push_back(std::move(*o));
  }
  return out;
}

std::vector<pid_t> end_processes(const std::vector<Occupant>& who,
                                 std::chrono::milliseconds grace) {
  std::vector<Target> targets;
  for (const Occupant& o : who) {
    Target t{o.pid, UniqueFd(static_cast<int>(syscall(SYS_pidfd_open, o.pid, 0)))};
    if (!t.fd) continue;  // gone already
    // The pidfd is the process described only if that pid still started then.
    const std::optional<ProcStat> stat = read_proc_stat(o.pid);
    if (!stat || stat->start_ticks != o.start || !alive(t.fd.get())) continue;
    syscall(SYS_pidfd_send_signal, t.fd.get(), SIGTERM, nullptr, 0);
    targets.push_back(std::move(t));
  }
  const auto now = std::chrono::steady_clock::now();
  wait_for_exits(targets, now + grace);
  for (const Target& t : targets) syscall(SYS_pidfd_send_signal, t.fd.get(), SIGKILL, nullptr, 0);
  wait_for_exits(targets, std::chrono::steady_clock::now() + std::chrono::seconds(5));
  std::vector<pid_t> left;
  for (const Target& t : targets) left.push_back(t.pid);
  return left;
}

std::string instance_id() {
  const std::optional<ProcStat> self = read_proc_stat(getpid());
  struct stat ns {};
  const bool have_ns = stat("/proc/self/ns/pid", &ns) == 0;
  return std::to_string(getpid()) + "-" + std::to_string(self ? self->start_ticks : 0) + "-" +
         std::to_string(have_ns ? ns.st_ino : 0);
}

std::optional<bool> instance_running(const std::string& id) {
  const std::size_t a = id.find('-');
  const std::size_t b = a == std::string::npos ? a : id.find('-', a + 1);
  pid_t pid = 0;
  std::uint64_t start = 0;
  std::uint64_t ns_inode = 0;
  if (b == std::string::npos || !number(std::string_view(id).substr(0, a), pid) ||
      !number(std::string_view(id).substr(a + 1, b - a - 1), start) ||
      !number(std::string_view(id).substr(b + 1), ns_inode) || pid <= 0) {
    return std::nullopt;
  }
  struct stat ns {};
  if (stat("/proc/self/ns/pid", &ns) != 0 || ns.st_ino != ns_inode) return std::nullopt;
  const std::optional<ProcStat> stat = read_proc_stat(pid);
  return stat && stat->start_ticks == start && stat->state != 'Z' && stat->state != 'X';
}

std::optional<std::string> read_instance_record(const std::string& path) {
  const UniqueFd fd(open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      (st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 022) != 0) {
    return std::nullopt;
  }
  char buffer[128];
  const ssize_t n = read(fd.get(), buffer, sizeof buffer);
  if (n <= 0 || n == static_cast<ssize_t>(sizeof buffer)) return std::nullopt;
  std::string id(buffer, static_cast<std::size_t>(n));
  if (!id.empty() && id.back() == '\n') id.pop_back();
  if (id.empty() || id.find_first_not_of("0123456789-") != std::string::npos) return std::nullopt;
  return id;
}

void write_instance_record(const std::string& path, const std::string& id) {
  const std::string temporary = path + ".tmp";
  unlink(temporary.c_str());
  const UniqueFd fd(
      open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) throw std::system_error(errno, std::system_category(), "create " + temporary);
  const std::string line = id + "\n";
  if (write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
      fchmod(fd.get(), 0644) != 0 || rename(temporary.c_str(), path.c_str()) != 0) {
    const int error = errno;
    unlink(temporary.c_str());
    throw std::system_error(error, std::system_category(), "write " + path);
  }
}

}  // namespace clusterd::os
