// core/last_words.h: of a worker's last lines, the one that says why it ended.
#include "supervisor/core/last_words.h"

#include <catch2/catch.hpp>

using clusterd::core::last_words;
using clusterd::core::OutputLine;

namespace {
std::vector<OutputLine> err_lines(std::initializer_list<const char*> lines) {
  std::vector<OutputLine> out;
  for (const char* l : lines) out.push_back({true, l});
  return out;
}
}  // namespace

TEST_CASE("last words: the line that says why, from real runtimes' deaths") {
  // Node 20, a missing module: the cause is in the middle, a version line last.
  CHECK(last_words(err_lines(
            {"node:internal/modules/cjs/loader:1080", "  throw err;", "  ^", "",
             "Error: Cannot find module 'express'", "Require stack:", "- /srv/app/server.js",
             "    at Module._resolveFilename (node:internal/modules/cjs/"
             "loader:1077:15)",
             "    at Module._load (node:internal/modules/cjs/loader:922:27)", "{",
             "  code: 'MODULE_NOT_FOUND',", "  requireStack: [ '/srv/app/server.js' ]", "}", "",
             "Node.js v20.20.2"})) == "Error: Cannot find module 'express'");
  // Python: the exception's line comes last.
  CHECK(last_words(err_lines(
            {"Traceback (most recent call last):", "  File \"/srv/app.py\", line 1, in <module>",
             "    import flask", "ModuleNotFoundError: No module named 'flask'"})) ==
        "ModuleNotFoundError: No module named 'flask'");
  // Go: a panic, then its goroutine's stack.
  CHECK(last_words(err_lines({"panic: DB_URL not set", "", "goroutine 1 [running]:", "main.main()",
                              "\t/srv/main.go:12 +0x1d", "exit status 2"})) ==
        "panic: DB_URL not set");
  // Nothing reads like an error: the last stderr line; else the last line.
  CHECK(last_words(err_lines({"starting", "bye"})) == "bye");
  CHECK(last_words({{false, "listening on 8080"}, {false, "shutting down"}}) == "shutting down");
  // An error on stdout says more than a plain stderr line; an error on stderr more than both.
  CHECK(last_words({{false, "error on stdout"}, {true, "a plain stderr line"}}) ==
        "error on stdout");
  CHECK(last_words({{true, "fatal: on stderr"}, {false, "error on stdout"}}) == "fatal: on stderr");
  CHECK(last_words({}).empty());
  CHECK(last_words(err_lines({"", "   "})).empty());
}

TEST_CASE("last words: escaped and bounded, whatever a worker wrote") {
  CHECK(last_words(err_lines({"Error: \x1b]0;owned\x07 \x9b"
                              "2J"})) == "Error: \\x1b]0;owned\\x07 \\x9b2J");
  const std::string flood(10000, 'x');
  const std::string words = last_words({{true, "error " + flood}});
  CHECK(words.size() <= clusterd::core::kLastWordsMax + 3);
  CHECK(words.substr(words.size() - 3) == "...");
}
