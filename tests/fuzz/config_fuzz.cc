// libFuzzer target: arbitrary bytes as a config file. parse_config() promises never to throw and
// to report every problem as a ConfigError; this checks that promise under ASan/UBSan, plus the
// invariants a caller relies on. Build and run: scripts/fuzz (docs/reliability.md).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/diff.h"
#include "config/parse.h"

namespace {

constexpr std::string_view kOrigin = "fuzz.yaml";

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "config_fuzz: invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace clusterd::config;
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);

  ParseResult result = parse_config(yaml, kOrigin);

  // Every error prints as FILE[:LINE:COL]: [KEY: ]MESSAGE and names the origin.
  for (const ConfigError& e : result.errors) {
    const std::string text = e.to_string();
    if (e.file != kOrigin || !std::string_view(text).starts_with(kOrigin)) fail("error origin");
    if (e.message.empty()) fail("error without a message");
    if (e.at.line < 0 || e.at.column < 0) fail("negative error position");
  }

  if (!result.config) {
    if (result.errors.empty()) fail("no config and no error");
    return 0;
  }
  if (!result.errors.empty()) fail("a config together with errors");

  const Config& config = *result.config;
  if (config.apps.empty()) fail("a valid config without apps");
  for (const AppSpec& app : config.apps) {
    if (app.command.empty() || app.command[0].empty()) fail("an app without a program");
    if (app.backoff_initial > app.backoff_max) fail("backoff.initial > backoff.max");
    if (app.umask > 0777) fail("a umask beyond 0777");
    if (app.env_at.size() != app.env.size()) fail("an env entry without its place");
  }

  // A config compared with itself: nothing to add, remove or roll, every app unchanged.
  const ConfigDiff diff = diff_configs(config, config);
  if (!diff.added.empty() || !diff.removed.empty() || !diff.changed.empty()) {
    fail("diff_configs(c, c) reports a change");
  }
  if (diff.control_changed) fail("diff_configs(c, c) reports a control change");
  if (diff.unchanged.size() != config.apps.size()) fail("diff_configs(c, c) loses apps");
  for (std::size_t i = 0; i < config.apps.size(); ++i) {
    if (diff.unchanged[i] != config.apps[i].name) fail("diff_configs(c, c) reorders apps");
  }
  return 0;
}
