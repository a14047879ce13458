// Text from outside (worker output, STATUS= lines, names in requests) made safe to print.
#pragma once

#include <string>
#include <string_view>

namespace clusterd {

/// `text` with every control character (and DEL) written as \xNN, and backslashes doubled, so
/// that it cannot start a new log line or drive a terminal. Printable UTF-8 is kept, and with
/// `multiline` so are newlines (a message of several lines, never a terminal escape).
std::string printable(std::string_view text, bool multiline = false);

}  // namespace clusterd
