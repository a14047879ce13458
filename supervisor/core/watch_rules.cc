#include "supervisor/core/watch_rules.h"

namespace clusterd::core {

namespace {

// One character class at glob[i] == '['; `end` is set past its `]`. nullopt: not a class (a
// `[` without its `]` is the character itself).
std::optional<bool> class_match(std::string_view glob, std::size_t i, char c, std::size_t& end) {
  std::size_t j = i + 1;
  const bool negate = j < glob.size() && (glob[j] == '!' || glob[j] == '^');
  if (negate) ++j;
  const std::size_t first = j;
  bool found = false;
  for (; j < glob.size() && (glob[j] != ']' || j == first); ++j) {
    if (j + 2 < glob.size() && glob[j + 1] == '-' && glob[j + 2] != ']') {
      if (glob[j] <= c && c <= glob[j + 2]) found = true;
      j += 2;
    } else if (glob[j] == c) {
      found = true;
    }
  }
  if (j >= glob.size()) return std::nullopt;
  end = j + 1;
  return found != negate && c != '/';
}

}  // namespace

// Iterative matching that remembers the last `*` and the last `**` (the classic wildcard
// algorithm, one saved star per kind): at worst glob.size() * text.size() steps, whatever the
// glob. A mismatch lets the last `*` take one more character (not a `/`), else the last `**`.
bool glob_match(std::string_view glob, std::string_view text) {
  struct Star {
    std::size_t glob = 0;  // just after the star
    std::size_t text = 0;  // where it stopped taking characters
  };
  std::optional<Star> plain;
  std::optional<Star> crossing;
  std::size_t g = 0;
  std::size_t t = 0;
  while (t < text.size()) {
    if (g < glob.size() && glob[g] == '*') {
      const bool twice = g + 1 < glob.size() && glob[g + 1] == '*';
      g += twice ? 2 : 1;
      (twice ? crossing : plain) = Star{g, t};
      if (twice) plain.reset();
      continue;
    }
    if (g < glob.size()) {
      const char c = text[t];
      std::size_t next = g + 1;
      bool ok = false;
      if (glob[g] == '?') {
        ok = c != '/';
      } else if (glob[g] == '[') {
        const std::optional<bool> m = class_match(glob, g, c, next);
        ok = m ? *m : c == '[';
        if (!m) next = g + 1;
      } else if (glob[g] == '\\' && g + 1 < glob.size()) {
        ok = glob[g + 1] == c;
        next = g + 2;
      } else {
        ok = glob[g] == c;
      }
      if (ok) {
        g = next;
        ++t;
        continue;
      }
    }
    if (plain && text[plain->text] != '/') {
      g = plain->glob;
      t = ++plain->text;
    } else if (crossing) {
      plain.reset();
      g = crossing->glob;
      t = ++crossing->text;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

bool watch_ignored(std::string_view path, const std::vector<std::string>& globs) {
  if (path.empty()) return false;
  for (std::string_view glob : globs) {
    while (glob.starts_with("./")) glob.remove_prefix(2);
    while (glob.size() > 1 && glob.ends_with('/')) glob.remove_suffix(1);
    if (glob.empty() || glob == "/") continue;
    const bool whole = glob.find('/') != std::string_view::npos;
    // Each leading directory (whole) or each component (not), then the path itself.
    std::size_t start = 0;
    while (true) {
      const std::size_t slash = path.find('/', start);
      const std::size_t stop = slash == std::string_view::npos ? path.size() : slash;
      const std::string_view part = whole ? path.substr(0, stop) : path.substr(start, stop - start);
      if (glob_match(glob, part)) return true;
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
  }
  return false;
}

std::optional<TimePoint> WatchDebounce::changed(TimePoint now) {
  const bool was_armed = quiet_at_.has_value();
  quiet_at_ = later(now, debounce_);
  if (was_armed) return std::nullopt;
  return quiet_at_;
}

WatchDebounce::Look WatchDebounce::due(TimePoint now, bool rolling, bool stopped) {
  if (!quiet_at_) return {};
  if (now < *quiet_at_) return {Verdict::Wait, *quiet_at_};
  quiet_at_.reset();
  if (stopped) {
    owed_ = false;
    return {Verdict::Skip};
  }
  if (rolling) {
    owed_ = true;
    return {Verdict::AfterRollout};
  }
  owed_ = false;
  return {Verdict::Restart};
}

bool WatchDebounce::rollout_over(bool rolling, bool stopped) {
  if (!owed_ || rolling) return false;
  owed_ = false;
  if (stopped) return false;
  return !quiet_at_.has_value();
}

void WatchDebounce::reset() {
  quiet_at_.reset();
  owed_ = false;
}

}  // namespace clusterd::core
