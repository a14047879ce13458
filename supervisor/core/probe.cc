#include "supervisor/core/probe.h"

#include <algorithm>
#include <cctype>

namespace clusterd::core {

namespace {

// At most 80 printable characters of what a server sent, for a message.
std::string shown(const std::string& bytes) {
  std::string out;
  for (char c : bytes) {
    if (out.size() >= 80) {
      out += "...";
      break;
    }
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  return out;
}

// "HTTP/1.1 503 Service Unavailable" -> 503; nullopt for anything else.
std::optional<int> status_of(const std::string& head) {
  const std::string line = head.substr(0, head.find("\r\n"));
  if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || line[8] != ' ') return std::nullopt;
  if (!std::all_of(line.begin() + 9, line.begin() + 12,
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  if (line.size() > 12 && line[12] != ' ') return std::nullopt;
  return std::stoi(line.substr(9, 3));
}

}  // namespace

std::optional<config::Address> probe_target(const config::AppSpec& spec, unsigned index) {
  if (!config::probed(spec.ready)) return std::nullopt;
  for (const config::ListenerSpec& l : spec.listeners) {
    if (l.name == spec.probe.listener) return config::worker_address(l, index);
  }
  return std::nullopt;
}

std::string probe_request(const config::AppSpec& spec, const config::Address& target) {
  if (spec.ready != config::ReadyMode::Http) return {};
  return spec.probe.method + " " + spec.probe.path + " HTTP/1.1\r\nHost: " + target.text +
         "\r\nConnection: close\r\n\r\n";
}

ProbeResult judge_probe(const config::AppSpec& spec, const ProbeReply& reply) {
  const std::string what =
      spec.ready == config::ReadyMode::Http ? spec.probe.method + " " + spec.probe.path : "tcp";
  const std::string limit = std::to_string(probe_limit(spec).count()) + "ms";
  switch (reply.kind) {
    case ProbeReply::Kind::Connected:
      return {true, {}};
    case ProbeReply::Kind::ConnectFailed:
      return {false, "connect: " + reply.error};
    case ProbeReply::Kind::ConnectTimeout:
      return {false, "connect: no answer within " + limit};
    case ProbeReply::Kind::NoAnswer:
      return {false, what + ": no status line within " + limit};
    case ProbeReply::Kind::IoFailed:
      return {false, what + ": " + reply.error};
    case ProbeReply::Kind::Answered:
      break;
  }
  if (spec.ready != config::ReadyMode::Http) return {true, {}};
  if (reply.head.empty()) return {false, what + ": closed without an answer"};
  const std::optional<int> status = status_of(reply.head);
  if (!status) return {false, what + ": not an HTTP status line: \"" + shown(reply.head) + "\""};
  if (*status >= 200 && *status < 400) return {true, {}};
  return {false, what + ": " + std::to_string(*status)};
}

config::Duration probe_limit(const config::AppSpec& spec) {
  return spec.probe.interval - spec.probe.interval / 10;
}

}  // namespace clusterd::core
