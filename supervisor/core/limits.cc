#include "supervisor/core/limits.h"

#include <algorithm>

namespace clusterd::core {

std::optional<NofileLimit> worker_nofile(std::optional<std::uint64_t> configured,
                                         std::optional<NofileLimit> inherited,
                                         unsigned long hard_now) {
  if (configured) {
    const auto n = static_cast<unsigned long>(*configured);
    return NofileLimit{n, n};
  }
  if (!inherited) return std::nullopt;
  const unsigned long hard = std::min(inherited->hard, hard_now);
  return NofileLimit{std::min(inherited->soft, hard), hard};
}

}  // namespace clusterd::core
