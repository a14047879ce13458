#include "supervisor/control/describe.h"

#include <algorithm>
#include <cctype>

#include "text/printable.h"

namespace clusterd::control {

bool secret_name(std::string_view name) {
  std::string upper(name);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  for (const std::string_view word : {"KEY", "SECRET", "TOKEN", "PASS"}) {  // PASS: PASSWORD too
    if (upper.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string describe_text(const AppDescription& d) {
  std::string out = "app: " + printable(d.name) + "\n";
  for (const auto& [key, value] : d.fields) out += key + ": " + printable(value) + "\n";
  out += "listeners:" + std::string(d.listeners.empty() ? " none" : "") + "\n";
  for (const DescribedListener& l : d.listeners) {
    out += "  " + printable(l.name) + ": " + printable(l.address) + " mode " + l.mode +
           " backlog " + std::to_string(l.backlog) + (l.adopt ? " adopt" : "") + "\n";
  }
  if (!d.adopted.empty()) {
    out += "adopted (adopt: all):\n";
    for (const std::string& address : d.adopted) out += "  " + printable(address) + "\n";
  }
  out += "env:" + std::string(d.env.empty() ? " none" : "") + "\n";
  for (const auto& [name, value] : d.env) {
    out += "  " + printable(name) + (value ? "=" + printable(*value) : "") + "\n";
  }
  out += "workers:\n";
  for (const DescribedWorker& w : d.workers) {
    out += "  " + std::to_string(w.id) + ": " + printable(w.state) +
           (w.pid > 0 ? " pid " + std::to_string(w.pid) : "") +
           "; last exit: " + (w.last_exit.empty() ? "none" : printable(w.last_exit)) +
           (w.last_words.empty() ? "" : ": " + printable(w.last_words)) + "\n";
  }
  return out;
}

}  // namespace clusterd::control
