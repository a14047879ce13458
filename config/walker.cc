#include "config/walker.h"

#include <algorithm>

#include "config/values.h"

namespace clusterd::config {

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

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
    std::initializer_list<std::string_view> allowed) {
  if (!node.IsMap()) {
    error(at, path, "expected a map");
    return std::nullopt;
  }
  std::vector<Entry> out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    Mark key_at = mark_of(it->first, at);
    if (!it->first.IsScalar()) {
      error(key_at, path, "expected a string key");
      continue;
    }
    std::string key = it->first.Scalar();
    std::string key_path = join(path, key);
    auto first = std::find_if(out.begin(), out.end(), [&](const Entry& e) { return e.key == key; });
    if (first != out.end()) {
      error(key_at, key_path,
            "duplicate key; first defined at line " + std::to_string(first->key_at.line));
      continue;
    }
    if (allowed.size() != 0 && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (std::string_view k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
      error(key_at, key_path, "unknown key; expected one of " + list);
      continue;
    }
    out.push_back({key, key_path, it->second, key_at, mark_of(it->second, key_at)});
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
