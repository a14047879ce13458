#include "config/config.h"

namespace clusterd::config {

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
