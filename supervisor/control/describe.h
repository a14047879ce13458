// `describe APP`: what an app runs and how, as the daemon holds it (its spec, listeners, the
// sockets `adopt: all` made, its workers' last exits). Env values travel only when asked for, and
// never for a name that looks secret. JSON lives in protocol.cc; the text form is here.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace clusterd::control {

struct DescribedListener {
  std::string name;
  std::string address;
  std::string mode;  // shared, reuseport, worker
  int backlog = 0;
  bool adopt = false;
};

struct DescribedWorker {
  unsigned id = 0;
  std::string state;
  int pid = 0;
  std::string last_exit;   // empty: none yet
  std::string last_words;  // its last lines of output before that exit
};

struct AppDescription {
  std::string name;
  /// The scalar facts in the order shown: command, cwd, user, ready, restart, ...
  std::vector<std::pair<std::string, std::string>> fields;
  /// Each env name with its value (with `env` asked for), "(redacted)" for a secret-looking
  /// name, or nullopt (not asked for).
  std::vector<std::pair<std::string, std::optional<std::string>>> env;
  std::vector<DescribedListener> listeners;
  std::vector<std::string> adopted;  // the addresses `adopt: all` made sockets for
  std::vector<DescribedWorker> workers;
};

/// The value shown for a secret-looking env name.
inline constexpr std::string_view kRedacted = "(redacted)";

/// True when an env name contains KEY, SECRET, TOKEN, PASSWORD or PASS, in any case.
bool secret_name(std::string_view name);

/// The description as lines for a terminal, every string made printable.
std::string describe_text(const AppDescription& description);

}  // namespace clusterd::control
