#include "config/walker.h"

#include <algorithm>
#include <unordered_map>

#include "config/values.h"

namespace clusterd::config {
namespace {

constexpr std::string_view kCoreTag = "tag:yaml.org,2002:";

bool digits_in(std::string_view text, std::string_view allowed) {
  return !text.empty() && text.find_first_not_of(allowed) == std::string_view::npos;
}

// The YAML 1.2 core schema's forms of each type (yaml.org/spec/1.2.2, 10.3.2), by hand: a regex
// engine that recurses would overflow the stack on a long hostile scalar.
bool core_int(std::string_view s) {
  if (s.starts_with("0o")) return digits_in(s.substr(2), "01234567");
  if (s.starts_with("0x")) return digits_in(s.substr(2), "0123456789abcdefABCDEF");
  if (s.starts_with("-") || s.starts_with("+")) s.remove_prefix(1);
  return digits_in(s, "0123456789");
}

bool core_float(std::string_view s) {
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return true;
  if (s.starts_with("-") || s.starts_with("+")) s.remove_prefix(1);
  if (s == ".inf" || s == ".Inf" || s == ".INF") return true;
  auto digits = [&](std::size_t& i) {
    const std::size_t from = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - from;
  };
  std::size_t i = 0;
  std::size_t mantissa = digits(i);
  if (i < s.size() && s[i] == '.') mantissa += digits(++i);
  if (mantissa == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (digits(i) == 0) return false;
  }
  return i == s.size();
}

bool one_of_words(std::string_view s, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), s) != words.end();
}

// Why `node`'s tag is refused, or an empty string. Untagged nodes ("?") and the non-specific
// tag of a quoted scalar ("!") are what they are; an explicit tag must be one of the core
// schema's and fit the node. Anything else (`!!python/object`, `!custom`) would be taken as text
// by a walk that only reads strings, so it is refused rather than silently ignored.
std::string tag_problem(const YAML::Node& node) {
  const std::string& tag = node.Tag();
  if (tag.empty() || tag == "?" || tag == "!") return {};
  const bool core = tag.starts_with(kCoreTag);
  const std::string_view name = core ? std::string_view(tag).substr(kCoreTag.size()) : "";
  const std::string shown = core ? "!!" + std::string(name) : tag;
  const std::string_view scalar = node.IsScalar() ? std::string_view(node.Scalar()) : "";
  bool fits = false;
  if (name == "map") {
    fits = node.IsMap();
  } else if (name == "seq") {
    fits = node.IsSequence();
  } else if (name == "str" || name == "int" || name == "float" || name == "bool" ||
             name == "null") {
    fits = node.IsScalar() &&
           (name == "str" || (name == "int" && core_int(scalar)) ||
            (name == "float" && core_float(scalar)) ||
            (name == "bool" &&
             one_of_words(scalar, {"true", "True", "TRUE", "false", "False", "FALSE"})) ||
            (name == "null" && one_of_words(scalar, {"", "~", "null", "Null", "NULL"})));
  } else {
    return "unsupported tag " + quoted(shown) +
           "; only !!str, !!int, !!float, !!bool, !!null, !!seq and !!map are accepted";
  }
  if (fits) return {};
  const std::string what = node.IsScalar()     ? quoted(scalar)
                           : node.IsMap()      ? std::string("a map")
                           : node.IsSequence() ? std::string("a sequence")
                                               : std::string("nothing");
  return "tag " + shown + " does not fit " + what;
}

}  // namespace

std::string join(const std::string& path, std::string_view key) {
  const std::string shown =
      key.size() <= kQuotedMax ? std::string(key) : std::string(key.substr(0, kQuotedMax)) + "...";
  return path.empty() ? shown : path + "." + shown;
}

// A node as the walk reads it: yaml-cpp keeps a node tagged !!null as a scalar ("~", "").
// Never assigned to a Node of the document: yaml-cpp's Node::operator= rewrites the node itself.
YAML::Node as_read(const YAML::Node& node) {
  return node.Tag() == std::string(kCoreTag) + "null" ? YAML::Node(YAML::NodeType::Null) : node;
}

bool Walker::tag_ok(const YAML::Node& node, Mark at, const std::string& path) {
  const std::string problem = tag_problem(node);
  if (problem.empty()) return true;
  error(at, path, problem);
  return false;
}

std::optional<Entry> Walker::item(const Entry& seq, const YAML::Node& node, std::size_t i) {
  std::string path = seq.path + "[" + std::to_string(i) + "]";
  const Mark at = mark_of(node, seq.value_at);
  if (!tag_ok(node, at, path)) return std::nullopt;
  return Entry{"", std::move(path), as_read(node), seq.value_at, at};
}

namespace {
bool wildcard(const Address& a) { return a.host == "0.0.0.0" || a.host == "::"; }
}  // namespace

// The same answers as a scan of addresses_conflict() in file order: a unix path conflicts with
// the same path, normalized; a port other than 0 with the same family and port where either side
// is the wildcard or both hosts are the same.
const Bound* BoundAddresses::conflict(const Address& address) const {
  if (address.family == Address::Family::Unix) {
    const auto it = paths_.find(normal_path(address.path));
    return it == paths_.end() ? nullptr : &all_[it->second];
  }
  if (address.port == 0) return nullptr;
  const auto it = ports_.find({static_cast<int>(address.family), address.port});
  if (it == ports_.end()) return nullptr;
  const Port& port = it->second;
  if (wildcard(address)) return &all_[port.first];
  std::optional<std::size_t> first = port.wildcard;
  if (const auto host = port.hosts.find(address.host); host != port.hosts.end()) {
    first = std::min(first.value_or(host->second), host->second);
  }
  return first ? &all_[*first] : nullptr;
}

