// The control server: a Unix stream socket served on the daemon's io_context. Fully asynchronous:
// a slow or stuck client never blocks supervision or other clients. Every peer is checked with
// SO_PEERCRED and gets a role (access.h); a request needing more is refused with the verb and the
// role named. Requests are bounded in size, clients in number (a share kept for admins) and idle
// time, follow streams per uid and role (admission.h), and what a client leaves unread in bytes.
// A client that goes away is noticed at once, in the middle of a stream too. Refusals are logged
// at most once a minute per uid and kind.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "supervisor/control/access.h"
#include "supervisor/control/reply.h"

namespace asio {
class io_context;
}

namespace clusterd::control {

struct Request;

struct ServerOptions {
  std::string path;                // the socket file
  std::optional<gid_t> group;      // the socket file's group (then mode 0660), so members connect
  AccessList access;               // who gets which role
  bool world_connectable = false;  // socket file 0666 (roles checked per peer); else 0660
  std::size_t max_clients = 64;    // a quarter kept for admins (admission.h)
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
  std::size_t max_queued_bytes = 4 << 20;  // unread reply bytes before a client is dropped
  /// A socket already listening at `path` (the previous master's, in a live upgrade): served
  /// instead of binding a new one.
  int adopt_fd = -1;
};

/// Handles one decoded request the peer's role allows: any number of reply->send(), then
/// reply->finish() exactly once, now or later from the loop.
using Handler = std::function<void(const Request&, const Peer&, ReplyPtr reply)>;

class ControlServer {
 public:
  /// Binds the socket. A stale socket file is replaced; a socket on which a live daemon answers
  /// is not, and std::runtime_error says so. Throws std::system_error otherwise.
  ControlServer(asio::io_context& io, ServerOptions options, Handler handler);
  ~ControlServer();  // closes every connection and removes the socket file
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  const std::string& path() const;
  /// New limits and access list for new requests (a reload); the socket stays.
  void reconfigure(const ServerOptions& options);
  /// Clients dropped for not reading their replies, since start.
  std::size_t dropped() const;
  /// The listening socket.
  int native_handle() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace clusterd::control
