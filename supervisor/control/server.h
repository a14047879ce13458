// The control server: a Unix stream socket served on the daemon's io_context. Fully asynchronous:
// a slow or stuck client never blocks supervision or other clients. Every peer is checked with
// SO_PEERCRED; requests are bounded in size, clients in number and in idle time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace asio {
class io_context;
}

namespace clusterd::control {

struct Request;

struct ServerOptions {
  std::string path;            // the socket file
  std::optional<gid_t> group;  // members may connect; the file gets this group
  std::size_t max_clients = 64;
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
};

/// Who is asking (from SO_PEERCRED).
struct Peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// Handles one decoded request. It calls `reply(line, false)` for progress lines (any number) and
/// then `reply(line, true)` exactly once with the final reply; it may do so later, from the loop.
using Handler = std::function<void(const Request&, const Peer&,
                                   std::function<void(std::string line, bool final)> reply)>;

class ControlServer {
 public:
  /// Binds the socket (mode 0660). A stale socket file is replaced; a socket on which a live
  /// daemon answers is not, and std::runtime_error says so. Throws std::system_error otherwise.
  ControlServer(asio::io_context& io, ServerOptions options, Handler handler);
  ~ControlServer();  // closes every connection and removes the socket file
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace clusterd::control
