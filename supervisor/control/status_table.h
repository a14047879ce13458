// The human form of a status, as `clusterctl status` prints it: an aligned table of the workers
// (colour only on a terminal), then a line per app and one for the master and the whole tree.
// Every cell is escaped: worker-controlled text (STATUS=, names) must not drive the terminal.
#pragma once

#include <string>

#include "supervisor/control/status.h"

namespace clusterd::control {

struct TableOptions {
  bool colour = false;  // ANSI colours for the state column (a terminal)
  bool detail = false;  // PSS, USS and FDS columns (a status asked for with detail)
};

/// The whole text, each line ending in a newline.
std::string status_table(const StatusSnapshot& status, const TableOptions& options);

/// `status --check`: one line per app, whether it has as many ready workers as it wants (a
/// readiness probe for Kubernetes, a load balancer, a deploy script) and if not, why: the last
/// exit of a worker that failed or backs off. `all` is cleared when one has not. An app stopped on
/// purpose is not ready: it refuses connections, so a load balancer should send them elsewhere.
std::string ready_check(const StatusSnapshot& status, bool& all);

}  // namespace clusterd::control
