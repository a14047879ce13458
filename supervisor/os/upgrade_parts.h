// What the two sides of a live upgrade's system calls share (upgrade.cc: the exec and the way
// back; rehearsal.cc: the rehearsal). Not for use outside supervisor/os/.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "supervisor/os/facts.h"
#include "supervisor/os/unique_fd.h"

namespace clusterd::os::upgrade_parts {

/// Throws std::system_error with errno and `what`.
[[noreturn]] void fail(const std::string& what);

/// The state in a memfd nobody can change any more (F_SEAL_*), at offset 0.
UniqueFd sealed_state(const std::string& state, bool cloexec);

/// Pointers into `args` for an exec, ending with nullptr.
std::vector<char*> c_argv(std::vector<std::string>& args);

/// The master's command line `argv` as `binary` runs it: argv[0] replaced, `extra` appended.
std::vector<std::string> command_line(const std::string& binary, std::vector<std::string> argv,
                                      std::initializer_list<std::string> extra);

/// "SIGSEGV" for SIGSEGV.
std::string signal_text(int sig);

/// The identity of the file open at `fd`. Throws std::system_error.
FileIdentity identity_of(int fd);

}  // namespace clusterd::os::upgrade_parts
