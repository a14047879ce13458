// User and group lookups (NSS: files, but maybe LDAP or sssd over the network) that never block
// the loop: they run in a child process, and the answer comes back through the loop.
#pragma once

#include <asio/io_context.hpp>
#include <functional>

#include "supervisor/os/facts.h"

namespace clusterd::loop {

/// Looks `queries` up in a child process; `done` is called from `io` with the answers, or, after
/// 10 s, with every name failed (the child is killed).
void lookup_names_async(asio::io_context& io, const os::NameQueries& queries,
                        std::function<void(os::ResolvedNames)> done);

}  // namespace clusterd::loop
