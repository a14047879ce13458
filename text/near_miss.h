// The near miss of a word someone typed among the words that would have been understood ("did you
// mean 'status'?"): clusterctl's verbs and options, and the keys of a config file.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clusterd {

/// The candidate `word` is most likely a misspelling of (a letter wrong, missing, extra, or two
/// swapped: "stauts" for "status"), the first in order among equals; nullopt when none is close.
/// Close means at most one edit per three letters of the longer word, and never more than two.
std::optional<std::string> near_miss(std::string_view word,
                                     const std::vector<std::string>& candidates);

}  // namespace clusterd
