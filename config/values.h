// Text -> typed config values (durations, addresses, signals, integers, names), without YAML.
// parse.cc applies these to scalars; each failure is an error message ready for a ConfigError.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace clusterd::config {

/// Either a value or the message saying why the text was rejected.
template <class T>
struct Result {
  std::optional<T> value;
  std::string error;
};

/// `text` in single quotes for an error message. Text longer than kQuotedMax bytes is cut there
/// and its length said (`'aaaa...' (60000 bytes)`): a message never repeats a huge value.
inline constexpr std::size_t kQuotedMax = 128;
std::string quoted(std::string_view text);

/// The longest path of a unix socket: sockaddr_un's sun_path (108) less its terminating NUL.
inline constexpr std::size_t kMaxUnixPath = 107;

/// Why `path` cannot be a unix socket's path (too long), or an empty string when it can.
std::string unix_path_problem(std::string_view path);

/// An octal file mode or umask of 1 to 4 digits, at most 0777: `0660`, `027`, `22`. `what` names
/// it in the error ("an octal mode such as 0660").
Result<unsigned> parse_octal_mode(std::string_view text, std::string_view what);

/// The longest accepted duration: fits an int of milliseconds (about 24.8 days).
inline constexpr Duration kMaxDuration{2147483647};

/// `250ms`, `10s`, `2m`, `1h`, or a bare `0`.
Result<Duration> parse_duration(std::string_view text);

/// The shortest exact spelling of `d` in the config syntax: 100ms, 10s, 2m, 1h, 0.
std::string format_duration(Duration d);

/// The smallest max_memory and memory_max: no process runs in less than 1 MiB (its page tables,
/// stack and the pages it touches at exec count).
inline constexpr std::uint64_t kMinMemory = std::uint64_t{1} << 20;

/// The smallest limits.nofile, before one more per listening socket a worker is given: its
/// standard streams and the files a program opens to start (the loader, its libraries).
inline constexpr std::uint64_t kMinNofile = 16;

/// The largest accepted size: 1024T (2^50 bytes).
inline constexpr std::uint64_t kMaxSize = std::uint64_t{1} << 50;

/// A byte count: digits, optionally followed by a unit with no space. K, M, G, T and KiB, MiB,
/// GiB, TiB are powers of 1024; KB, MB, GB, TB are powers of 1000; B means bytes. Units are
/// case-sensitive. `0` is accepted here (callers that need > 0 check it).
Result<std::uint64_t> parse_size(std::string_view text);

/// A decimal integer (digits only) within [min, max].
Result<std::uint64_t> parse_integer(std::string_view text, std::uint64_t min, std::uint64_t max);

/// `127.0.0.1:8080`, `[::1]:8080`, `unix:PATH`. Hosts must be numeric; port 0..65535.
/// Address::host is the canonical form (inet_ntop); Address::text is `text` as given.
Result<Address> parse_address(std::string_view text);

/// A unix socket path with `.` and `..` components removed (lexically), as addresses_conflict()
/// compares them.
std::string normal_path(std::string_view path);

/// True when two listeners on `a` and `b` could not both bind: the same unix path (compared
/// lexically normalized), or the same family and non-zero port with equal hosts or a wildcard
/// (0.0.0.0 / ::) on either side.
bool addresses_conflict(const Address& a, const Address& b);

/// `SIGTERM` or `TERM` (uppercase) -> the signal number; nullopt for anything else.
std::optional<int> parse_signal(std::string_view name);

/// [A-Za-z0-9_.-]{1,64}
bool is_app_name(std::string_view name);

/// [A-Za-z0-9_-]{1,255} (255 is systemd's limit for an entry of LISTEN_FDNAMES).
bool is_listener_name(std::string_view name);

/// The name a listener gets in CLUSTER_LISTEN_<NAME>: uppercase, '-' -> '_'.
std::string listener_env_name(std::string_view name);

/// Splits on ASCII whitespace; no quoting or escaping of any kind.
std::vector<std::string> split_command(std::string_view text);

}  // namespace clusterd::config
