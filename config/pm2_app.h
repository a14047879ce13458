// The parts of the PM2 import (pm2_import.h) shared by its files: the YAML it writes, as a plain
// tree emitted at the end, and the conversion of one app. Not a public header.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/pm2_import.h"

namespace clusterd::config::pm2 {

/// A value of the config written out: a scalar (plain, or always in double quotes), a sequence
/// (on one line, or one item a line) or a map, in the order built.
struct Out {
  enum class Kind { Plain, Quoted, Flow, Block, Map };
  Kind kind = Kind::Plain;
  std::string text;
  std::vector<Out> items;
  // A map's keys and values, side by side (a pair holding an Out would need Out complete here).
  std::vector<std::string> keys;
  std::vector<Out> values;

  static Out plain(std::string text);
  static Out quoted(std::string text);
  static Out flow(const std::vector<std::string>& items);
  static Out map();
  Out& add(std::string key, Out value);
};

inline Out Out::plain(std::string text) {
  Out out;
  out.text = std::move(text);
  return out;
}
inline Out Out::quoted(std::string text) {
  Out out;
  out.kind = Kind::Quoted;
  out.text = std::move(text);
  return out;
}
inline Out Out::map() {
  Out out;
  out.kind = Kind::Map;
  return out;
}

/// Writes `out` to `emitter`.
void emit(YAML::Emitter& emitter, const Out& out);

/// What PM2 runs an app's script with: from `interpreter`, else the script's extension.
struct Interpreter {
  std::string program;  // empty: none (the script is the program)
  bool node = false;
};

/// One app of the ecosystem file into the app of a config; notes every key it was given.
class AppImport {
 public:
  AppImport(const YAML::Node& app, std::string name, std::string directory,
            std::vector<ImportNote>& notes);
  /// The app's map; nullopt (noted) when it cannot run (no script).
  std::optional<Out> run();

 private:
  // pm2_import.cc: reading PM2's values.
  std::optional<YAML::Node> find(std::string_view key) const;
  std::optional<std::string> text(std::string_view key);                // a scalar other than null
  std::optional<std::vector<std::string>> words(std::string_view key);  // a string or a list
  std::optional<bool> flag(std::string_view key);
  std::optional<std::string> duration(std::string_view key);  // ms, or 5s, 2m, 1h
  void note(std::string_view key, ImportNote::Kind kind, std::string text);
  void unsupported(std::string_view key, std::string why);
  void rest();
  // pm2_keys.cc: one group of keys each, written into out_.
  bool command();
  Interpreter interpreter(const std::string& script);
  void cwd();
  void instances();
  void readiness();
  void restarts();
  void backoff();
  void memory_and_schedule();
  void watch();
  void logs();
  void identity_and_env();
  void increment_var();
  std::string path_of(const std::string& path) const;  // relative -> from the cwd

  const YAML::Node& app_;
  std::string name_;
  std::string directory_;
  std::vector<ImportNote>& notes_;
  std::set<std::string> seen_;  // keys already noted
  Out out_ = Out::map();
  std::string cwd_;       // where the app runs
  bool node_ = false;     // the interpreter is node
  bool cluster_ = false;  // PM2 cluster mode: adopt: all
};

}  // namespace clusterd::config::pm2
