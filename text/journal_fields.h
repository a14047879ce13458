// The journal's native protocol (systemd.io/JOURNAL_NATIVE_PROTOCOL): one datagram per entry,
// each field `NAME=value\n`, or, for a value with a newline, `NAME\n` + its length as a 64-bit
// little-endian number + the value + `\n`. Written here rather than through sd_journal_sendv,
// which blocks when journald falls behind: the master must not.
#pragma once

#include <string>
#include <string_view>

namespace clusterd {

/// Appends one field to `entry`. `name` must be a valid journal field name (A-Z, 0-9, _; not
/// starting with _ or a digit): the caller's constant, never outside text.
void add_journal_field(std::string& entry, std::string_view name, std::string_view value);

}  // namespace clusterd
