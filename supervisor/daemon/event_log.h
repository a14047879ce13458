// Lifecycle events: one structured record per thing that happened to a worker or an app
// (spawned, ready, exited, backoff, failed, rollout, scale, reload, watchdog, ...), with the same
// fields for every kind. Each is logged (in the journal with CLUSTERD_* fields), kept in a ring
// for `clusterctl events`, and sent to the clients following it.
#pragma once

#include <cstdint>
#include <string>

#include "supervisor/control/protocol.h"
#include "supervisor/daemon/host.h"
#include "supervisor/daemon/record_log.h"

namespace clusterd::daemon {

class EventLog {
 public:
  enum class Level { Info, Warning, Error };
  explicit EventLog(Clock& clock) : clock_(clock) {}

  /// Records `event` (its seq and time are set here) and logs `line` about it at `level`.
  void record(control::EventRecord event, Level level, const std::string& line);
  /// The events verb: the last records matching the request, then, with follow, the new ones.
  void serve(const control::Request& request, const control::ReplyPtr& reply);
  /// The daemon stops: every follow ends.
  void stop();
  std::uint64_t recorded() const { return seq_; }

 private:
  Clock& clock_;
  std::uint64_t seq_ = 0;
  RecordRing<control::EventRecord> ring_;
  Followers<control::EventRecord> followers_;
};

/// The filter of a logs or events request, and how many records of the history it wants.
RecordFilter filter_of(const control::Request& request, std::int64_t now_ms);
std::size_t history_of(const control::Request& request);

}  // namespace clusterd::daemon
