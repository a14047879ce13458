#include "config/cron.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace clusterd::config {
namespace {

struct Field {
  const char* name;
  unsigned min;
  unsigned max;
  const std::array<std::string_view, 13>* names;  // names[i] is value i (empty: none)
};

constexpr std::array<std::string_view, 13> kMonths = {
    "", "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 13> kWeekdays = {
    "sun", "mon", "tue", "wed", "thu", "fri", "sat", "", "", "", "", "", ""};

constexpr Field kFields[] = {{"minute", 0, 59, nullptr},
                             {"hour", 0, 23, nullptr},
                             {"day of month", 1, 31, nullptr},
                             {"month", 1, 12, &kMonths},
                             {"day of week", 0, 7, &kWeekdays}};

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  std::size_t from = 0;
  while (true) {
    const std::size_t at = text.find(separator, from);
    out.push_back(text.substr(from, at == std::string_view::npos ? at : at - from));
    if (at == std::string_view::npos) return out;
    from = at + 1;
  }
}

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    const std::size_t from = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
    if (i > from) out.push_back(text.substr(from, i - from));
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A value of `field`: digits, or one of its names. Sets `error` when it is neither or out of range.
std::optional<unsigned> value_of(const Field& field, std::string_view text, std::string& error) {
  if (field.names != nullptr) {
    const std::string name = lower(text);
    for (std::size_t i = 0; i < field.names->size(); ++i) {
      if (!(*field.names)[i].empty() && (*field.names)[i] == name) return static_cast<unsigned>(i);
    }
  }
  const Result<std::uint64_t> n = parse_integer(text, field.min, field.max);
  if (n.value) return static_cast<unsigned>(*n.value);
  const bool digits = !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
  error = std::string(field.name) + ": " +
          (digits ? quoted(text) + " is out of range " + std::to_string(field.min) + "-" +
                        std::to_string(field.max)
                  : "expected a number" + std::string(field.names != nullptr ? " or a name" : "") +
                        ", got " + quoted(text));
  return std::nullopt;
}

// One comma-separated part of a field: `*`, `N`, `A-B`, each optionally `/STEP`. Sets its values
// in `bits`; returns the error, or an empty string.
std::string one_part(const Field& field, std::string_view part, std::vector<bool>& bits) {
  const std::size_t slash = part.find('/');
  const std::string_view range = part.substr(0, slash);
  unsigned step = 1;
  if (slash != std::string_view::npos) {
    const Result<std::uint64_t> n = parse_integer(part.substr(slash + 1), 1, field.max);
    if (!n.value) {
      return std::string(field.name) + ": expected a step from 1 to " + std::to_string(field.max) +
             " after '/', got " + quoted(part.substr(slash + 1));
    }
    step = static_cast<unsigned>(*n.value);
  }
  unsigned from = field.min;
  unsigned to = field.max;
  std::string error;
  if (range != "*") {
    const std::size_t dash = range.find('-');
    const std::optional<unsigned> a = value_of(field, range.substr(0, dash), error);
    if (!a) return error;
    from = *a;
    // `N/STEP` runs from N to the end, as in cron.
    to = slash != std::string_view::npos ? field.max : from;
    if (dash != std::string_view::npos) {
      const std::optional<unsigned> b = value_of(field, range.substr(dash + 1), error);
      if (!b) return error;
      to = *b;
      if (to < from) {
        return std::string(field.name) + ": range " + quoted(range) + " goes backwards";
      }
    }
  }
  for (unsigned v = from; v <= to; v += step) bits[v] = true;
  return {};
}

std::string one_field(const Field& field, std::string_view text, std::vector<bool>& bits) {
  bits.assign(field.max + 1, false);
  for (const std::string_view part : split(text, ',')) {
    if (part.empty()) return std::string(field.name) + ": an empty item in " + quoted(text);
    if (std::string error = one_part(field, part, bits); !error.empty()) return error;
  }
  return {};
}

// The five fields of a macro.
std::optional<std::string_view> macro(std::string_view word) {
  if (word == "@hourly") return "0 * * * *";
  if (word == "@daily" || word == "@midnight") return "0 0 * * *";
  if (word == "@weekly") return "0 0 * * 0";
  if (word == "@monthly") return "0 0 1 * *";
  if (word == "@yearly" || word == "@annually") return "0 0 1 1 *";
  return std::nullopt;
}

// Whether a day of the month the schedule allows exists in a month it allows. When both day
// fields are restricted, either fires, and every weekday comes in every month.
bool can_fire(const CronSchedule& s) {
  if (!s.every_day && !s.every_weekday) return true;
  constexpr unsigned kLongest[] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  for (unsigned m = 1; m <= 12; ++m) {
    for (unsigned d = 1; d <= kLongest[m] && s.months[m]; ++d) {
      if (s.days[d]) return true;
    }
  }
  return false;
}

}  // namespace

bool is_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '/') return false;
  for (const std::string_view part : split(name, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
    for (const char c : part) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '+' || c == '-';
      if (!ok) return false;
    }
  }
  return true;
}

Result<CronSchedule> parse_schedule(std::string_view text) {
  const auto fail = [](std::string why) {
    return Result<CronSchedule>{std::nullopt, std::move(why)};
  };
  std::vector<std::string_view> w = words(text);
  if (w.empty() || !w[0].starts_with("TZ=")) {
    return fail(
        "expected the time zone first: TZ=UTC 0 3 * * *, TZ=Europe/Paris 0 3 * * *, or "
        "TZ=local for the machine's");
  }
  CronSchedule s;
  s.text = std::string(text);
  s.zone = std::string(w[0].substr(3));
  if (!is_zone_name(s.zone))
    return fail("expected a time zone name after TZ=, got " + quoted(s.zone));
  w.erase(w.begin());
  if (w.size() == 1 && w[0].starts_with("@")) {
    const std::optional<std::string_view> fields = macro(w[0]);
    if (!fields) {
      return fail("unknown " + quoted(w[0]) +
                  "; expected @hourly, @daily, @midnight, @weekly, @monthly, @yearly or @annually");
    }
    w = words(*fields);
  }
  if (w.size() != 5) {
    return fail(
        "expected 5 fields after the time zone (minute hour day-of-month month "
        "day-of-week), got " +
        std::to_string(w.size()) +
        (w.size() == 6 ? " (a leading seconds field, which PM2 allows, is not supported)" : ""));
  }
  std::vector<bool> bits;
  for (std::size_t f = 0; f < 5; ++f) {
    if (std::string error = one_field(kFields[f], w[f], bits); !error.empty()) return fail(error);
    for (std::size_t v = 0; v < bits.size(); ++v) {
      if (!bits[v]) continue;
      switch (f) {
        case 0:
          s.minutes.set(v);
          break;
        case 1:
          s.hours.set(v);
          break;
        case 2:
          s.days.set(v);
          break;
        case 3:
          s.months.set(v);
          break;
        default:
          s.weekdays.set(v % 7);
          break;  // 7 is Sunday too
      }
    }
  }
  // As cron decides which rule holds: a field that starts with `*` (`*/2` too) counts as `*`.
  s.every_day = w[2].starts_with("*");
  s.every_weekday = w[4].starts_with("*");
  if (!can_fire(s)) return fail("never fires: no month has such a day");
  return {std::move(s), {}};
}

}  // namespace clusterd::config
