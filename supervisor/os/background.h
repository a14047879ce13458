// `clusterd -d`: the master in the background on a host without systemd. The command returns
// once the apps are ready (the master's READY=1, sent as to systemd, to a socket of its own),
// and the master's output (its log and the workers' console lines) goes through a pipe to a
// small writer process that appends it to a file rotated by size.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace clusterd::os {

struct LogRotation {
  std::string path;
  std::uint64_t max_size = 10 * 1024 * 1024;  // FILE is rotated before it would pass this
  unsigned keep = 5;                          // FILE.1 (newest) .. FILE.keep
};

/// The default log of `clusterd -d`: /var/log/clusterd/clusterd.log for root, else
/// $XDG_STATE_HOME/clusterd/clusterd.log ($HOME/.local/state when unset).
std::string default_background_log();

/// What the command that started the master waits on.
struct Launched {
  bool master = false;  // true in the master, which goes on to run; false in the command
  pid_t pid = -1;       // the master's pid (in the command)
  pid_t writer = -1;    // the log writer's pid (in the command)
  int ready = -1;       // the command's end of the readiness socket
  std::string dir;      // the readiness socket's private directory (removed by wait_ready)
  std::string log;      // the log file, absolute
};

/// Creates the log's directory and opens the log (so that the command can say why not), the
/// readiness socket (NOTIFY_SOCKET, in a private directory), the log pipe and its writer, then
/// forks the master: in its own session, stdin /dev/null, stdout and stderr the pipe. Returns in
/// both. Throws (nothing forked, nothing left behind) std::system_error, or LogRefused for a log
/// that cannot be opened.
Launched launch_background(const LogRotation& log);

/// In the command: how the master settled. Ready: it sent READY=1 and, for `grace` after (the
/// apps' longest min_uptime), no STATUS= line said a worker was down or failed; Failed: one did
/// (it keeps running); Exited: it exited first (its exit status); NotYet: no READY=1 within
/// `bound` (it keeps running). Removes the socket.
struct Started {
  enum class How { Ready, Failed, Exited, NotYet };
  How how = How::NotYet;
  std::string status;  // its last STATUS= line, or how it exited
};
Started wait_ready(const Launched& launched, std::chrono::milliseconds bound,
                   std::chrono::milliseconds grace);

/// True when a STATUS= line of the master says a worker is not ready or failed: "web 1/2 ready",
/// "web 2/2 ready (1 failed)"; false for "web 2/2 ready, api 1/1 ready".
bool status_short(std::string_view status);

/// Waits up to `bound` for the log writer to have written everything (it exits once every holder
/// of the pipe is gone); true if it did.
bool wait_writer(const Launched& launched, std::chrono::milliseconds bound);

/// The last `lines` lines of the log file (of its last 64 KiB), for a command that failed.
std::string log_tail(const std::string& path, unsigned lines);

}  // namespace clusterd::os
