// Checks of a parsed Config against the machine it will run on: does each command exist and is it
// executable, do the cwd, user and group exist. Separate from parse_config() so that parsing stays
// pure; `clusterd --check` and the daemon's start-up run both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace clusterd::config {

/// Every problem of `config` that only the machine can tell, as ConfigErrors at the offending key:
/// commands, cwd, limits against the kernel's, and with `names` the users and groups (apps'
/// `user`/`group`, `control.group`, `control.read`/`control.admin`, unix: listeners'
/// `socket_user`/`socket_group`: an NSS lookup, which may be a network service, so the daemon
/// does that part outside its loop).
std::vector<ConfigError> check_environment(const Config& config, bool names = true);

/// Why this machine cannot adopt the workers' own sockets (docs/adoption.md), or an empty string
/// when it can. A short-lived child of this process (fork) installs a seccomp filter with a
/// listener (SECCOMP_FILTER_FLAG_NEW_LISTENER) and asks for a SECCOMP_IOCTL_NOTIF_ADDFD with
/// SECCOMP_ADDFD_FLAG_SETFD for a call that does not exist: ENOENT means the kernel has it (Linux
/// 5.9+). check_environment() runs it for a config whose apps use adoption, at every check: a
/// fork costs well under a millisecond, and a cached answer would hide a change of the sandbox.
std::string adoption_unsupported();

/// Resolves a command name the way execvp would: a name with a '/' is taken relative to `cwd`
/// (when relative); otherwise each entry of `path_env` is tried. Returns the absolute path of the
/// first regular, executable file, or nullopt.
std::optional<std::string> find_executable(std::string_view name, std::string_view path_env,
                                           std::string_view cwd);

/// The largest uid or gid a config may name: (uid_t)-1 means "leave unchanged" to the kernel.
constexpr std::uint32_t kMaxId = 4294967294U;

/// A user or group written as a string of digits ("1001") is that uid or gid, whether or not the
/// user database knows it (as with chown and systemd's User=). Returns the id, or nullopt for a
/// name, or for digits beyond kMaxId (all_digits() tells those apart: they are an error).
std::optional<std::uint32_t> numeric_id(std::string_view text);
bool all_digits(std::string_view text);
/// "user id 4294967295 is out of range (at most 4294967294)"; `kind` is "user" or "group".
std::string id_out_of_range(std::string_view kind, std::string_view digits);

/// Whether a getpwnam_r/getpwuid_r/getgrnam_r/getgrgid_r return code with no entry found means
/// "there is none" rather than a failed lookup (it depends on the NSS module, see getpwnam(3)).
bool lookup_not_found(int rc);

}  // namespace clusterd::config
