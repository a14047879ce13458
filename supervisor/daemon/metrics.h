// The numbers of the metrics endpoint (docs/metrics.md): a status snapshot taken when the
// scraper asks, the daemon's counters, in the Prometheus text format or OpenMetrics. Pure: the
// snapshot and the counters come in, the page goes out.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "supervisor/control/status.h"
#include "supervisor/daemon/host.h"

namespace clusterd::daemon {

/// What the daemon counts for the metrics, since it started.
struct MetricCounters {
  std::map<std::pair<std::string, std::string>, std::uint64_t> requests;  // verb, ok|error
  std::map<std::string, std::uint64_t> reloads;                           // applied|refused
  // Unplanned ends of a worker, by app, slot and reason: exit, signal, spawn_failed,
  // ready_timeout, watchdog, replaced (max_memory or the worker's STOPPING=1): the core's
  // counters (core::AppState::restarts), copied at each scrape.
  std::map<std::tuple<std::string, unsigned, std::string>, std::uint64_t> restarts;
  std::map<std::pair<std::string, std::string>, std::uint64_t> rollouts;  // app, ok|failed
  std::uint64_t notify_rejected = 0;
  std::uint64_t scrapes = 0;
};

/// The content type of the page: the Prometheus text format 0.0.4, or OpenMetrics 1.0.0.
const char* metrics_content_type(bool openmetrics);

/// The whole page.
std::string render_metrics(const control::StatusSnapshot& snapshot, const MetricCounters& counters,
                           bool openmetrics);

/// /healthz: 200 "ok" when every app has as many ready workers as it wants, else 503 naming
/// the apps that do not.
HttpResponse health(const control::StatusSnapshot& snapshot);

}  // namespace clusterd::daemon
