#include "supervisor/daemon/endpoints.h"

#include <spdlog/spdlog.h>

#include <tuple>

namespace clusterd::daemon {

control::ServerOptions control_options(const config::ControlSpec& spec,
                                       const os::ResolvedNames& names) {
  control::ServerOptions options;
  options.path = spec.socket;
  options.max_clients = spec.max_clients;
  options.idle_timeout = spec.idle_timeout;
  if (!spec.group.empty()) {
    options.group = names.groups.at(spec.group);
    options.access.admin_groups.push_back(*options.group);
  }
  for (const auto& [list, users, groups] :
       {std::tuple{&spec.read, &options.access.read_users, &options.access.read_groups},
        std::tuple{&spec.admin, &options.access.admin_users, &options.access.admin_groups}}) {
    for (const config::Principal& p : *list) {
      if (p.group) {
        groups->push_back(names.groups.at(p.name));
      } else {
        users->push_back(names.users.at(p.name).uid);
      }
    }
  }
  // Roles for named users need the socket file open to them (they are checked per connection);
  // with a group only, the file's group is enough.
  options.world_connectable = !spec.read.empty() || !spec.admin.empty();
  return options;
}

Endpoints::~Endpoints() {
  if (metrics_) host_.close_metrics(*metrics_);
  if (control_) host_.close_control(*control_);
}

void Endpoints::open_control(control::ServerOptions options) {
  control_ = host_.open_control(options, control_handler_);
  control_options_ = std::move(options);
  control_options_.adopt_fd = -1;
  spdlog::info("control socket {}", control_options_.path);
}

int Endpoints::open_moved_control(const control::ServerOptions& options) {
  return host_.open_control(options, control_handler_);
}

void Endpoints::use_control(const control::ServerOptions& options, std::optional<int> moved) {
  control_options_ = options;
  if (moved) {
    if (control_) host_.close_control(*control_);
    control_ = moved;
  } else if (control_) {
    host_.reconfigure_control(*control_, options);
  }
}

int Endpoints::open_metrics(const config::Address& address, int adopt_fd) {
  const int id = host_.open_metrics(address, http_handler_, adopt_fd);
  spdlog::info("metrics: serving /metrics and /healthz on {}", address.text);
  return id;
}

void Endpoints::use_metrics(std::optional<int> id) {
  if (metrics_) host_.close_metrics(*metrics_);
  metrics_ = id;
}

void Endpoints::finish() {
  state_ = State::Finished;
  if (control_) host_.close_control(*std::exchange(control_, std::nullopt));
  spdlog::info("clusterd stopped");
  host_.quit();
}

}  // namespace clusterd::daemon
