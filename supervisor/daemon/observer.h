// What the daemon shows of itself: the status sampler, the counters behind the metrics, the
// metrics endpoint's pages and scrapers' rates, /healthz, and the count (and throttled log
// lines) of refused notify datagrams.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "supervisor/control/commands.h"
#include "supervisor/control/reply.h"
#include "supervisor/core/supervisor.h"
#include "supervisor/core/throttle.h"
#include "supervisor/daemon/host.h"
#include "supervisor/daemon/metrics.h"
#include "supervisor/daemon/status_sampler.h"

namespace clusterd::daemon {

class Observer {
 public:
  Observer(Clock& clock, Machine& machine, Sampling& sampling, std::string config_path,
           core::TimePoint started)
      : clock_(clock), sampler_(clock, machine, sampling, std::move(config_path), started) {}

  StatusSampler& sampler() { return sampler_; }
  MetricCounters& counters() { return *counters_; }
  /// `reply`, counted by verb and result in the metrics when it finishes.
  control::ReplyPtr counted(control::Command command, control::ReplyPtr reply);
  /// A notify datagram of `who` was refused for `why`: counted; a flood of forged datagrams must
  /// not become a flood of log lines, so the first of each minute is logged, the others summed
  /// up in the next line. `late`: read once its worker was dead (debug only).
  void notify_rejected(const std::string& who, const std::string& why, bool late);

  /// The metrics endpoint's answer to `request`: /metrics (rendered from `snapshot()` when a new
  /// page is due; `recorded`: the events recorded so far), /healthz, /.
  HttpResponse serve(const HttpRequest& request, const core::Supervisor& supervisor,
                     std::uint64_t recorded,
                     const std::function<control::StatusSnapshot()>& snapshot);

 private:
  HttpResponse metrics(const HttpRequest& request, const core::Supervisor& supervisor,
                       std::uint64_t recorded,
                       const std::function<control::StatusSnapshot()>& snapshot);

  Clock& clock_;
  StatusSampler sampler_;
  std::shared_ptr<MetricCounters> counters_ = std::make_shared<MetricCounters>();
  MetricsPages pages_;  // the last pages, and the scrapers' rates
  std::uint64_t notify_rejected_total_ = 0;
  core::WarningQuota notify_log_;  // one line a minute about rejected notify messages
};

}  // namespace clusterd::daemon
