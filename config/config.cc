#include "config/config.h"

#include <algorithm>

namespace clusterd::config {

bool uses_adoption(const AppSpec& app) {
  return app.adopt_all || std::any_of(app.listeners.begin(), app.listeners.end(),
                                      [](const ListenerSpec& l) { return l.adopt; });
}

std::optional<Address> worker_address(const ListenerSpec& listener, unsigned worker_id) {
  if (!listener.port_per_worker) return listener.address;
  const unsigned port = listener.address.port + worker_id;
  if (port > 65535) return std::nullopt;
  Address out = listener.address;
  out.port = static_cast<std::uint16_t>(port);
  out.text = out.family == Address::Family::Ipv6 ? "[" + out.host + "]:" + std::to_string(port)
                                                 : out.host + ":" + std::to_string(port);
  return out;
}

const char* to_string(ListenMode mode) {
  switch (mode) {
    case ListenMode::Shared:
      return "shared";
    case ListenMode::ReusePort:
      return "reuseport";
    case ListenMode::Worker:
      return "worker";
  }
  return "?";
}

const char* to_string(ReadyMode mode) {
  switch (mode) {
    case ReadyMode::Exec:
      return "exec";
    case ReadyMode::Notify:
      return "notify";
    case ReadyMode::Listen:
      return "listen";
    case ReadyMode::Fd:
      return "fd";
    case ReadyMode::Http:
      return "http";
    case ReadyMode::Tcp:
      return "tcp";
  }
  return "?";
}

const char* to_string(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::Always:
      return "always";
    case RestartPolicy::OnFailure:
      return "on-failure";
    case RestartPolicy::Never:
      return "never";
  }
  return "?";
}

const char* to_string(LogSpec::Mode mode) {
  switch (mode) {
    case LogSpec::Mode::Auto:
      return "auto";
    case LogSpec::Mode::Journal:
      return "journal";
    case LogSpec::Mode::Capture:
      return "capture";
    case LogSpec::Mode::Inherit:
      return "inherit";
  }
  return "auto";
}

std::string ConfigError::to_string() const {
  std::string out = file;
  if (at.line > 0) {
    out += ":" + std::to_string(at.line) + ":" + std::to_string(at.column);
  }
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

}  // namespace clusterd::config
