// The children still starting: the memory each runs in until its exec, given back as soon as
// it has exec'd (at the next spawn, when a child wakes the spawn slots, and by a sweep a moment
// after the last spawn of a burst, which also hands back the spare memories and the heap's free
// pages: after the start of 1,024 workers that was ~0.6 MiB the master kept).
#include <asio/steady_timer.hpp>
#include <chrono>

#include "supervisor/loop/processes.h"
#include "supervisor/os/spawn_slots.h"
#include "supervisor/os/system.h"

namespace clusterd::loop {

namespace {
constexpr auto kSweepDelay = std::chrono::milliseconds(100);
}  // namespace

void Processes::watch_slots() {
  slots_io_.async_wait(asio::posix::stream_descriptor::wait_read,
                       [this](const std::error_code& ec) {
                         if (ec) return;
                         os::SpawnSlots::woken();
                         sweep_started();
                         watch_slots();
                       });
}

void Processes::collect_report(daemon::WorkerHandle handle, Worker& worker) {
  if (!worker.memory) return;
  os::SpawnReport report = os::spawn_report(worker.memory);
  // Read after `finished`: a child that has exec'd made its listener before, so it is seen here
  // before the memory holding its number goes.
  take_listener(handle, worker);
  if (!report.finished) return;
  if (report.error) worker.error = std::move(report.error);
  worker.memory.reset();
}

void Processes::take_listener(daemon::WorkerHandle handle, Worker& worker) {
  if (!worker.adopt_pending) return;
  os::UniqueFd listener = os::take_adopt_listener(worker.memory);
  if (!listener) return;
  worker.adopt_pending = false;
  adoption_.watch(handle, std::move(listener));
}

// At a child's wake of the spawn slots (its listener, if it adopts, is there by then), at the
// next spawn, and by the sweep.
void Processes::sweep_started() {
  std::erase_if(starting_, [this](daemon::WorkerHandle handle) {
    const auto it = workers_.find(handle);
    if (it == workers_.end()) return true;
    collect_report(handle, it->second);
    return !it->second.memory;
  });
}

void Processes::sweep_later() {
  if (sweep_armed_ || starting_.empty()) return;
  sweep_armed_ = true;
  sweep_.expires_after(kSweepDelay);
  sweep_.async_wait([this](const std::error_code& ec) {
    if (ec) return;
    sweep_armed_ = false;
    sweep_started();
    if (!starting_.empty()) return sweep_later();
    os::release_spare_child_memory();
    os::trim_memory();
  });
}

}  // namespace clusterd::loop
