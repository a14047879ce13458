// The metrics endpoint: a small HTTP/1.1 server on the master's one loop (TCP or a unix
// socket). Each connection sends one request and gets one reply, then is closed; a client that
// says nothing within 10 s is dropped, at most 16 are served at once (when full, the one that has
// waited longest without a request is closed to make room), a request is at most 8 KiB. What a path
// answers is the daemon's (the handler), told who asks (a TCP peer's address, a unix peer's uid)
// for its rate; the numbers are read when the request comes, never on a timer.
#pragma once

#include <asio/io_context.hpp>
#include <memory>

#include "supervisor/daemon/host.h"

namespace clusterd::loop {

class MetricsServer {
 public:
  /// Binds `address` (or serves `adopt_fd`, a socket already listening there); throws
  /// std::system_error naming it.
  MetricsServer(asio::io_context& io, const config::Address& address, daemon::HttpHandler handler,
                int adopt_fd = -1);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  /// The listening socket.
  int native_handle() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace clusterd::loop
