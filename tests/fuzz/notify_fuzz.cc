// libFuzzer target: arbitrary bytes as one sd_notify datagram, the way a hostile worker sends
// it. parse_notify() must decode it without crashing; what it reports must be in the datagram;
// the durations it returns must be usable as deadlines (core::later saturates); the sender check
// must give an answer for any sender facts derived from the bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "supervisor/core/notify_message.h"
#include "supervisor/core/types.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "notify_fuzz: invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace clusterd::core;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const NotifyMessage m = parse_notify(text);
  if (m.ready && text.find("READY=1") == std::string_view::npos) fail("READY without READY=1");
  if (m.stopping && text.find("STOPPING=1") == std::string_view::npos) fail("STOPPING invented");
  if (m.status && m.status->find('\n') != std::string::npos) fail("a STATUS= spans lines");
  const TimePoint now = TimePoint{} + std::chrono::hours(1);
  for (const auto& d : {m.watchdog_usec, m.extend_timeout}) {
    if (d && later(now, *d) < now) fail("a deadline before now");
  }
  NotifySender sender;
  sender.uid = size > 0 ? data[0] : 0;
  sender.pid = static_cast<int>(size);
  const unsigned flags = size > 1 ? data[1] : 0;
  sender.pidfds = (flags & 1) != 0;
  sender.pidfd = (flags & 2) != 0;
  sender.worker = (flags & 4) != 0;
  sender.alive = (flags & 8) != 0;
  sender.in_session = (flags & 16) != 0;
  sender.below = (flags & 32) != 0;
  if (size > 2 && (data[2] & 1)) sender.cgroup = data[2];
  sender.session = size > 3 ? data[3] : 0;
  const NotifyWorker worker{7, size > 8 ? std::optional<std::uint64_t>(data[8]) : std::nullopt};
  const bool refused = refuse_notify(sender, worker, 0).has_value();
  const bool boxed = worker.cgroup && sender.cgroup && *worker.cgroup == *sender.cgroup;
  if (sender.pidfds && !sender.worker && !sender.alive && !boxed && !refused) {
    fail("a sender that was gone and is in no cgroup of the worker's counted");
  }
  return 0;
}
