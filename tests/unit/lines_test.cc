// text/: the line splitter that cuts worker output, and the journal's native field encoding.
#include "text/lines.h"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "text/journal_fields.h"

namespace {

struct Collected {
  std::vector<std::pair<std::string, bool>> lines;
  void operator()(std::string_view line, bool cut) { lines.emplace_back(std::string(line), cut); }
};

using Lines = std::vector<std::pair<std::string, bool>>;

}  // namespace

TEST_CASE("lines: complete lines come out whole, partial ones when their newline arrives") {
  clusterd::LineSplitter split(100);
  Collected got;
  split.feed("one\ntw", std::ref(got));
  CHECK(got.lines == Lines{{"one", false}});
  CHECK(split.held() == 2);
  split.feed("o\n\nthree", std::ref(got));
  CHECK(got.lines == Lines{{"one", false}, {"two", false}, {"", false}});
  split.finish(std::ref(got));
  CHECK(got.lines.back() == std::pair<std::string, bool>{"three", false});
  CHECK(split.held() == 0);
}

TEST_CASE("lines: a line longer than line_max goes out in pieces, all but the last marked cut") {
  clusterd::LineSplitter split(4);
  Collected got;
  split.feed("abcdefghij\nxy", std::ref(got));
  CHECK(got.lines == Lines{{"abcd", true}, {"efgh", true}, {"ij", false}});
  split.feed("zw", std::ref(got));  // exactly line_max held: not cut until the next byte says
  CHECK(split.held() == 4);
  split.feed("\n", std::ref(got));
  CHECK(got.lines.back() == std::pair<std::string, bool>{"xyzw", false});
  split.feed("12345", std::ref(got));
  CHECK(got.lines.back() == std::pair<std::string, bool>{"1234", true});
  CHECK(split.held() == 1);
}

TEST_CASE("lines: megabytes without a newline never hold more than line_max") {
  clusterd::LineSplitter split(16 * 1024);
  Collected got;
  const std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 32; ++i) {
    split.feed(chunk, std::ref(got));
    CHECK(split.held() <= 16 * 1024);
  }
  std::size_t total = 0;
  for (const auto& [text, cut] : got.lines) {
    total += text.size();
    CHECK(cut);
  }
  CHECK(total + split.held() == 32 * chunk.size());
}

TEST_CASE("lines: binary bytes and NULs pass through as they are") {
  clusterd::LineSplitter split(100);
  Collected got;
  const std::string binary("a\0b\xff\x1b[31m\n", 10);
  split.feed(binary, std::ref(got));
  REQUIRE(got.lines.size() == 1);
  CHECK(got.lines[0].first == binary.substr(0, 9));
}

TEST_CASE("journal fields: plain NAME=value, and the length-prefixed form for a newline") {
  std::string entry;
  clusterd::add_journal_field(entry, "MESSAGE", "hello");
  CHECK(entry == "MESSAGE=hello\n");
  entry.clear();
  clusterd::add_journal_field(entry, "MESSAGE", "a\nb");
  CHECK(entry == std::string("MESSAGE\n\x03\0\0\0\0\0\0\0a\nb\n", 20));
}
