#include "supervisor/daemon/observer.h"

#include <spdlog/spdlog.h>

namespace clusterd::daemon {
namespace {

// A reply that counts itself by verb and result when it finishes.
class CountedReply final : public control::ReplyStream {
 public:
  CountedReply(std::shared_ptr<MetricCounters> counters, std::string_view verb,
               control::ReplyPtr inner)
      : counters_(std::move(counters)), verb_(verb), inner_(std::move(inner)) {}
  void send(control::ReplyLine line) override { inner_->send(std::move(line)); }
  void finish(control::ReplyLine line) override {
    if (!done_) {
      done_ = true;
      ++counters_->requests[{verb_, line.ok ? "ok" : "error"}];
    }
    inner_->finish(std::move(line));
  }
  bool open() const override { return inner_->open(); }
  int handover_fd() const override { return inner_->handover_fd(); }

 private:
  std::shared_ptr<MetricCounters> counters_;
  std::string verb_;
  control::ReplyPtr inner_;
  bool done_ = false;
};

}  // namespace

control::ReplyPtr Observer::counted(control::Command command, control::ReplyPtr reply) {
  return std::make_shared<CountedReply>(counters_, control::spec_of(command).name,
                                        std::move(reply));
}

void Observer::notify_rejected(const std::string& who, const std::string& why, bool late) {
  ++notify_rejected_total_;
  if (late) {
    // Read once its worker was dead, it could change nothing: often a process of the worker's,
    // killed with it before the master could place it (systemd-notify among them).
    spdlog::debug("{}: ignored a notify message read after the worker exited, {}", who, why);
    return;
  }
  // At most one line a minute for all rejections (the core's quota, one key).
  const std::optional<std::uint64_t> left_out = notify_log_.admit("notify", clock_.now());
  if (!left_out) return;
  const std::string more =
      *left_out == 0 ? "" : fmt::format(" ({} more rejected since the last such line)", *left_out);
  spdlog::warn("{}: ignored a notify message {}{}", who, why, more);
}

HttpResponse Observer::serve(const HttpRequest& request, const core::Supervisor& supervisor,
                             std::uint64_t recorded,
                             const std::function<control::StatusSnapshot()>& snapshot) {
  if (request.path == "/metrics") return metrics(request, supervisor, recorded, snapshot);
  if (request.path == "/healthz") {
    // Only the core's counts: no /proc, so a tight health-check loop costs next to nothing.
    control::StatusSnapshot counts;
    for (const core::AppState& state : supervisor.apps()) {
      if (state.removed) continue;
      control::AppStatus a;
      a.name = state.spec.name;
      a.instances = state.instances;
      a.stopped = state.stopped;
      for (const auto& slot : state.slots) {
        if (slot.current().state() == core::LaneState::Running) ++a.ready;
      }
      counts.apps.push_back(std::move(a));
    }
    return health(counts);
  }
  if (request.path == "/") {
    return {200, "text/plain; charset=utf-8",
            "clusterd " CLUSTERD_VERSION
            "\n/metrics  Prometheus metrics\n/healthz  200 when every "
            "app has all its workers ready, else 503\n"};
  }
  return {404, "text/plain; charset=utf-8", "not found: try /metrics or /healthz\n"};
}

// The page is what the master works hardest for (a /proc walk of every worker), and anyone who
// can reach the endpoint may ask for it in a loop: each peer gets a burst then a rate (429 past
// it), and a page is served again while it is young and nothing counted changed since, and
// whatever changed while rendering has had its share of the master's time (core::RenderBudget):
// a flood costs a render a second at most, and rendering a tenth of the master's time.
HttpResponse Observer::metrics(const HttpRequest& request, const core::Supervisor& supervisor,
                               std::uint64_t recorded,
                               const std::function<control::StatusSnapshot()>& snapshot) {
  ++counters_->scrapes;
  const core::TimePoint now = clock_.now();
  if (!request.trusted && !pages_.peers.take(request.peer, now)) {
    ++counters_->throttled;
    return {429, "text/plain; charset=utf-8",
            "too many requests from " + request.peer + "; try again in a second\n"};
  }
  counters_->notify_rejected = notify_rejected_total_;
  // The restart counters are the core's, the same numbers status shows.
  counters_->restarts.clear();
  for (const core::AppState& app : supervisor.apps()) {
    if (app.removed) continue;
    for (unsigned i = 0; i < app.restarts.size(); ++i) {
      for (std::size_t c = 0; c < core::kUnplannedCauses; ++c) {
        if (app.restarts[i][c] == 0) continue;
        counters_->restarts[{app.spec.name, i, core::to_string(static_cast<core::Unplanned>(c))}] =
            app.restarts[i][c];
      }
    }
  }
  const std::uint64_t version = recorded + counter_sum(*counters_);
  MetricsPages::Page& page = request.openmetrics ? pages_.openmetrics : pages_.text;
  if (pages_.budget.render(page.rendered, version, now)) {
    ++counters_->renders;
    page.body = render_metrics(snapshot(), *counters_, request.openmetrics);
    page.rendered = core::Rendered{now, version};
    pages_.budget.spent(std::chrono::duration_cast<std::chrono::microseconds>(clock_.now() - now));
  }
  return {200, metrics_content_type(request.openmetrics), page.body};
}

}  // namespace clusterd::daemon
