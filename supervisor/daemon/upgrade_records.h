// The core's records in the live upgrade's state document: an exit status, a lane, a rollout,
// an app, each written and read by two neighbouring functions, so a field added to a record is
// added in one struct and two adjacent places (tests/unit/upgrade_test.cc round-trips them).
// JSON, like upgrade_state.cc: the protocol between two masters.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "supervisor/core/supervisor.h"

namespace clusterd::daemon::records {

/// Steady-clock times as their tick counts (CLOCK_MONOTONIC survives exec).
std::int64_t ticks(core::TimePoint t);
core::TimePoint point(std::int64_t n);
/// The number `j` holds, in [0, count) (an enum's value); throws "bad `what`" otherwise.
int bounded_int(const nlohmann::json& j, int count, const char* what);

/// The config texts of the state, each parsed once: the spec of an app in one of them.
class Specs {
 public:
  /// Throws std::runtime_error when a text does not parse.
  explicit Specs(const std::vector<std::string>& texts);
  const config::AppSpec& get(const std::string& name, std::size_t index) const;

 private:
  std::vector<config::Config> configs_;
};

/// An app, its slots and lanes; its specs go as indexes into `texts` (added as needed).
nlohmann::json app_json(const core::AppState& app, std::vector<std::string>& texts);
/// Throws std::runtime_error (or a json exception) naming what is wrong.
core::AppState app_of(const nlohmann::json& j, const Specs& specs);

}  // namespace clusterd::daemon::records
