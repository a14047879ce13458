#include "supervisor/core/last_words.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace clusterd::core {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool reads_like_error(std::string_view text) {
  static constexpr std::array<std::string_view, 15> kWords = {
      "error",     "exception", "fatal",  "panic",     "not set",
      "not found", "no such",   "denied", "in use",    "cannot",
      "can't",     "refused",   "failed", "traceback", "segmentation fault"};
  const std::string l = lower(text);
  // A stack frame ("    at Module._load (...)", "  File \"x.py\", line 3") is not the cause.
  const std::size_t first = l.find_first_not_of(" \t");
  if (first != std::string::npos &&
      (l.compare(first, 3, "at ") == 0 || l.compare(first, 5, "file ") == 0)) {
    return false;
  }
  return std::any_of(kWords.begin(), kWords.end(),
                     [&](std::string_view w) { return l.find(w) != std::string::npos; });
}

std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (out.size() >= kLastWordsMax) {
      out += "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += ' ';
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  const std::size_t begin = out.find_first_not_of(' ');
  return begin == std::string::npos ? std::string() : out.substr(begin);
}

bool blank(const std::string& text) { return text.find_first_not_of(" \t\r") == std::string::npos; }

}  // namespace

std::string last_words(const std::vector<OutputLine>& lines) {
  const OutputLine* chosen = nullptr;
  for (const bool want_err : {true, false}) {
    for (auto it = lines.rbegin(); it != lines.rend() && !chosen; ++it) {
      if (it->err == want_err && !blank(it->text) && reads_like_error(it->text)) chosen = &*it;
    }
    if (chosen) break;
  }
  for (const bool want_err : {true, false}) {
    for (auto it = lines.rbegin(); it != lines.rend() && !chosen; ++it) {
      if (it->err == want_err && !blank(it->text)) chosen = &*it;
    }
  }
  return chosen ? printable(chosen->text) : std::string();
}

}  // namespace clusterd::core
