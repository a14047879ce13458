// `clusterd -d`. Three processes: the command (what the user ran), the master and the log writer.
// The command makes the readiness socket and the pipe, forks the writer (the pipe's reader) and
// the master (the pipe is its stdout and stderr; NOTIFY_SOCKET names the readiness socket), then
// waits on the socket and on the master's pidfd, whichever speaks first, within a bound.
//
// The writer is a separate process so that the master never blocks on a disk and a full disk
// never stops the master: the master writes into a pipe (its stderr sink already copes with a
// slow reader), the writer appends, rotating at a line's end before the file would pass
// max_size. It ends when the last holder of the pipe is gone (the master, and any worker whose
// output is `inherit`).
#include "supervisor/os/background.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <system_error>
#include <vector>

#include "supervisor/os/log_open.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os {
namespace {

[[noreturn]] void fail(const char* what) {
  throw std::system_error(errno, std::system_category(), what);
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t w = write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // a full disk: this part is lost, the next is tried
    data.remove_prefix(static_cast<std::size_t>(w));
  }
}

// The log file the writer appends to, rotated before it would pass max_size, at a line's end.
class RotatingFile {
 public:
  explicit RotatingFile(const LogRotation& log)
      : log_(log), where_(split_log_path(log.path)), dir_(open_log_dir(where_.dir)) {
    file_ = open_log_file(dir_.get(), where_.name, log_.path);
  }

  void append(std::string_view data) {
    bool rotated = false;  // at most once a chunk: a failing rotation must not loop
    while (!data.empty()) {
      LogFileState state = log_file_state(file_.get());
      if (!state.linked) reopen(state);  // removed by hand: a new file of that name
      std::size_t take = data.size();
      if (log_.max_size > 0 && state.size + data.size() > log_.max_size && !rotated) {
        const std::size_t room =
            state.size < log_.max_size ? static_cast<std::size_t>(log_.max_size - state.size) : 0;
        const std::size_t cut = data.substr(0, room).rfind('\n');
        if (cut != std::string_view::npos) {
          take = cut + 1;  // fill this file up to a line's end, the rest goes to the next
        } else if (state.size > 0) {
          rotated = true;
          rotate_log(dir_.get(), where_.name, log_.keep, log_.path);
          reopen(state);
          continue;
        }  // else a line longer than a whole file: it goes whole into an empty one
      }
      write_all(file_.get(), data.substr(0, take));
      data.remove_prefix(take);
    }
  }

 private:
  void reopen(LogFileState& state) {
    try {
      file_ = open_log_file(dir_.get(), where_.name, log_.path);
      state = log_file_state(file_.get());
    } catch (const std::exception&) {  // keep appending to the old one
    }
  }

  LogRotation log_;
  LogPath where_;
  UniqueFd dir_;
  UniqueFd file_;
};

// The writer: appends what comes through fd 0 to the log until every writer of the pipe is gone.
[[noreturn]] void write_log(const LogRotation& log) {
  prctl(PR_SET_NAME, "clusterd-log");
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  try {
    RotatingFile file(log);
    std::vector<char> buf(65536);
    for (;;) {
      const ssize_t n = read(0, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) _exit(0);
      file.append(std::string_view(buf.data(), static_cast<std::size_t>(n)));
    }
  } catch (...) {
    _exit(1);
  }
}

void make_dirs(const std::filesystem::path& dir, mode_t mode) {
  std::error_code ec;
  if (dir.empty() || std::filesystem::is_directory(dir, ec)) return;
  make_dirs(dir.parent_path(), mode);
  if (mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
    throw LogRefused("cannot make " + dir.string() + ": " + std::strerror(errno));
  }
}

// The master's side of the fork: its output is the pipe, its readiness goes to `notify`, and
// what a systemd that started the command meant for the command is not the master's.
void become_master(int output, const std::string& notify) {
  setsid();
  const int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
  dup2(null, 0);
  dup2(output, 1);
  dup2(output, 2);
  if (null > 2) close(null);
  for (const char* name : {"JOURNAL_STREAM", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
                           "WATCHDOG_USEC", "WATCHDOG_PID"}) {
    unsetenv(name);
  }
  setenv("NOTIFY_SOCKET", notify.c_str(), 1);
}

