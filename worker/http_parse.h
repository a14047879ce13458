// A minimal HTTP/1.x request-head parser for hello-worker: pure, allocation-free, header-only, so
// it can be unit-tested on strings. It parses one request head (request line, header fields, empty
// line) at the start of a buffer and extracts only what a keep-alive server needs to frame the
// stream: method, target, version, Content-Length, Connection and Expect. Bare LF line endings are
// accepted as well as CRLF; empty lines before a request line are skipped (RFC 9112 2.2).
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace clusterd::http {

enum class Method { kGet, kHead, kOther };

struct Request {
  Method method = Method::kOther;
  std::string_view target;  // points into the parsed buffer
  bool http10 = false;
  bool keep_alive = true;  // version default, then Connection: close / keep-alive applied
  bool expect_continue = false;
  std::uint64_t content_length = 0;
};

enum class ParseStatus { kComplete, kIncomplete, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kIncomplete;
  std::size_t consumed = 0;  // length of the head including the empty line, when kComplete
  int error = 0;             // HTTP status to answer (400, 501, 505), when kError
  Request request;
};

namespace detail {

inline bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

inline bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Applies fn to every comma-separated, trimmed, non-empty element of a list-valued field.
template <typename Fn>
void for_each_element(std::string_view value, Fn fn) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view item = trim(value.substr(0, comma));
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace detail

namespace detail {

// request-line = method SP request-target SP HTTP-version. Returns 0, or the status to fail with.
inline int parse_request_line(std::string_view line, Request& req) {
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return 400;
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || target.empty()) return 400;
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') return 400;
  }
  if (version == "HTTP/1.1") {
    req.http10 = false;
  } else if (version == "HTTP/1.0") {
    req.http10 = true;
  } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/" && version[6] == '.' &&
             version[5] >= '0' && version[5] <= '9' && version[7] >= '0' && version[7] <= '9') {
    return 505;
  } else {
    return 400;
  }
  req.method = method == "GET" ? Method::kGet : method == "HEAD" ? Method::kHead : Method::kOther;
  req.target = target;
  return 0;
}

// What the header lines said about framing and the connection.
struct Headers {
  bool have_length = false;
  bool close = false;
  bool keep_alive = false;
};

// One header line. Returns 0, or the status to fail with.
inline int parse_header(std::string_view line, Request& req, Headers& seen) {
  if (line.front() == ' ' || line.front() == '\t') return 400;  // obsolete line folding
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return 400;
  const std::string_view name = line.substr(0, colon);
  const std::string_view value = trim(line.substr(colon + 1));
  if (!is_token(name)) return 400;
  for (char c : value) {
    if ((static_cast<unsigned char>(c) < ' ' && c != '\t') || c == '\x7f') return 400;
  }
  if (iequals(name, "content-length")) {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size()) return 400;
    if (seen.have_length && n != req.content_length) return 400;
    seen.have_length = true;
    req.content_length = n;
  } else if (iequals(name, "transfer-encoding")) {
    return req.http10 ? 400 : 501;  // chunked bodies are not supported
  } else if (iequals(name, "connection")) {
    for_each_element(value, [&](std::string_view token) {
      if (iequals(token, "close")) seen.close = true;
      if (iequals(token, "keep-alive")) seen.keep_alive = true;
    });
  } else if (iequals(name, "expect")) {
    req.expect_continue = iequals(value, "100-continue");
  }
  return 0;
}

}  // namespace detail

/// Parses the request head at the start of `data`. kIncomplete means "need more bytes" (the caller
/// enforces the size limit); kError means the stream cannot be framed and must be closed.
inline ParseResult parse_request(std::string_view data) {
  using namespace detail;
  ParseResult r;
  std::size_t pos = 0;
  // Returns false when no complete line is left; a line excludes its CRLF or LF.
  auto next_line = [&](std::string_view& line) {
    const std::size_t nl = data.find('\n', pos);
    if (nl == std::string_view::npos) return false;
    line = data.substr(pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    return true;
  };
  auto fail = [&](int status) {
    r.status = ParseStatus::kError;
    r.error = status;
    return r;
  };
  std::string_view line;
  do {
    if (!next_line(line)) return r;
  } while (line.empty());
  Request& req = r.request;
  if (const int status = parse_request_line(line, req)) return fail(status);
  Headers seen;
  for (;;) {
    if (!next_line(line)) return r;  // kIncomplete
    if (line.empty()) break;
    if (const int status = parse_header(line, req, seen)) return fail(status);
  }
  req.keep_alive = !seen.close && (!req.http10 || seen.keep_alive);
  r.status = ParseStatus::kComplete;
  r.consumed = pos;
  return r;
}

}  // namespace clusterd::http
