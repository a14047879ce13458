#include "config/config.h"

namespace clusterd::config {

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