// The readiness socket, bound in `dir`, receiving its senders' credentials.
UniqueFd bind_ready(const std::string& path) {
  UniqueFd ready(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  const int on = 1;
  if (!ready || bind(ready.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      setsockopt(ready.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
    fail("the readiness socket");
  }
  return ready;
}

// One datagram on the readiness socket, if the master sent it: READY=1 and STATUS= into `out`.
void read_notification(int fd, pid_t master, bool& ready, std::string& status) {
  char buf[4096];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t got = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  if (got <= 0) return;
  const cmsghdr* c = CMSG_FIRSTHDR(&msg);
  ucred who{};
  if (c == nullptr || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS) return;
  std::memcpy(&who, CMSG_DATA(c), sizeof who);
  if (who.pid != master) return;  // only the master speaks here
  const std::string_view text(buf, static_cast<std::size_t>(got));
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line = text.substr(at, end - at);
    if (line == "READY=1") ready = true;
    if (line.starts_with("STATUS=")) status = line.substr(7);
    at = end + 1;
  }
}

}  // namespace

std::string default_background_log() {
  if (geteuid() == 0) return "/var/log/clusterd/clusterd.log";
  const char* state = std::getenv("XDG_STATE_HOME");
  if (state != nullptr && *state == '/') return std::string(state) + "/clusterd/clusterd.log";
  const char* home = std::getenv("HOME");
  return std::string(home != nullptr && *home == '/' ? home : "/tmp") +
         "/.local/state/clusterd/clusterd.log";
}

bool status_short(std::string_view status) {
  if (status.find(" failed)") != std::string_view::npos) return true;  // names have no ')'
  for (std::size_t at = status.find(" ready"); at != std::string_view::npos;
       at = status.find(" ready", at + 1)) {
    const std::size_t start = status.rfind(' ', at - 1) + 1;  // "web 1/2 ready": "1/2"
    const std::string_view pair = status.substr(start, at - start);
    const std::size_t slash = pair.find('/');
    if (slash == std::string_view::npos) continue;
    const std::string_view ready = pair.substr(0, slash);
    const std::string_view wanted = pair.substr(slash + 1);
    if (ready.size() != wanted.size() ? ready.size() < wanted.size() : ready < wanted) return true;
  }
  return false;
}

Launched launch_background(const LogRotation& log) {
  Launched out;
  out.log = std::filesystem::absolute(log.path).lexically_normal().string();
  make_dirs(std::filesystem::path(out.log).parent_path(), geteuid() == 0 ? 0750 : 0700);
  {  // the log must open now, where the command can still say why not
    const LogPath where = split_log_path(out.log);
    open_log_file(open_log_dir(where.dir).get(), where.name, out.log);
  }
  LogRotation rotation = log;
  rotation.path = out.log;
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  std::string dir = (runtime != nullptr && *runtime == '/' ? std::string(runtime) : "/tmp") +
                    "/clusterd-start.XXXXXX";
  if (mkdtemp(dir.data()) == nullptr) fail("mkdtemp");
  out.dir = dir;
  try {
    const std::string path = out.dir + "/notify";
    UniqueFd ready = bind_ready(path);
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) fail("pipe2");
    UniqueFd read_end(pipe_fds[0]);
    UniqueFd write_end(pipe_fds[1]);
    out.writer = fork();
    if (out.writer < 0) fail("fork");
    if (out.writer == 0) {  // nothing of the command's but the pipe: no terminal, no session
      setsid();
      const int null = open("/dev/null", O_RDWR);
      dup2(read_end.get(), 0);
      dup2(null, 1);
      dup2(null, 2);
      syscall(SYS_close_range, 3U, ~0U, 0U);
      write_log(rotation);
    }
    read_end.reset();
    out.pid = fork();
    if (out.pid < 0) fail("fork");
    if (out.pid == 0) {
      become_master(write_end.get(), path);
      out.master = true;
      return out;  // the pipe's ends and the socket close here: the master keeps fds 0-2
    }
    out.ready = ready.release();
    return out;
  } catch (...) {
    std::filesystem::remove_all(out.dir);
    throw;
  }
}

Started wait_ready(const Launched& launched, std::chrono::milliseconds bound,
                   std::chrono::milliseconds grace) {
  using Clock = std::chrono::steady_clock;
  UniqueFd ready(launched.ready);
  UniqueFd exited(static_cast<int>(syscall(SYS_pidfd_open, launched.pid, 0)));
  Clock::time_point deadline = Clock::now() + bound;
  Started out;
  bool is_ready = false;
  bool settling = false;  // READY=1 came: watching for `grace`
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 && settling) {
      out.how = Started::How::Ready;
      break;
    }
    if (left.count() <= 0) {
      out.status = "not ready after " + std::to_string(bound.count() / 1000) +
                   "s (last: " + (out.status.empty() ? "nothing" : out.status) + ")";
      break;
    }
    pollfd fds[2] = {{ready.get(), POLLIN, 0}, {exited.get(), POLLIN, 0}};
    const int n = poll(fds, exited ? 2 : 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("poll");
    if (fds[0].revents & POLLIN) {
      read_notification(ready.get(), launched.pid, is_ready, out.status);
      if (is_ready && status_short(out.status)) {
        out.how = Started::How::Failed;
        break;
      }
      if (is_ready && !settling) {
        settling = true;
        deadline = Clock::now() + grace;
      }
      continue;  // what it said before it exited counts
    }
    if (exited && (fds[1].revents & POLLIN)) {
      int raw = 0;
      waitpid(launched.pid, &raw, 0);
      out.how = Started::How::Exited;
      out.status = WIFEXITED(raw) ? "it exited with status " + std::to_string(WEXITSTATUS(raw))
                                  : "it was killed by signal " + std::to_string(WTERMSIG(raw));
      break;
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(launched.dir, ignored);
  return out;
}

bool wait_writer(const Launched& launched, std::chrono::milliseconds bound) {
  UniqueFd done(static_cast<int>(syscall(SYS_pidfd_open, launched.writer, 0)));
  if (!done) return false;
  pollfd fd{done.get(), POLLIN, 0};
  if (poll(&fd, 1, static_cast<int>(bound.count())) != 1) return false;
  waitpid(launched.writer, nullptr, 0);
  return true;
}

std::string log_tail(const std::string& path, unsigned lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 65536);
  in.seekg(from);
  std::string text(static_cast<std::size_t>(std::max<std::streamoff>(0, size - from)), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  std::vector<std::string_view> all;
  for (std::string_view rest = text; !rest.empty();) {
    const std::size_t end = std::min(rest.find('\n'), rest.size());
    all.push_back(rest.substr(0, end));
    rest.remove_prefix(std::min(end + 1, rest.size()));
  }
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += std::string(all[i]) + "\n";
  }
  return out;
}

}  // namespace clusterd::os
