// `clusterd --print-unit -c FILE`: a systemd unit that runs clusterd with that config, made from
// the shipped systemd/clusterd.service (its sandbox kept), compiled in. Pure text.
#pragma once

#include <string>
#include <vector>

namespace clusterd::sd {

struct UnitInput {
  std::string clusterd;     // the binary, absolute
  std::string clusterctl;   // absolute
  std::string config;       // the config file, absolute
  std::string environment;  // --env NAME; empty: none
  /// What the apps run and where: each cwd, and every absolute path of their commands (the
  /// program, as found in PATH, and absolute arguments such as a script).
  std::vector<std::string> app_paths;
  /// Files the master writes for the apps (logs.file), absolute.
  std::vector<std::string> written_paths;
  /// Environment=PATH= for the unit (a program found in a PATH directory systemd's own PATH
  /// lacks, such as node under ~/.nvm); empty: systemd's.
  std::string path;
};

/// The unit: clusterd.service with ExecStartPre/ExecStart/ExecReload running these paths, and
/// the sandbox opened only as far as the apps need: ProtectHome=read-only when one of
/// `app_paths` or `written_paths` is under /home, /root or /run/user (ProtectHome=yes hides
/// them), and ReadWritePaths= for the directory of each written path outside the writable ones.
std::string unit_file(const UnitInput& input);

/// A word of an Exec line or a path setting as systemd reads it: `%` and `$` doubled, quoted
/// when it has a space, a quote or a backslash.
std::string unit_word(const std::string& word);

}  // namespace clusterd::sd
