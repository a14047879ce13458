#include "supervisor/loop/adoption_calls.h"

#include <spdlog/spdlog.h>

#include <system_error>

#include "supervisor/loop/guard.h"
#include "supervisor/os/adopt.h"

namespace clusterd::loop {

namespace {

// Calls answered per wake-up of one filter before the others get their turn.
constexpr int kCallsPerTurn = 32;

os::Delivery deliver(int listener, const os::SocketCall& call, const daemon::SocketAnswer& a) {
  using Kind = daemon::SocketAnswer::Kind;
  switch (a.kind) {
    case Kind::Proceed:
      return os::proceed(listener, call.id);
    case Kind::Succeed:
      return os::succeed(listener, call.id);
    case Kind::Refuse:
      return os::refuse(listener, call.id, a.error);
    case Kind::Replace:
      return os::replace(listener, call, a.fd, {a.nonblocking, a.cloexec});
  }
  return os::proceed(listener, call.id);
}

}  // namespace

void AdoptionCalls::watch(daemon::WorkerHandle handle, os::UniqueFd listener) {
  auto watch = std::make_shared<asio::posix::stream_descriptor>(io_, listener.release());
  filters_[handle] = watch;
  wait(handle, watch);
}

int AdoptionCalls::fd_of(daemon::WorkerHandle handle) const {
  const auto it = filters_.find(handle);
  return it == filters_.end() ? -1 : it->second->native_handle();
}

void AdoptionCalls::wait(daemon::WorkerHandle handle, const Watch& watch) {
  watch->async_wait(asio::posix::stream_descriptor::wait_read,
                    [this, handle, watch](const std::error_code& ec) {
                      if (ec) return;
                      const auto it = filters_.find(handle);
                      if (it == filters_.end() || it->second != watch) return;
                      if (answer_some(handle, watch->native_handle(), kCallsPerTurn)) {
                        wait(handle, watch);
                      } else {
                        filters_.erase(it);  // closes the listener
                      }
                    });
}

bool AdoptionCalls::answer_some(daemon::WorkerHandle handle, int listener, int calls) {
  for (int i = 0; i < calls; ++i) {
    os::Received received;
    try {
      received = os::receive(listener);
    } catch (const std::system_error& e) {
      spdlog::error("worker filter {}: {}; its binds are no longer answered", handle, e.what());
      return false;
    }
    switch (received.status) {
      case os::Received::Status::Nothing:
        return true;
      case os::Received::Status::Closed:
        return false;
      case os::Received::Status::Gone:
        spdlog::debug("worker filter {}: {}", handle, received.detail);
        continue;
      case os::Received::Status::Call:
        break;
    }
    // Every call read gets an answer: the daemon's, else (it threw) the kernel's own.
    daemon::SocketAnswer answer;
    guard("a worker's socket call",
          [&] { answer = events_->on_socket_call(handle, received.call); });
    try {
      deliver(listener, received.call, answer);
    } catch (const std::system_error& e) {
      spdlog::warn("pid {}: its socket call failed: {}", received.call.pid, e.what());
    }
  }
  return true;
}

}  // namespace clusterd::loop
