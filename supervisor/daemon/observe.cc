// What the daemon shows: the status snapshot with its own parts (accept queues of the sockets it
// holds, cgroups, logs), the metrics endpoint, the health check, and the counters behind them.
#include <spdlog/spdlog.h>

#include "supervisor/control/commands.h"
#include "supervisor/daemon/daemon.h"

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

void add_queue(Sampling& sampling, const Listener& listener, std::size_t index,
               std::vector<control::QueueStatus>& out) {
  if (index >= listener.fds.size() || !listener.fds[index]) return;
  if (const std::optional<os::AcceptQueue> q = sampling.accept_queue(listener.fds[index].get())) {
    out.push_back({listener.spec.name, q->queued, q->limit});
  }
}

}  // namespace

control::StatusSnapshot Daemon::snapshot(const std::string* app, bool remember, bool detail) {
  struct Extras final : StatusExtras {
    explicit Extras(Daemon& daemon) : d(daemon) {}
    std::string cgroup(core::SlotId id) const override { return d.cgroup_of(id); }
    void add(core::SlotId id, control::WorkerStatus& w) const override {
      const auto& generations = d.apps_[id.app].generations;
      const auto gen = generations.find(w.generation);
      if (gen == generations.end()) return;
      for (const std::shared_ptr<Listener>& l : gen->second.listeners) {
        if (l->spec.mode == config::ListenMode::ReusePort)
          add_queue(d.host_.sampling, *l, id.index, w.queues);
      }
    }
    void add(std::size_t a, control::AppStatus& s) const override {
      const core::AppState& state = d.supervisor_.apps()[a];
      s.logs = config::to_string(d.output_.mode_of(state.spec.logs));
      s.log_dropped_bytes = d.output_.dropped(s.name);
      const auto gen = d.apps_[a].generations.find(state.generation);
      if (gen == d.apps_[a].generations.end()) return;
      for (const std::shared_ptr<Listener>& l : gen->second.listeners) {
        if (l->spec.mode == config::ListenMode::Shared)
          add_queue(d.host_.sampling, *l, 0, s.queues);
      }
    }
    Daemon& d;
  };
  const Extras extras(*this);
  control::StatusSnapshot snap = sampler_.sample(supervisor_, app, &extras, remember, detail);
  snap.master.upgrades = upgrades_;
  if (upgraded_at_ms_ != 0) snap.master.upgraded_at_s = static_cast<double>(upgraded_at_ms_) / 1000;
  return snap;
}

HttpResponse Daemon::serve_http(const HttpRequest& request) {
  if (request.path == "/metrics") return serve_metrics(request);
  if (request.path == "/healthz") {
    // Only the core's counts: no /proc, so a tight health-check loop costs next to nothing.
    control::StatusSnapshot counts;
    for (const core::AppState& state : supervisor_.apps()) {
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
HttpResponse Daemon::serve_metrics(const HttpRequest& request) {
  ++counters_->scrapes;
  const core::TimePoint now = host_.clock.now();
  if (!request.trusted && !pages_.peers.take(request.peer, now)) {
    ++counters_->throttled;
    return {429, "text/plain; charset=utf-8",
            "too many requests from " + request.peer + "; try again in a second\n"};
  }
  counters_->notify_rejected = notify_rejected_total_;
  // The restart counters are the core's, the same numbers status shows.
  counters_->restarts.clear();
  for (const core::AppState& app : supervisor_.apps()) {
    if (app.removed) continue;
    for (unsigned i = 0; i < app.restarts.size(); ++i) {
      for (std::size_t c = 0; c < core::kUnplannedCauses; ++c) {
        if (app.restarts[i][c] == 0) continue;
        counters_->restarts[{app.spec.name, i, core::to_string(static_cast<core::Unplanned>(c))}] =
            app.restarts[i][c];
      }
    }
  }
  const std::uint64_t version = events_.recorded() + counter_sum(*counters_);
  MetricsPages::Page& page = request.openmetrics ? pages_.openmetrics : pages_.text;
  if (pages_.budget.render(page.rendered, version, now)) {
    ++counters_->renders;
    const control::StatusSnapshot snap = snapshot(nullptr, false);
    page.body = render_metrics(snap, *counters_, request.openmetrics);
    page.rendered = core::Rendered{now, version};
    pages_.budget.spent(
        std::chrono::duration_cast<std::chrono::microseconds>(host_.clock.now() - now));
  }
  return {200, metrics_content_type(request.openmetrics), page.body};
}

int Daemon::open_metrics(const config::Address& address, int adopt_fd) {
  const int id = host_.endpoints.open_metrics(
      address, [this](const HttpRequest& r) { return serve_http(r); }, adopt_fd);
  spdlog::info("metrics: serving /metrics and /healthz on {}", address.text);
  return id;
}

std::string Daemon::cgroup_of(core::SlotId id) const {
  const std::optional<WorkerHandle> handle = workers_.handle_of(id);
  return handle ? workers_.cgroup_path_of(*handle) : std::string();
}

control::ReplyPtr Daemon::counted(control::Command command, control::ReplyPtr reply) {
  return std::make_shared<CountedReply>(counters_, control::spec_of(command).name,
                                        std::move(reply));
}

}  // namespace clusterd::daemon
