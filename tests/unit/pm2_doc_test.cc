// docs/from-pm2.md against the import: every key the import knows has a row, every row's key is
// one the import knows, and what a row says the import reports is what it reports.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "config/pm2_import.h"

using namespace clusterd;

namespace {

// The table's rows: "| `key` | mapped, approximated | ..." -> key -> the second cell.
std::map<std::string, std::string> doc_rows() {
  std::ifstream in(std::string(CLUSTERD_SOURCE_DIR) + "/docs/from-pm2.md");
  REQUIRE(in.good());
  std::map<std::string, std::string> rows;
  bool in_keys = false;
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("## ")) in_keys = line == "## Ecosystem keys";
    if (!in_keys || !line.starts_with("| `")) continue;
    const std::size_t end = line.find('`', 3);
    const std::size_t cell = line.find('|', end);
    const std::size_t cell_end = line.find('|', cell + 1);
    REQUIRE(cell_end != std::string::npos);
    rows[line.substr(3, end - 3)] = line.substr(cell + 1, cell_end - cell - 1);
  }
  return rows;
}

// A value of each key the import reads, as a PM2 user would write it alone in an app.
const std::map<std::string, std::string> kSamples = {
    {"name", "web"},
    {"script", "server.js"},
    {"args", "--port 80"},
    {"interpreter", "python3"},
    {"exec_interpreter", "python3"},
    {"node_args", "--inspect"},
    {"interpreter_args", "--inspect"},
    {"cwd", "/srv/web"},
    {"instances", "4"},
    {"increment_var", "PORT, port: 3000"},
    {"exec_mode", "cluster"},
    {"wait_ready", "true"},
    {"listen_timeout", "5000"},
    {"kill_timeout", "5000"},
    {"autorestart", "false"},
    {"stop_exit_codes", "[0]"},
    {"max_restarts", "10"},
    {"min_uptime", "10s"},
    {"restart_delay", "1000"},
    {"exp_backoff_restart_delay", "100"},
    {"max_memory_restart", "300M"},
    {"cron_restart", "'0 3 * * *'"},
    {"watch", "true"},
    {"ignore_watch", "node_modules"},
    {"watch_delay", "500"},
    {"watch_options", "{usePolling: true}"},
    {"out_file", "out.log"},
    {"error_file", "err.log"},
    {"log_file", "all.log"},
    {"merge_logs", "true"},
    {"combine_logs", "true"},
    {"log_date_format", "YYYY-MM-DD"},
    {"time", "true"},
    {"log_type", "json"},
    {"disable_logs", "true"},
    {"uid", "www"},
    {"gid", "www"},
    {"env", "{NODE_ENV: development}"},
    {"env_NAME", "{NODE_ENV: production}"},
    {"port", "8080"},
};

// What the import says of `key` given `value` in an app that has a script.
std::vector<config::ImportNote> notes_of(const std::string& key, const std::string& value) {
  const std::string yaml_key = key == "env_NAME" ? "env_production" : key;
  std::string app = "{script: app.js, " + yaml_key + ": " + value + "}";
  if (key == "script") app = "{script: " + value + "}";
  const config::ImportResult r = config::import_pm2("apps: [" + app + "]", "e.yaml", "/srv");
  INFO(app);
  REQUIRE(r.errors.empty());
  std::vector<config::ImportNote> out;
  for (const config::ImportNote& note : r.notes) {
    if (note.key == yaml_key) out.push_back(note);
  }
  return out;
}

const char* kind_word(config::ImportNote::Kind kind) {
  switch (kind) {
    case config::ImportNote::Kind::Mapped:
      return "mapped";
    case config::ImportNote::Kind::Approximated:
      return "approximated";
    case config::ImportNote::Kind::Unsupported:
      return "not supported";
  }
  return "?";
}

}  // namespace

TEST_CASE("from-pm2.md: every key the import knows has a row, and only those", "[pm2]") {
  const std::map<std::string, std::string> rows = doc_rows();
  for (const std::string_view key : config::pm2_app_keys()) {
    INFO(key);
    CHECK(rows.contains(std::string(key)));
  }
  CHECK(rows.contains("env_NAME"));
  for (const auto& [key, kinds] : rows) {
    INFO(key);
    const bool known =
        key == "env_NAME" || std::find(config::pm2_app_keys().begin(), config::pm2_app_keys().end(),
                                       key) != config::pm2_app_keys().end();
    CHECK(known);
  }
}

TEST_CASE("from-pm2.md: each row says what the import reports of its key", "[pm2]") {
  for (const auto& [key, kinds] : doc_rows()) {
    const auto sample = kSamples.find(key);
    const std::vector<config::ImportNote> notes =
        notes_of(key, sample != kSamples.end() ? sample->second : "x");
    INFO(key << ": the doc says " << kinds);
    REQUIRE(!notes.empty());
    for (const config::ImportNote& note : notes) {
      INFO(note.to_string());
      CHECK(note.text != "not a PM2 ecosystem key this import knows");
      CHECK(kinds.find(kind_word(note.kind)) != std::string::npos);
    }
  }
}

TEST_CASE("import: a key PM2 reads but that is off is not called unknown", "[pm2]") {
  for (const std::string off : {"cron_restart: false", "cron_restart: 0", "time: null"}) {
    const config::ImportResult r =
        config::import_pm2("apps: [{script: app.js, " + off + "}]", "e.yaml", "/srv");
    const std::string key = off.substr(0, off.find(':'));
    bool said = false;
    for (const config::ImportNote& note : r.notes) {
      if (note.key != key) continue;
      said = true;
      INFO(note.to_string());
      CHECK(note.kind == config::ImportNote::Kind::Mapped);
      CHECK(note.text == "off, as in PM2's default: nothing to carry over");
    }
    CHECK(said);
  }
}
