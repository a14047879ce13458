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

}  // namespace clusterd::control
