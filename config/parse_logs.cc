// What clusterd shows of its workers: an app's `logs:` section and `backoff.jitter`, and the
// top-level `metrics:`.
#include <charconv>
#include <string>

#include "config/values.h"
#include "config/walker.h"

namespace clusterd::config {

std::optional<double> Walker::fraction(const Entry& e) {
  const std::string text = e.value.IsScalar() ? e.value.Scalar() : std::string();
  double value = -1;
  const char* end = text.data() + text.size();
  const bool percent = !text.empty() && text.back() == '%';
  const auto [ptr, ec] = std::from_chars(text.data(), end - (percent ? 1 : 0), value);
  if (text.empty() || ec != std::errc() || ptr != end - (percent ? 1 : 0)) {
    error(e.value_at, e.path, "expected a fraction from 0 to 1, such as 0.2 or 20%");
    return std::nullopt;
  }
  if (percent) value /= 100;
  if (!(value >= 0 && value <= 1)) {
    error(e.value_at, e.path, "must be from 0 to 1 (0% to 100%), got " + quoted(text));
    return std::nullopt;
  }
  return value;
}

// logs: journal | capture | inherit | auto, or a map with `mode` and the capture settings.
void Walker::logs(const Entry& e, AppSpec& app) {
  const std::initializer_list<std::pair<std::string_view, LogSpec::Mode>> modes = {
      {"auto", LogSpec::Mode::Auto},
      {"journal", LogSpec::Mode::Journal},
      {"capture", LogSpec::Mode::Capture},
      {"inherit", LogSpec::Mode::Inherit}};
  if (e.value.IsScalar()) {
    if (auto m = one_of<LogSpec::Mode>(e, modes)) app.logs.mode = *m;
    return;
  }
  auto entries = map_entries(e.value, e.value_at, e.path,
                             {"mode", "file", "console", "max_size", "keep", "line_max", "ring"});
  if (!entries) return;
  bool capture_only = false;
  for (const Entry& k : *entries) {
    if (k.key == "mode") {
      if (auto m = one_of<LogSpec::Mode>(k, modes)) app.logs.mode = *m;
      continue;
    }
    capture_only = true;
    if (k.key == "file") {
      if (auto s = string(k)) app.logs.file = *s;
      app.logs.file_at = k.value_at;
    } else if (k.key == "console") {
      if (auto b = one_of<bool>(k, {{"true", true}, {"false", false}})) app.logs.console = *b;
    } else if (k.key == "max_size") {
      if (k.value.IsScalar() && k.value.Scalar() == "0") {
        app.logs.max_size = 0;
      } else if (auto n = size(k)) {
        app.logs.max_size = *n;
      }
    } else if (k.key == "keep") {
      if (auto n = integer(k, 0, 1000)) app.logs.keep = static_cast<unsigned>(*n);
    } else if (k.key == "line_max") {
      if (auto n = size(k)) {
        if (*n < 80 || *n > 1024 * 1024) {
          error(k.value_at, k.path, "must be from 80 bytes to 1M");
        } else {
          app.logs.line_max = static_cast<std::size_t>(*n);
        }
      }
    } else if (auto n = integer(k, 0, 1000000)) {
      app.logs.ring = static_cast<unsigned>(*n);
    }
  }
  if (capture_only && app.logs.mode == LogSpec::Mode::Inherit) {
    error(e.value_at, e.path,
          "file, console, max_size, keep, line_max and ring need mode capture, journal or auto; "
          "inherit passes the bytes through untouched");
  }
}

// metrics: ADDRESS, or { address: ADDRESS }: 127.0.0.1:9100, [::1]:9100, unix:/run/x.sock.
void Walker::metrics(const Entry& e, MetricsSpec& out) {
  std::optional<Entry> address;
  if (e.value.IsScalar()) {
    address = e;
  } else if (auto entries = map_entries(e.value, e.value_at, e.path, {"address"})) {
    if (entries->empty()) missing(e.key_at, join(e.path, "address"));
    if (!entries->empty()) address = entries->front();
  }
  if (!address) return;
  const std::optional<Address> parsed = this->address(*address);
  if (!parsed) return;
  out.address = *parsed;
  out.at = address->value_at;
}

}  // namespace clusterd::config
