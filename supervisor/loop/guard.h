// The exception boundary of every call from the loop into the daemon.
#pragma once

#include <spdlog/spdlog.h>

#include <exception>

namespace clusterd::loop {

/// Runs one event's handling; whatever escapes is logged as critical with `where`, the event is
/// dropped, and the loop goes on: no event can end the master.
template <typename F>
void guard(const char* where, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    spdlog::critical("{}: {} (the event is dropped; clusterd goes on)", where, e.what());
  } catch (...) {
    spdlog::critical("{}: unknown exception (the event is dropped; clusterd goes on)", where);
  }
}

}  // namespace clusterd::loop