void BoundAddresses::add(Bound bound) {
  const std::size_t index = all_.size();
  const Address& address = bound.address;
  if (address.family == Address::Family::Unix) {
    paths_.emplace(normal_path(address.path), index);
  } else if (address.port != 0) {
    Port& port =
        ports_.try_emplace({static_cast<int>(address.family), address.port}, Port{index, {}, {}})
            .first->second;
    if (wildcard(address) && !port.wildcard) port.wildcard = index;
    port.hosts.emplace(address.host, index);
  }
  all_.push_back(std::move(bound));
}

void Walker::missing(Mark at, const std::string& path) {
  if (!refused_.contains(path)) error(at, path, "required key is missing");
}

// yaml-cpp gives an implicit null (`key:` followed by a newline) the mark of whatever comes next,
// which may be the following line. Only trust a null's mark when it is spelled out.
Mark Walker::mark_of(const YAML::Node& node, Mark fallback) const {
  YAML::Mark m = node.Mark();
  if (m.line < 0 || m.column < 0) return fallback;
  if (node.IsNull()) {
    auto pos = static_cast<std::size_t>(m.pos);
    std::string_view rest = pos < source_.size() ? source_.substr(pos) : std::string_view();
    bool spelled = rest.starts_with("~") || rest.starts_with("null") || rest.starts_with("Null") ||
                   rest.starts_with("NULL");
    if (!spelled) return fallback;
  }
  return Mark{m.line + 1, m.column + 1};
}

std::optional<std::vector<Entry>> Walker::map_entries(
    const YAML::Node& node, Mark at, const std::string& path,
    std::initializer_list<std::string_view> allowed, Place place) {
  if (!node.IsMap()) {
    error(at, path, "expected a map");
    return std::nullopt;
  }
  std::vector<Entry> out;
  std::unordered_map<std::string, int> lines;  // each key seen: the line it was first defined at
  for (auto it = node.begin(); it != node.end(); ++it) {
    const Mark key_at = mark_of(it->first, at);
    if (!tag_ok(it->first, key_at, it->first.IsScalar() ? join(path, it->first.Scalar()) : path)) {
      continue;
    }
    if (!as_read(it->first).IsScalar()) {
      error(key_at, path, "expected a string key");
      continue;
    }
    std::string key = it->first.Scalar();
    std::string key_path = join(path, key);
    if (const auto first = lines.find(key); first != lines.end()) {
      error(key_at, key_path,
            "duplicate key; first defined at line " + std::to_string(first->second));
      continue;
    }
    if (allowed.size() != 0 && std::find(allowed.begin(), allowed.end(), key) == allowed.end() &&
        !(place == Place::App && environment_key(key))) {
      error(key_at, key_path, unknown_key(key, allowed, place));
      continue;
    }
    lines.emplace(key, key_at.line);
    const Mark value_at = mark_of(it->second, key_at);
    if (!tag_ok(it->second, value_at, key_path)) {
      refused_.insert(key_path);
      continue;
    }
    out.push_back({key, key_path, as_read(it->second), key_at, value_at});
  }
  return out;
}

std::optional<std::string> Walker::string(const Entry& e, bool allow_empty) {
  if (!e.value.IsScalar()) {
    error(e.value_at, e.path, "expected a string");
    return std::nullopt;
  }
  const std::string& s = e.value.Scalar();
  if (s.empty() && !allow_empty) {
    error(e.value_at, e.path, "expected a non-empty string");
    return std::nullopt;
  }
  if (s.find('\0') != std::string::npos) {
    error(e.value_at, e.path, "must not contain a NUL byte");
    return std::nullopt;
  }
  return s;
}

std::optional<std::uint64_t> Walker::integer(const Entry& e, std::uint64_t min, std::uint64_t max) {
  if (!e.value.IsScalar()) {
    error(e.value_at, e.path, "expected an integer");
    return std::nullopt;
  }
  Result<std::uint64_t> r = parse_integer(e.value.Scalar(), min, max);
  if (!r.value) error(e.value_at, e.path, r.error);
  return r.value;
}

std::optional<Duration> Walker::duration(const Entry& e, bool positive) {
  if (!e.value.IsScalar()) {
    error(e.value_at, e.path, "expected a duration such as 250ms, 10s or 2m");
    return std::nullopt;
  }
  Result<Duration> r = parse_duration(e.value.Scalar());
  if (!r.value) {
    error(e.value_at, e.path, r.error);
  } else if (positive && r.value->count() == 0) {
    error(e.value_at, e.path, "must be greater than 0");
    return std::nullopt;
  }
  return r.value;
}

// A size > 0: `512M`, `1G`, `64MiB`, `100MB`, `1048576` (see parse_size).
std::optional<std::uint64_t> Walker::size(const Entry& e) {
  if (!e.value.IsScalar()) {
    error(e.value_at, e.path, "expected a size such as 512M, 1G or 1048576");
    return std::nullopt;
  }
  Result<std::uint64_t> r = parse_size(e.value.Scalar());
  if (!r.value) {
    error(e.value_at, e.path, r.error);
  } else if (*r.value == 0) {
    error(e.value_at, e.path, "must be greater than 0");
    return std::nullopt;
  }
  return r.value;
}

}  // namespace clusterd::config
