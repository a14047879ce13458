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
// where the previous one did (no progress: where LoadAll() would loop). It also counts the nodes
// a walk of the document visits, an alias counting as the whole subtree it stands for, and
// stops past kMaxExpandedNodes: a few kilobytes of nested aliases ("billion laughs") would
// otherwise make the walk visit billions of nodes.
struct DocumentCounter : YAML::EventHandler {
  std::vector<YAML::Mark> roots;  // each document's root node (what LoadAll's nodes report)
  YAML::Mark start;               // where the current document started
  bool stuck = false;
  bool in_root = false;
  std::uint64_t expanded = 0;                                  // nodes so far, aliases expanded
  std::vector<std::pair<YAML::anchor_t, std::uint64_t>> open;  // collections: anchor, size so far
  std::map<YAML::anchor_t, std::uint64_t> anchored;            // the size of each anchored node

  void OnDocumentStart(const YAML::Mark& m) override {
    if (!roots.empty() && m.pos == start.pos) stuck = true;
    start = m;
    in_root = true;
  }
  void OnDocumentEnd() override {}
  void node(const YAML::Mark& m, std::uint64_t size) {
    if (in_root) roots.push_back(m);
    in_root = false;
    expanded += size;
    if (!open.empty()) open.back().second += size;
    if (expanded > kMaxExpandedNodes) {
      throw YAML::ParserException(m, "the document expands to more than " +
                                         std::to_string(kMaxExpandedNodes) +
                                         " nodes through its aliases");
    }
  }
  void leaf(const YAML::Mark& m, YAML::anchor_t anchor) {
    if (anchor != 0) anchored[anchor] = 1;
    node(m, 1);
  }
  void OnNull(const YAML::Mark& m, YAML::anchor_t anchor) override { leaf(m, anchor); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t anchor) override {
    const auto it = anchored.find(anchor);
    node(m, it == anchored.end() ? 1 : it->second);
  }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    leaf(m, anchor);
  }
  void begin(const YAML::Mark& m, YAML::anchor_t anchor) {
    node(m, 1);
    open.emplace_back(anchor, 1);
  }
  void end() {
    if (open.empty()) return;
    const auto [anchor, size] = open.back();
    open.pop_back();
    if (anchor != 0) anchored[anchor] = size;
    if (!open.empty()) open.back().second += size - 1;  // its own 1 was added at its start
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
