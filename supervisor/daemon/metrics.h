// The numbers of the metrics endpoint (docs/metrics.md): a status snapshot taken when the
// scraper asks, the daemon's counters, in the Prometheus text format or OpenMetrics. Pure: the
// snapshot and the counters come in, the page goes out.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

#include "supervisor/control/status.h"
#include "supervisor/core/throttle.h"
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
  std::uint64_t scrapes = 0;    // requests for /metrics
  std::uint64_t renders = 0;    // pages rendered for them (the others were served again)
  std::uint64_t throttled = 0;  // refused: their peer asked too often
};

/// The sum of what `counters` count that a page shows, but for the endpoint's own counters: a
/// page rendered when it was the same shows them as they are.
std::uint64_t counter_sum(const MetricCounters& counters);

/// /metrics requests per peer (a TCP peer's address, a unix peer's uid): a burst, then a rate.
inline constexpr double kScrapeBurst = 10;
inline constexpr double kScrapesPerSecond = 5;

/// What the endpoint keeps between requests: the last page of each format, served again unless
/// core::RenderBudget says to render anew, and each peer's rate.
struct MetricsPages {
  struct Page {
    std::string body;
    std::optional<core::Rendered> rendered;
  };
  Page text;
  Page openmetrics;
  core::RenderBudget budget;  // both formats' renders
  core::TokenBuckets peers{kScrapesPerSecond, kScrapeBurst};
};

/// The content type of the page: the Prometheus text format 0.0.4, or OpenMetrics 1.0.0.
const char* metrics_content_type(bool openmetrics);

/// The whole page.
std::string render_metrics(const control::StatusSnapshot& snapshot, const MetricCounters& counters,
                           bool openmetrics);

/// /healthz: 200 "ok" when every app has as many ready workers as it wants, else 503 naming
/// the apps that do not. An app stopped on purpose is not ready (it refuses connections):
/// "(stopped)".
HttpResponse health(const control::StatusSnapshot& snapshot);

}  // namespace clusterd::daemon
