// A PM2 ecosystem file (its JSON, or YAML) -> a clusterd config, and a note for every key of
// every app: mapped (to what), approximated (how), or not supported (why). Pure: the caller reads
// the file (and has node evaluate an ecosystem.config.js into JSON); nothing here touches the
// machine. docs/from-pm2.md is the table of what each key becomes.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace clusterd::config {

struct ImportNote {
  enum class Kind { Mapped, Approximated, Unsupported };
  std::string app;  // the app's name in the output; empty for the file's own keys
  std::string key;  // the PM2 key ("exec_mode")
  Kind kind = Kind::Mapped;
  std::string text;  // mapped: what it became; approximated: how; not supported: why

  /// "api.exec_mode: approximated: cluster -> adopt: all (...)".
  std::string to_string() const;
};

struct ImportResult {
  std::string yaml;                 // the clusterd config; empty when errors is not
  std::vector<ImportNote> notes;    // in the file's order, app by app
  std::vector<std::string> errors;  // why there is no config (not an ecosystem file, no app)
};

/// Converts the ecosystem file `text` (JSON or YAML: `{apps: [...]}`, a list of apps, or one app)
/// read from `origin` (named in the output's first comment). `directory` is the absolute
/// directory of the file: PM2 starts apps from there, and relative cwd and log paths are taken
/// from it.
ImportResult import_pm2(std::string_view text, std::string_view origin, std::string_view directory);

/// Every key of a PM2 app this import knows (has a note for other than "not a PM2 ecosystem key
/// this import knows"), besides env_NAME; in docs/from-pm2.md's table, each with its row.
const std::vector<std::string_view>& pm2_app_keys();

}  // namespace clusterd::config
