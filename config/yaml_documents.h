// Counting the documents of a YAML stream without yaml-cpp 0.7's LoadAll(), which loops forever,
// allocating, on some inputs (a file holding only `,`: jbeder/yaml-cpp#1040, fixed upstream by
// #1319, not in Debian 12's 0.7.0). Found by tests/fuzz/config_fuzz.cc.
#pragma once

#include <yaml-cpp/mark.h>

#include <cstdint>
#include <string>
#include <vector>

namespace clusterd::config {

/// At most this many nodes in a document, an alias counting as the subtree it stands for.
inline constexpr std::uint64_t kMaxExpandedNodes = 100000;
/// At most this many bytes of scalars (keys and values) in a document, an alias counting as the
/// text of the subtree it stands for. A file without aliases has at most kMaxConfigBytes (1 MiB).
inline constexpr std::uint64_t kMaxExpandedBytes = std::uint64_t{16} << 20;

/// The mark of each document's root node, in order. Throws YAML::ParserException for a syntax
/// error, including where LoadAll() would loop, and for a document over kMaxExpandedNodes or
/// kMaxExpandedBytes, at the node where the count went over, and for an alias inside the node it
/// refers to (a cycle).
std::vector<YAML::Mark> document_roots(const std::string& yaml);

}  // namespace clusterd::config
