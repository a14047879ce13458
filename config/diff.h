// What a reload changes: compares the running Config with a newly parsed one, app by app.
// Only runtime meaning counts; where a value was written (the Marks) never does, so editing a
// comment or moving lines restarts nothing.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace clusterd::config {

struct ConfigDiff {
  std::vector<std::string> added;      // app names in the new config only, in its order
  std::vector<std::string> removed;    // in the running config only, in its order
  std::vector<std::string> changed;    // in both, with a different runtime meaning (new order)
  std::vector<std::string> unchanged;  // in both, same_app() (new order)
  bool control_changed = false;        // the control section differs
  bool metrics_changed = false;        // metrics.address differs
  bool cgroups_changed = false;        // `cgroups:` differs (needs a restart of clusterd)
};

/// Compares two configs by app name. Config::path and every Mark are ignored.
ConfigDiff diff_configs(const Config& running, const Config& next);

/// True when two apps would run the same workers: every field except the source Marks. Order
/// matters where it reaches the worker: listeners (fd order) and env.
bool same_app(const AppSpec& a, const AppSpec& b);

/// True when two listeners are the same socket: name, address text, mode (backlog may differ).
bool same_socket(const ListenerSpec& a, const ListenerSpec& b);

/// True when two control sections are equal in every field except the Marks.
bool same_control(const ControlSpec& a, const ControlSpec& b);

}  // namespace clusterd::config
