// The client side of the control socket, for clusterctl: connect, send one request line, read one
// reply line. Plain blocking POSIX calls with a deadline; no event loop needed.
#pragma once

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>

namespace clusterd::control {

/// The daemon could not be reached at all (no socket, nobody listening, permission).
class Unreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The daemon closed the connection before the last reply line (it was stopping, or replaced by
/// a live upgrade at that moment).
class ClosedWithoutReply : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Sends `request_line` (ending in '\n') to the socket at `path` and returns the reply line
/// without its newline. Throws Unreachable when nothing listens there, std::runtime_error when
/// permission is denied, the daemon hangs up, or it does not answer within `timeout`.
/// `is_final(line)` is asked about every line received: lines for which it returns false (progress
/// lines) are skipped, and each one restarts the timeout. A timeout of 0 waits forever (a follow).
std::string call(const std::string& path, const std::string& request_line,
                 std::chrono::milliseconds timeout,
                 const std::function<bool(const std::string&)>& is_final = {});

}  // namespace clusterd::control
