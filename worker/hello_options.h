// hello-worker's command line (see `hello-worker --help`).
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace hello {

struct Options {
  int threads = 1;
  long ready_delay_ms = 0;
  long long crash_after = 0;
  bool ignore_term = false;
  bool fork_child = false;
  bool log_requests = false;  // one line per request on stdout
  long exit_after_ms = 0;
  long drain_idle_ms = 1000;
  std::vector<std::string> listen;
};

/// Parses argv. Prints the usage and exits: 0 for --help, 2 for an unknown or malformed option.
Options parse_options(int argc, char** argv);

/// A whole non-negative decimal number.
template <typename T>
bool parse_number(std::string_view s, T& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size() && out >= 0;
}

}  // namespace hello
