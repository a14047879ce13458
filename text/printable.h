// Text from outside (worker output, STATUS= lines, names in requests) made safe to print.
#pragma once

#include <string>
#include <string_view>

namespace clusterd {

/// `text` made safe for a terminal or a log line: every C0 control character and DEL is written
/// as \xNN, every C1 control character (U+0080..U+009F: 0xC2 0x80..0xC2 0x9F in UTF-8, among
/// them CSI U+009B and OSC U+009D, which a UTF-8 terminal obeys like ESC [ and ESC ]) as its two
/// bytes \xc2\xNN, and every byte that is not part of well-formed UTF-8 as \xNN (a lone 0x9B
/// is CSI to a terminal in an 8-bit mode); backslashes are doubled, so the output reads back
/// unambiguously. Printable UTF-8 is kept, and with `multiline` so are newlines (a message of
/// several lines, never a terminal escape). The result is valid UTF-8.
std::string printable(std::string_view text, bool multiline = false);

}  // namespace clusterd
