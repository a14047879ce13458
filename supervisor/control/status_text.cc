// `clusterctl status --json`: the status member of a reply, pretty-printed as it is parsed. The
// reply of 1,024 workers is ~210 KB; building its document (an ordered_json of 25,000 keys) and
// dumping it again took most of the client's time. Here the library's parser hands each token to
// a printer that writes it at once, in exactly the form `dump(2)` of the document would have
// (tests/unit/protocol_test.cc compares the two): numbers as they were written, strings escaped
// by the library's serializer. (status_decode.cc does the same for the table.)
#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/control/protocol.h"

namespace clusterd::control {

namespace {

using json = nlohmann::ordered_json;

class StatusPrinter : public nlohmann::json_sax<json> {
 public:
  bool ok = false;
  bool found = false;  // the status member was an object
  std::string out;

  bool null() override { return scalar("null"); }
  bool boolean(bool value) override {
    if (depth_ == 1 && key_ == "ok") ok = value;
    return scalar(value ? "true" : "false");
  }
  bool number_integer(number_integer_t value) override { return number(value); }
  bool number_unsigned(number_unsigned_t value) override { return number(value); }
  bool number_float(number_float_t, const string_t& text) override { return scalar(text); }
  bool string(string_t& value) override {
    if (printing()) {
      separate();
      quote(value);
    }
    return true;
  }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open('{'); }
  bool end_object() override { return close('}'); }
  bool start_array(std::size_t) override { return open('['); }
  bool end_array() override { return close(']'); }
  bool key(string_t& name) override {
    if (depth_ == 1) {
      key_ = name;
      // A line that more lines follow (progress, a record): not a status reply's last.
      if (key_ == "progress" || key_ == "log" || key_ == "event") return false;
    }
    if (printing()) {
      separate();
      quote(name);
      out += ": ";
      value_after_key_ = true;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  // Inside the status member: its own object is at depth 2.
  bool printing() const { return in_status_ && depth_ >= 2; }
  void separate() {
    if (value_after_key_) {
      value_after_key_ = false;
      return;
    }
    if (firsts_.empty()) return;
    if (!firsts_.back()) out += ',';
    firsts_.back() = false;
    out += '\n';
    out.append(2 * firsts_.size(), ' ');
  }
  // A string as the serializer writes it: most need no escape (the parser checked the UTF-8,
  // which is written as it is); the others go through the serializer itself.
  void quote(const std::string& text) {
    const bool plain = std::none_of(text.begin(), text.end(), [](char c) {
      return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
    });
    if (!plain) {
      out += json(text).dump(-1, ' ', false, json::error_handler_t::replace);
      return;
    }
    out += '"';
    out += text;
    out += '"';
  }
  template <typename T>
  bool number(T value) {
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
    return scalar(std::string_view(digits, static_cast<std::size_t>(end - digits)));
  }
  bool scalar(std::string_view text) {
    if (printing()) {
      separate();
      out += text;
    }
    return true;
  }
  bool open(char bracket) {
    if (depth_ == 1 && key_ == "status" && bracket == '{') in_status_ = found = true;
    ++depth_;
    if (printing()) {
      separate();
      out += bracket;
      firsts_.push_back(true);
    }
    return true;
  }
  bool close(char bracket) {
    if (printing()) {
      const bool empty = firsts_.back();
      firsts_.pop_back();
      if (!empty) {
        out += '\n';
        out.append(2 * firsts_.size(), ' ');
      }
      out += bracket;
    }
    --depth_;
    if (depth_ == 1) in_status_ = false;
    return true;
  }

  int depth_ = 0;
  std::string key_;         // the envelope's key being read
  bool in_status_ = false;  // inside the envelope's "status" member
  bool value_after_key_ = false;
  std::vector<bool> firsts_;  // per open container: nothing in it yet
};

}  // namespace

std::optional<std::string> reply_status_json(const std::string& line) {
  StatusPrinter printer;
  if (!json::sax_parse(line, &printer) || !printer.ok || !printer.found) return std::nullopt;
  return std::move(printer.out);
}

}  // namespace clusterd::control
