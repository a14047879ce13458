// A worker's last words: of the last lines it wrote before it ended, the one that says why
// ("Error: Cannot find module 'express'", "ModuleNotFoundError: No module named 'flask'",
// "panic: DB_URL not set"), for status, a rollback's reply, events and `status --check`: the
// cause is where people look, not only in `clusterctl logs`. Pure.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace clusterd::core {

struct OutputLine {
  bool err = false;  // written to stderr
  std::string text;
};

/// How many of a worker's last non-blank lines are kept to choose from, and the most bytes of
/// the chosen one.
inline constexpr std::size_t kLastLinesKept = 24;
inline constexpr std::size_t kLastWordsMax = 240;

/// The line that says why: the last one that reads like an error (an exception's name, "error",
/// "fatal", "panic", "not set", "not found", "denied", "in use", ...), stderr before stdout; else
/// the last stderr line; else the last line. Bytes that are not printable are escaped (\xNN) and
/// the line is cut at kLastWordsMax bytes ("..." added). Empty when `lines` has no text.
std::string last_words(const std::vector<OutputLine>& lines);

}  // namespace clusterd::core
