#include "config/values.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <array>
#include <charconv>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <utility>

namespace clusterd::config {
namespace {

constexpr std::string_view kDurationHint = "expected a duration such as 250ms, 10s or 2m";
constexpr std::string_view kSizeHint = "expected a size such as 512M, 1G or 1048576";
constexpr std::string_view kAddressHint = "expected HOST:PORT, [IPV6]:PORT or unix:PATH";

bool is_digits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Parses a digits-only string; nullopt when empty, not digits, or out of range of uint64.
std::optional<std::uint64_t> to_u64(std::string_view text) {
  if (!is_digits(text)) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

bool is_wildcard(const Address& a) {
  return (a.family == Address::Family::Ipv4 && a.host == "0.0.0.0") ||
         (a.family == Address::Family::Ipv6 && a.host == "::");
}

}  // namespace

std::string quoted(std::string_view text) {
  if (text.size() <= kQuotedMax) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, kQuotedMax)) + "...' (" + std::to_string(text.size()) +
         " bytes)";
}

std::string unix_path_problem(std::string_view path) {
  if (path.size() <= kMaxUnixPath) return {};
  return "unix socket path is too long (" + std::to_string(path.size()) + " bytes, at most " +
         std::to_string(kMaxUnixPath) + ")";
}

Result<unsigned> parse_octal_mode(std::string_view text, std::string_view what) {
  unsigned mode = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
  if (text.empty() || text.size() > 4 || ec != std::errc() || end != text.data() + text.size() ||
      mode > 0777) {
    return {std::nullopt, "expected " + std::string(what) + ", got " + quoted(text)};
  }
  return {mode, {}};
}

Result<Duration> parse_duration(std::string_view text) {
  if (text == "0") return {Duration{0}, {}};
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::string_view unit = text.substr(digits);
  std::uint64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 60 * 60 * 1000;
  }
  std::optional<std::uint64_t> n = to_u64(text.substr(0, digits));
  if (factor == 0 || !n)
    return {std::nullopt, std::string(kDurationHint) + ", got " + quoted(text)};
  auto max = static_cast<std::uint64_t>(kMaxDuration.count());
  if (*n > max / factor || *n * factor > max) {
    return {std::nullopt, "expected a duration of at most " +
                              format_duration(kMaxDuration / 3600000 * 3600000) + ", got " +
                              quoted(text)};
  }
  return {Duration{static_cast<Duration::rep>(*n * factor)}, {}};
}

