// What clusterctl reads from its command line beyond what the argument parser checks: the target
// of `scale` (a count, +N, -N or auto) and the near miss of a word it does not know ("did you
// mean 'status'?"). Pure, so both are unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/control/protocol.h"

namespace clusterd::control {

/// Sets `request`'s target from scale's argument: "N" (instances, 0 included: the daemon says
/// why not), "+N" or "-N" (delta, N >= 1) or "auto". Returns the usage error when `text` is
/// none of them, or asks for more than kMaxInstances.
std::optional<std::string> read_scale_target(std::string_view text, Request& request);

/// "30s", "10m", "2h", "1d", "500ms" (a bare number: seconds) as milliseconds; nullopt otherwise.
std::optional<std::uint64_t> duration_ms(const std::string& text);

/// The candidate `word` is most likely a misspelling of (a letter wrong, missing, extra, or two
/// swapped: "stauts" for "status"), the first in order among equals; nullopt when none is close.
std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string>& candidates);

}  // namespace clusterd::control
