// The control protocol's requests: one JSON object per line, checked field by field against the
// verb's entry in the command table (commands.h): the arguments it takes (one decoder and one
// encoder per Arg, side by side), and nothing else. The replies are in protocol.cc.
#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "supervisor/control/protocol.h"

namespace clusterd::control {

using json = nlohmann::ordered_json;

const CommandSpec* find_command(std::string_view name) {
  for (const CommandSpec& spec : kCommands) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

const char* to_string(Role role) { return role == Role::Admin ? "admin" : "read"; }

namespace {

std::string line(const json& document) {
  return document.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::optional<unsigned> get_count(const json& request, const char* key, unsigned max) {
  if (!request.contains(key)) return std::nullopt;
  const json& value = request[key];
  if (!value.is_number_integer()) {
    throw ProtocolError(std::string("'") + key + "' must be a non-negative integer");
  }
  const auto number = value.get<long long>();
  if (number < 0 || number > static_cast<long long>(max)) {
    throw ProtocolError(std::string("'") + key + "' must be between 0 and " + std::to_string(max));
  }
  return static_cast<unsigned>(number);
}

// scale: "instances" (a count or "auto") or "delta" (a change of the count), one of them.
void scale_fields(const json& request, Request& out) {
  if (request.contains("instances") && request["instances"] == "auto") {
    out.instances_auto = true;
  } else {
    out.instances = get_count(request, "instances", kMaxInstances);
  }
  if (const auto delta = request.find("delta"); delta != request.end()) {
    constexpr auto limit = static_cast<std::int64_t>(kMaxInstances);
    // An unsigned JSON number read as signed would wrap: 18446744073709551615 is not -1.
    const std::int64_t n = delta->is_number_unsigned()
                               ? static_cast<std::int64_t>(std::min<std::uint64_t>(
                                     delta->get<std::uint64_t>(), limit + 1))
                           : delta->is_number_integer() ? delta->get<std::int64_t>()
                                                        : 0;
    if (n == 0 || n < -limit || n > limit) {
      throw ProtocolError("'delta' must be a non-zero integer from -" + std::to_string(limit) +
                          " to " + std::to_string(limit));
    }
    out.delta = static_cast<int>(n);
  }
  if (out.delta && (out.instances || out.instances_auto)) {
    throw ProtocolError("'instances' and 'delta' exclude each other: give one");
  }
  if (!out.delta && !out.instances && !out.instances_auto) {
    throw ProtocolError("missing field 'instances' (or 'delta') for scale");
  }
}

bool get_bool(const json& request, const char* key, bool absent) {
  if (!request.contains(key)) return absent;
  if (!request[key].is_boolean())
    throw ProtocolError(std::string("'") + key + "' must be true or false");
  return request[key].get<bool>();
}

// One decoder and one encoder per Arg, side by side: a verb's entry in kCommands says which run.
void decode_arg(Arg arg, const json& request, Request& out) {
  switch (arg) {
    case Arg::Scale:
      scale_fields(request, out);
      return;
    case Arg::Worker:
      out.worker = get_count(request, "worker", 65535);
      return;
    case Arg::Wait:
      out.wait = get_bool(request, "wait", true);
      return;
    case Arg::History:
      out.lines = get_count(request, "lines", 1000000);
      if (const std::optional<unsigned> since = get_count(request, "since_s", 100U * 365 * 86400)) {
        out.since_ms = static_cast<std::uint64_t>(*since) * 1000;
      }
      out.follow = get_bool(request, "follow", false);
      return;
    case Arg::Detail:
      out.detail = get_bool(request, "detail", false);
      return;
    case Arg::Binary:
      if (request.contains("binary")) {
        const json& binary = request["binary"];
        if (!binary.is_string() || binary.get<std::string>().empty() ||
            binary.get<std::string>().front() != '/' || binary.get<std::string>().size() > 4096 ||
            binary.get<std::string>().find('\0') != std::string::npos) {
          throw ProtocolError("'binary' must be an absolute path");
        }
        out.binary = binary.get<std::string>();
      }
      return;
    case Arg::Env:
      out.env = get_bool(request, "env", false);
      return;
  }
}

void encode_arg(Arg arg, const Request& request, json& j) {
  switch (arg) {
    case Arg::Scale:
      if (request.instances) j["instances"] = *request.instances;
      if (request.instances_auto) j["instances"] = "auto";
      if (request.delta) j["delta"] = *request.delta;
      return;
    case Arg::Worker:
      if (request.worker) j["worker"] = *request.worker;
      return;
    case Arg::Wait:
      j["wait"] = request.wait;
      return;
    case Arg::History:
      if (request.lines) j["lines"] = *request.lines;
      if (request.since_ms) j["since_s"] = (*request.since_ms + 999) / 1000;
      if (request.follow) j["follow"] = true;
      return;
    case Arg::Detail:
      if (request.detail) j["detail"] = true;
      return;
    case Arg::Binary:
      if (request.binary) j["binary"] = *request.binary;
      return;
    case Arg::Env:
      if (request.env) j["env"] = true;
      return;
  }
}

}  // namespace

Request decode_request(std::string_view text) {
  json request;
  try {
    request = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for 1e999
    throw ProtocolError(std::string("invalid JSON: ") + e.what());
  }
  if (!request.is_object()) throw ProtocolError("a request must be a JSON object");
  const auto cmd = request.find("cmd");
  if (cmd == request.end()) throw ProtocolError("missing field 'cmd'");
  if (!cmd->is_string()) throw ProtocolError("'cmd' must be a string");
  const CommandSpec* info = find_command(cmd->get<std::string>());
  if (info == nullptr) {
    std::string known;
    for (const CommandSpec& c : kCommands) {
      known += std::string(known.empty() ? "" : ", ") + std::string(c.name);
    }
    throw ProtocolError("unknown command '" + cmd->get<std::string>() + "'; expected one of " +
                        known);
  }
  // A field the verb does not take is an error, not silently ignored: a client that sends it
  // means something the daemon would not do.
  for (const auto& [key, value] : request.items()) {
    bool known = key == "cmd" || key == "v" || (key == "app" && info->app != AppArg::None);
    for (const Arg arg : kArgs) {
      if (!info->args.has(arg)) continue;
      for (const std::string_view field : wire_names(arg)) known = known || key == field;
    }
    if (!known) {
      throw ProtocolError("'" + std::string(key) + "' is not a field of " +
                          std::string(info->name));
    }
  }
  Request out;
  out.command = info->command;
  if (request.contains("app")) {
    if (!request["app"].is_string()) throw ProtocolError("'app' must be a string");
    out.app = request["app"].get<std::string>();
  }
  for (const Arg arg : kArgs) {
    if (info->args.has(arg)) decode_arg(arg, request, out);
  }
  if (info->app == AppArg::Required && !out.app) {
    throw ProtocolError("missing field 'app' for " + std::string(info->name));
  }
  return out;
}

std::string encode_request(const Request& request) {
  const CommandSpec& spec = spec_of(request.command);
  json j{{"cmd", spec.name}};
  if (request.app) j["app"] = *request.app;
  for (const Arg arg : kArgs) {
    if (spec.args.has(arg)) encode_arg(arg, request, j);
  }
  return line(j);
}

}  // namespace clusterd::control
