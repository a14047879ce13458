// A non-blocking sender of journal entries (the native protocol's datagrams), for the master's
// own lines and for worker lines in `logs: journal` mode. journald that falls behind makes a
// send fail (dropped, counted by the caller), never wait.
#pragma once

#include <string>
#include <string_view>

#include "supervisor/os/unique_fd.h"

namespace clusterd::os {

class JournalSocket {
 public:
  static constexpr const char* kDefaultPath = "/run/systemd/journal/socket";
  explicit JournalSocket(std::string path = kDefaultPath);

  /// Whether the socket file is there (journald runs).
  bool available() const;

  /// Who journald should credit an entry to: the worker that wrote the line.
  struct Sender {
    int pid = 0;
    unsigned uid = 0;
    unsigned gid = 0;
  };
  enum class Result { Sent, Dropped, Failed };
  /// Sends one entry (fields in the native protocol). With `as`, in that process's name when we
  /// may (SCM_CREDENTIALS of another pid needs CAP_SYS_ADMIN); otherwise, or once that is
  /// refused, in our own name with OBJECT_PID= naming it. Dropped: journald's queue is full.
  Result send(std::string_view entry, const Sender* as = nullptr);
  /// Whether entries can be credited to their worker (false once the kernel said no).
  bool credits_workers() const { return !credentials_refused_; }

 private:
  Result send_raw(std::string_view entry, const Sender* as);

  std::string path_;
  UniqueFd fd_;
  bool credentials_refused_ = false;
};

}  // namespace clusterd::os
