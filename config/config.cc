#include "config/config.h"

#include <algorithm>

namespace clusterd::config {

bool uses_adoption(const AppSpec& app) {
  return app.adopt_all || std::any_of(app.listeners.begin(), app.listeners.end(),
                                      [](const ListenerSpec& l) { return l.adopt; });
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
