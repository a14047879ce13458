// Helpers of the config parser's unit tests: parse a YAML text as "t.yaml", get its errors as
// the text users see, or the one app of a config that must parse.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/parse.h"

namespace clusterd::test {

inline std::vector<std::string> errors_of(const std::string& yaml) {
  std::vector<std::string> out;
  for (const clusterd::config::ConfigError& e :
       clusterd::config::parse_config(yaml, "t.yaml").errors) {
    out.push_back(e.to_string());
  }
  return out;
}

inline std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

inline clusterd::config::Config parse_ok(const std::string& yaml) {
  clusterd::config::ParseResult r = clusterd::config::parse_config(yaml, "t.yaml");
  std::vector<std::string> errors;
  for (const auto& e : r.errors) errors.push_back(e.to_string());
  INFO(yaml);
  INFO(joined(errors));
  REQUIRE(r.errors.empty());
  REQUIRE(r.config.has_value());
  return *r.config;
}

// A one-app config whose app has `extra` (lines indented by 4) after `command: x`.
inline std::string app_with(const std::string& extra) {
  return "apps:\n  web:\n    command: x\n" + extra;
}

inline clusterd::config::AppSpec only_app(const std::string& yaml) {
  clusterd::config::Config c = parse_ok(yaml);
  REQUIRE(c.apps.size() == 1);
  return c.apps[0];
}

}  // namespace clusterd::test
