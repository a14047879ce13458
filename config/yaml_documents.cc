#include "config/yaml_documents.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>

namespace clusterd::config {

namespace {

// Builds nothing; notes where each document's root node is, and stops when a document starts
// where the previous one did (no progress: where LoadAll() would loop).
struct DocumentCounter : YAML::EventHandler {
  std::vector<YAML::Mark> roots;  // each document's root node (what LoadAll's nodes report)
  YAML::Mark start;               // where the current document started
  bool stuck = false;
  bool in_root = false;
  void OnDocumentStart(const YAML::Mark& m) override {
    if (!roots.empty() && m.pos == start.pos) stuck = true;
    start = m;
    in_root = true;
  }
  void OnDocumentEnd() override {}
  void node(const YAML::Mark& m) {
    if (in_root) roots.push_back(m);
    in_root = false;
  }
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                const std::string&) override {
    node(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    node(m);
  }
  void OnMapEnd() override {}
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
