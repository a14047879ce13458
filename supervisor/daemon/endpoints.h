// The daemon's two servers: the control socket and the metrics endpoint, opened through the host
// with the daemon's handlers, switched over by a reload, handed to the next master by a live
// upgrade, and closed (the loop told to quit) once a graceful stop is over.
#pragma once

#include <optional>

#include "config/config.h"
#include "supervisor/control/server.h"
#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

/// The control server's options for `spec`, with its users and groups resolved in `names`.
control::ServerOptions control_options(const config::ControlSpec& spec,
                                       const os::ResolvedNames& names);

class Endpoints {
 public:
  Endpoints(EndpointHost& host, control::Handler control, HttpHandler http)
      : host_(host), control_handler_(std::move(control)), http_handler_(std::move(http)) {}
  ~Endpoints();  // closes both servers
  Endpoints(const Endpoints&) = delete;
  Endpoints& operator=(const Endpoints&) = delete;

  /// Opens the control server (on `options.adopt_fd` if set); throws when it cannot.
  void open_control(control::ServerOptions options);
  /// A reload whose control socket moved: a second server on the new path, not yet the running
  /// one (use_control()); throws when it cannot.
  int open_moved_control(const control::ServerOptions& options);
  /// Closes a server open_moved_control() opened that the reload did not use.
  void discard_control(int id) { host_.close_control(id); }
  /// A reload changed the control server: it runs with `options` now, on `moved` if set (the
  /// previous one is closed).
  void use_control(const control::ServerOptions& options, std::optional<int> moved);

  /// Opens a metrics endpoint at `address` (on `adopt_fd`, a socket already listening there, if
  /// set), not yet the running one (use_metrics()); throws std::system_error naming it.
  int open_metrics(const config::Address& address, int adopt_fd = -1);
  void discard_metrics(int id) { host_.close_metrics(id); }
  /// The running metrics endpoint is `id` now (none: off); the previous one is closed.
  void use_metrics(std::optional<int> id);

  const control::ServerOptions& control_options() const { return control_options_; }
  /// The servers' listening fds, for a live upgrade; -1 for one that is not open.
  int control_fd() const { return control_ ? host_.control_fd(*control_) : -1; }
  int metrics_fd() const { return metrics_ ? host_.metrics_fd(*metrics_) : -1; }

  /// A graceful stop is over: the control server closes and the loop is told to quit.
  void finish();
  bool finished() const { return state_ == State::Finished; }

 private:
  enum class State { Serving, Finished };
  EndpointHost& host_;
  control::Handler control_handler_;
  HttpHandler http_handler_;
  std::optional<int> control_;              // the host's id of our control server
  control::ServerOptions control_options_;  // what it runs with (names resolved)
  std::optional<int> metrics_;              // the host's id of our metrics endpoint
  State state_ = State::Serving;
};

}  // namespace clusterd::daemon
