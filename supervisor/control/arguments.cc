#include "supervisor/control/arguments.h"

#include <algorithm>
#include <cstdint>

#include "text/near_miss.h"
#include "text/printable.h"

namespace clusterd::control {

std::optional<std::string> read_scale_target(std::string_view text, Request& request) {
  if (text == "auto") {
    request.instances_auto = true;
    return std::nullopt;
  }
  const char sign = !text.empty() && (text[0] == '+' || text[0] == '-') ? text[0] : '\0';
  const std::string_view digits = sign == '\0' ? text : text.substr(1);
  const bool number = !digits.empty() && std::all_of(digits.begin(), digits.end(),
                                                     [](char c) { return c >= '0' && c <= '9'; });
  if (!number) {
    return "scale: expected a number of workers (1 to " + std::to_string(kMaxInstances) +
           "), +N or -N to add or remove N workers, or auto; got '" + printable(text) + "'";
  }
  std::uint64_t n = 0;
  for (const char c : digits) n = std::min<std::uint64_t>(n * 10 + (c - '0'), kMaxInstances + 1);
  if (n > kMaxInstances) {
    return "scale: '" + printable(text) + "' is over the limit of " +
           std::to_string(kMaxInstances) + " workers";
  }
  if (sign == '\0') {
    request.instances = static_cast<unsigned>(n);
  } else if (n == 0) {
    return "scale: '" + printable(text) + "' changes nothing; +N adds N workers, -N removes N";
  } else {
    request.delta = sign == '-' ? -static_cast<int>(n) : static_cast<int>(n);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> duration_ms(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 9) return std::nullopt;
  const std::uint64_t n = std::stoull(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  if (unit == "ms") return n;
  if (unit == "s" || unit.empty()) return n * 1000;
  if (unit == "m") return n * 60 * 1000;
  if (unit == "h") return n * 3600 * 1000;
  if (unit == "d") return n * 86400 * 1000;
  return std::nullopt;
}

std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string>& candidates) {
  return near_miss(word, candidates);
}

}  // namespace clusterd::control
