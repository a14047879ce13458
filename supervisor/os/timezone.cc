#include "supervisor/os/timezone.h"

#include <cstdlib>
#include <ctime>
#include <optional>

namespace clusterd::os {

std::int32_t utc_offset(const std::string& zone, std::int64_t utc) {
  const char* before = std::getenv("TZ");
  const std::optional<std::string> saved =
      before != nullptr ? std::optional<std::string>(before) : std::nullopt;
  if (zone != "local") setenv("TZ", (":" + zone).c_str(), 1);
  tzset();
  const std::time_t t = static_cast<std::time_t>(utc);
  std::tm local{};
  const bool ok = localtime_r(&t, &local) != nullptr;
  if (zone != "local") {
    if (saved) {
      setenv("TZ", saved->c_str(), 1);
    } else {
      unsetenv("TZ");
    }
    tzset();
  }
  return ok ? static_cast<std::int32_t>(local.tm_gmtoff) : 0;
}

}  // namespace clusterd::os
