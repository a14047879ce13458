// `clusterctl import FILE`: the text of a PM2 ecosystem file, ready for config::import_pm2. A
// JavaScript file (ecosystem.config.js) is evaluated by node, as PM2 does, and its module's value
// read as JSON; any other file is read as it is (JSON or YAML).
#pragma once

#include <chrono>
#include <iosfwd>
#include <string>

namespace clusterd::control {

struct EcosystemText {
  std::string text;
  std::string error;  // why there is no text; empty when there is
};

/// Reads `path`; a .js, .cjs or .mjs file runs `node` (found in PATH) with stdin from /dev/null,
/// for at most `timeout`, and at most 1 MiB of output. The error says when node is missing, when
/// it failed (the first lines of its stderr) or took too long.
EcosystemText read_ecosystem(const std::string& path, std::chrono::milliseconds timeout);

/// `clusterctl import FILE`: the config on `out`, a line per note and a summary on `err`.
/// Returns 0, or 1 when the file could not be read or is not an ecosystem file (said on `err`).
int run_import(const std::string& path, std::ostream& out, std::ostream& err);

}  // namespace clusterd::control