std::string format_duration(Duration d) {
  auto ms = d.count();
  if (ms == 0) return "0";
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

Result<std::uint64_t> parse_size(std::string_view text) {
  static const std::pair<std::string_view, std::uint64_t> kUnits[] = {
      {"", 1},
      {"B", 1},
      {"K", std::uint64_t{1} << 10},
      {"M", std::uint64_t{1} << 20},
      {"G", std::uint64_t{1} << 30},
      {"T", std::uint64_t{1} << 40},
      {"KiB", std::uint64_t{1} << 10},
      {"MiB", std::uint64_t{1} << 20},
      {"GiB", std::uint64_t{1} << 30},
      {"TiB", std::uint64_t{1} << 40},
      {"KB", 1000},
      {"MB", 1000 * 1000},
      {"GB", 1000 * 1000 * 1000},
      {"TB", std::uint64_t{1000} * 1000 * 1000 * 1000},
  };
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::string_view unit = text.substr(digits);
  std::uint64_t factor = 0;
  for (const auto& [name, f] : kUnits) {
    if (name == unit) factor = f;
  }
  bool all_digits = digits > 0;
  std::optional<std::uint64_t> n = to_u64(text.substr(0, digits));
  if (factor == 0 || (!n && !all_digits)) {
    return {std::nullopt, std::string(kSizeHint) + ", got " + quoted(text)};
  }
  if (!n || *n > kMaxSize / factor) {  // !n here: digits only, but beyond uint64
    return {std::nullopt, "expected a size of at most 1024T, got " + quoted(text)};
  }
  return {*n * factor, {}};
}

Result<std::uint64_t> parse_integer(std::string_view text, std::uint64_t min, std::uint64_t max) {
  std::optional<std::uint64_t> v = to_u64(text);
  if (!v || *v < min || *v > max) {
    return {std::nullopt, "expected an integer from " + std::to_string(min) + " to " +
                              std::to_string(max) + ", got " + quoted(text)};
  }
  return {v, {}};
}

Result<Address> parse_address(std::string_view text) {
  Address a;
  a.text = std::string(text);
  if (text.starts_with("unix:")) {
    a.family = Address::Family::Unix;
    a.path = std::string(text.substr(5));
    if (a.path.empty()) return {std::nullopt, "expected a socket path after 'unix:'"};
    if (a.path.find('\0') != std::string::npos) {
      return {std::nullopt, "a unix socket path must not contain a NUL byte"};
    }
    static_assert(kMaxUnixPath == sizeof(sockaddr_un{}.sun_path) - 1);
    if (std::string why = unix_path_problem(a.path); !why.empty()) return {std::nullopt, why};
    return {std::move(a), {}};
  }

  std::string_view host;
  std::string_view port;
  if (text.starts_with("[")) {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return {std::nullopt, std::string(kAddressHint) + ", got " + quoted(text)};
    }
    a.family = Address::Family::Ipv6;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) {
      return {std::nullopt, std::string(kAddressHint) + ", got " + quoted(text)};
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return {std::nullopt,
              "IPv6 addresses must be written in brackets, e.g. [::1]:8080, got " + quoted(text)};
    }
    a.family = Address::Family::Ipv4;
  }

  std::optional<std::uint64_t> p = to_u64(port);
  if (!p || *p > 65535) {
    return {std::nullopt, "expected a port from 0 to 65535, got " + quoted(port)};
  }
  a.port = static_cast<std::uint16_t>(*p);

  int af = a.family == Address::Family::Ipv6 ? AF_INET6 : AF_INET;
  std::string host_z(host);
  std::array<unsigned char, sizeof(in6_addr)> bin{};
  if (inet_pton(af, host_z.c_str(), bin.data()) != 1) {
    return {std::nullopt,
            std::string("expected a numeric address (hostnames are not resolved), got ") +
                quoted(host)};
  }
  std::array<char, INET6_ADDRSTRLEN> canon{};
  if (inet_ntop(af, bin.data(), canon.data(), canon.size()) == nullptr) {
    return {std::nullopt, "expected a numeric address, got " + quoted(host)};
  }
  a.host = canon.data();
  return {std::move(a), {}};
}

std::string normal_path(std::string_view path) {
  return std::filesystem::path(path).lexically_normal().string();
}

bool addresses_conflict(const Address& a, const Address& b) {
  if (a.family != b.family) return false;
  if (a.family == Address::Family::Unix) return normal_path(a.path) == normal_path(b.path);
  if (a.port == 0 || b.port == 0 || a.port != b.port) return false;
  return a.host == b.host || is_wildcard(a) || is_wildcard(b);
}

std::optional<int> parse_signal(std::string_view name) {
  static const std::pair<std::string_view, int> kSignals[] = {
      {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
      {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
      {"KILL", SIGKILL},     {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
      {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},     {"TERM", SIGTERM},
#ifdef SIGSTKFLT
      {"STKFLT", SIGSTKFLT},
#endif
      {"CHLD", SIGCHLD},     {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
      {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
      {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
      {"IO", SIGIO},
#ifdef SIGPWR
      {"PWR", SIGPWR},
#endif
      {"SYS", SIGSYS},
  };
  if (name.starts_with("SIG")) name.remove_prefix(3);
  for (const auto& [n, number] : kSignals) {
    if (n == name) return number;
  }
  return std::nullopt;
}

namespace {
bool name_chars_ok(std::string_view name, bool allow_dot) {
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || (allow_dot && c == '.');
    if (!ok) return false;
  }
  return true;
}
}  // namespace

bool is_app_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && name_chars_ok(name, true);
}

bool is_listener_name(std::string_view name) {
  return !name.empty() && name.size() <= 255 && name_chars_ok(name, false);
}

std::string listener_env_name(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (c == '-') c = '_';
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::vector<std::string> split_command(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (i < text.size()) {
    while (i < text.size() && space(text[i])) ++i;
    std::size_t start = i;
    while (i < text.size() && !space(text[i])) ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

}  // namespace clusterd::config
