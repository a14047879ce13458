#include "config/yaml_documents.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <sstream>
#include <utility>

namespace clusterd::config {

namespace {

// Builds nothing; notes where each document's root node is, and stops when a document starts
// where the previous one did (no progress: where LoadAll() would loop). It also counts what a
// walk of the document visits, an alias counting as the whole subtree it stands for: nodes, and
// bytes of scalars. It stops past kMaxExpandedNodes or kMaxExpandedBytes: a few kilobytes of
// nested aliases ("billion laughs") would otherwise make the walk visit billions of nodes, and a
// long scalar behind a few thousand aliases would make it copy gigabytes.
struct DocumentCounter : YAML::EventHandler {
  struct Size {
    std::uint64_t nodes = 0;
    std::uint64_t bytes = 0;
  };
  std::vector<YAML::Mark> roots;  // each document's root node (what LoadAll's nodes report)
  YAML::Mark start;               // where the current document started
  bool stuck = false;
  bool in_root = false;
  Size expanded;                                      // so far, aliases expanded
  std::vector<std::pair<YAML::anchor_t, Size>> open;  // collections: anchor, size so far
  std::map<YAML::anchor_t, Size> anchored;            // the size of each anchored node

  void OnDocumentStart(const YAML::Mark& m) override {
    if (!roots.empty() && m.pos == start.pos) stuck = true;
    start = m;
    in_root = true;
  }
  void OnDocumentEnd() override {}
  void node(const YAML::Mark& m, Size size) {
    if (in_root) roots.push_back(m);
    in_root = false;
    expanded.nodes += size.nodes;
    expanded.bytes += size.bytes;
    if (!open.empty()) {
      open.back().second.nodes += size.nodes;
      open.back().second.bytes += size.bytes;
    }
    if (expanded.nodes > kMaxExpandedNodes) {
      throw YAML::ParserException(m, "the document expands to more than " +
                                         std::to_string(kMaxExpandedNodes) +
                                         " nodes through its aliases");
    }
    if (expanded.bytes > kMaxExpandedBytes) {
      throw YAML::ParserException(m, "the document expands to more than " +
                                         std::to_string(kMaxExpandedBytes) +
                                         " bytes of text through its aliases");
    }
  }
  void leaf(const YAML::Mark& m, YAML::anchor_t anchor, std::uint64_t bytes) {
    if (anchor != 0) anchored[anchor] = Size{1, bytes};
    node(m, Size{1, bytes});
  }
  void OnNull(const YAML::Mark& m, YAML::anchor_t anchor) override { leaf(m, anchor, 0); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t anchor) override {
    // yaml-cpp makes an alias inside the node it names a cycle: `&a {x: *a}` contains itself,
    // and a walk that follows the schema would go around it at every level it descends.
    for (const auto& [open_anchor, size] : open) {
      if (open_anchor == anchor) {
        throw YAML::ParserException(m,
                                    "an alias inside the node it refers to (a recursive "
                                    "document) is not supported");
      }
    }
    const auto it = anchored.find(anchor);
    node(m, it == anchored.end() ? Size{1, 0} : it->second);
  }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    leaf(m, anchor, value.size());
  }
  void begin(const YAML::Mark& m, YAML::anchor_t anchor) {
    node(m, Size{1, 0});
    open.emplace_back(anchor, Size{1, 0});
  }
  void end() {
    if (open.empty()) return;
    const auto [anchor, size] = open.back();
    open.pop_back();
    if (anchor != 0) anchored[anchor] = size;
    if (!open.empty()) {  // its own node was added at its start
      open.back().second.nodes += size.nodes - 1;
      open.back().second.bytes += size.bytes;
    }
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    begin(m, anchor);
  }
  void OnSequenceEnd() override { end(); }
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    begin(m, anchor);
  }
  void OnMapEnd() override { end(); }
};

}  // namespace

std::vector<YAML::Mark> document_roots(const std::string& yaml) {
  std::istringstream in{yaml};
  YAML::Parser parser(in);
  DocumentCounter counter;
  while (!counter.stuck && parser.HandleNextDocument(counter)) {
  }
  if (counter.stuck) throw YAML::ParserException(counter.start, "unexpected token");
  return std::move(counter.roots);
}

}  // namespace clusterd::config
