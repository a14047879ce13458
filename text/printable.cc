#include "text/printable.h"

#include <cstddef>

namespace clusterd {

namespace {

// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 when it does not start with one.
std::size_t utf8_length(std::string_view text) {
  const auto at = [&text](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = at(0);
  std::size_t n = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    n = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    n = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    n = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < n || at(1) < low || at(1) > high) return 0;
  for (std::size_t i = 2; i < n; ++i) {
    if (at(i) < 0x80 || at(i) > 0xBF) return 0;
  }
  return n;
}

// The bytes of the character at the start of `text` when it is printed as it is: printable ASCII
// (not the backslash), or well-formed UTF-8 that is not a C1 control; 0 when it is escaped.
std::size_t kept(std::string_view text) {
  const auto byte = static_cast<unsigned char>(text[0]);
  if (byte < 0x80) return byte >= 0x20 && byte < 0x7f && byte != '\\' ? 1 : 0;
  const std::size_t n = utf8_length(text);
  if (n == 2 && byte == 0xC2 && static_cast<unsigned char>(text[1]) <= 0x9F) return 0;  // C1
  return n;
}

void hex(std::string& out, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[byte >> 4];
  out += kHex[byte & 0xf];
}

}  // namespace

std::string printable(std::string_view text, bool multiline) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t end = i;  // a run of characters printed as they are, copied at once
    while (end < text.size()) {
      const std::size_t n = kept(text.substr(end));
      if (n == 0) break;
      end += n;
    }
    out.append(text, i, end - i);
    i = end;
    if (i == text.size()) break;
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte == '\\') {
      out += "\\\\";
    } else if (multiline && byte == '\n') {
      out += '\n';
    } else if (byte == 0xC2 && utf8_length(text.substr(i)) == 2) {  // C1: U+0080..U+009F
      hex(out, byte);
      hex(out, static_cast<unsigned char>(text[++i]));
    } else {
      hex(out, byte);  // C0, DEL, or a byte that is not part of well-formed UTF-8
    }
    ++i;
  }
  return out;
}

}  // namespace clusterd
