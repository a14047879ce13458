// Text -> typed config values (durations, addresses, signals, integers, names), without YAML.
// parse.cc applies these to scalars; each failure is an error message ready for a ConfigError.
#pragma once

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

/// The longest accepted duration: fits an int of milliseconds (about 24.8 days).
inline constexpr Duration kMaxDuration{2147483647};

/// `250ms`, `10s`, `2m`, `1h`, or a bare `0`.
Result<Duration> parse_duration(std::string_view text);

/// The shortest exact spelling of `d` in the config syntax: 100ms, 10s, 2m, 1h, 0.
std::string format_duration(Duration d);

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
