#include "supervisor/daemon/metrics.h"

#include <fmt/format.h>

#include <cmath>
#include <initializer_list>
#include <string_view>

namespace clusterd::daemon {
namespace {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// One page in either format. A family is opened with its HELP and TYPE lines, then gets its
// samples; a counter's family is named without `_total` in OpenMetrics and with it in the text
// format, its samples always with it; an info family likewise with `_info`.
class Page {
 public:
  explicit Page(bool openmetrics) : openmetrics_(openmetrics) { out_.reserve(64 * 1024); }

  enum class Type { Gauge, Counter, Info };
  void family(std::string_view base, Type type, std::string_view help) {
    name_.assign(base);
    if (type == Type::Counter) name_ += "_total";
    if (type == Type::Info) name_ += "_info";
    const std::string_view declared = openmetrics_ ? base : std::string_view(name_);
    const char* type_name = type == Type::Counter                ? "counter"
                            : type == Type::Info && openmetrics_ ? "info"
                                                                 : "gauge";
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", declared, help,
                   declared, type_name);
  }

  void sample(Labels labels, double value) {
    out_ += name_;
    if (labels.size() != 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [key, text] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += key;
        out_ += "=\"";
        escape(text);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    number(value);
    out_ += '\n';
  }

  std::string finish() {
    if (openmetrics_) out_ += "# EOF\n";
    return std::move(out_);
  }

 private:
  void escape(std::string_view text) {
    for (char c : text) {
      if (c == '\\') {
        out_ += "\\\\";
      } else if (c == '"') {
        out_ += "\\\"";
      } else if (c == '\n') {
        out_ += "\\n";
      } else {
        out_ += c;
      }
    }
  }
  void number(double value) {
    if (std::isnan(value)) {
      out_ += "NaN";
    } else if (std::isinf(value)) {
      out_ += value > 0 ? "+Inf" : "-Inf";
    } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
      fmt::format_to(std::back_inserter(out_), "{}", static_cast<long long>(value));
    } else {
      fmt::format_to(std::back_inserter(out_), "{}", value);
    }
  }

  bool openmetrics_;
  std::string out_;
  std::string name_;
};

using Type = Page::Type;
constexpr const char* kStates[] = {"idle", "starting", "running", "stopping", "backoff", "failed"};

// Runs `each(app, worker, worker-label, generation-label)` over every worker shown.
template <class Each>
void for_workers(const control::StatusSnapshot& s, Each each) {
  for (const control::AppStatus& app : s.apps) {
    for (const control::WorkerStatus& w : app.workers) {
      each(app, w, std::to_string(w.id), std::to_string(w.generation));
    }
  }
}

void worker_states(Page& page, const control::StatusSnapshot& s) {
  page.family("clusterd_worker_up", Type::Gauge, "1 when the slot has a live worker process.");
  for_workers(s, [&](const auto& app, const auto& w, const auto& id, const auto& gen) {
    page.sample({{"app", app.name}, {"worker", id}, {"generation", gen}}, w.pid != 0 ? 1 : 0);
  });
  page.family("clusterd_worker_ready", Type::Gauge,
              "1 when the worker is running and ready (READY=1, or exec'd for ready: exec).");
  for_workers(s, [&](const auto& app, const auto& w, const auto& id, const auto& gen) {
    page.sample({{"app", app.name}, {"worker", id}, {"generation", gen}},
                w.state == "running" ? 1 : 0);
  });
  page.family("clusterd_worker_state", Type::Gauge,
              "The worker's state: 1 for the state it is in, 0 for the others.");
  for_workers(s, [&](const auto& app, const auto& w, const auto& id, const auto& gen) {
    for (const char* state : kStates) {
      page.sample({{"app", app.name}, {"worker", id}, {"generation", gen}, {"state", state}},
                  w.state == state ? 1 : 0);
    }
  });
  page.family("clusterd_worker_last_exit", Type::Info,
              "How the slot's last worker ended (exit 1, signal SIGKILL, ...).");
  for_workers(s, [&](const auto& app, const auto& w, const auto& id, const auto& gen) {
    if (w.last_exit.empty()) return;
    page.sample({{"app", app.name},
                 {"worker", id},
                 {"generation", gen},
                 {"last_exit", std::string_view(w.last_exit).substr(0, 120)}},
                1);
  });
}

// A gauge (or counter) of every live worker, from one of its fields; `known` false skips it.
template <class Value>
void live_family(Page& page, const control::StatusSnapshot& s, std::string_view name, Type type,
                 std::string_view help, Value value) {
  page.family(name, type, help);
  for_workers(s, [&](const auto& app, const auto& w, const auto& id, const auto& gen) {
    if (w.pid == 0) return;
    const auto [known, number] = value(w);
    if (known) page.sample({{"app", app.name}, {"worker", id}, {"generation", gen}}, number);
  });
}

void worker_resources(Page& page, const control::StatusSnapshot& s) {
  using W = control::WorkerStatus;
  using R = std::pair<bool, double>;
  live_family(page, s, "clusterd_worker_processes", Type::Gauge,
              "Processes of the worker's tree: the worker and its descendants.", [](const W& w) {
                return R{true, w.processes};
              });
  live_family(page, s, "clusterd_worker_threads", Type::Gauge, "OS threads of the worker's tree.",
              [](const W& w) {
                return R{true, w.tree_threads};
              });
  live_family(page, s, "clusterd_worker_resident_memory_bytes", Type::Gauge,
              "Resident memory of the worker process (VmRSS).", [](const W& w) {
                return R{true, static_cast<double>(w.rss_kb) * 1024};
              });
  live_family(page, s, "clusterd_worker_pss_bytes", Type::Gauge,
              "Proportional set size of the worker process: its share of the pages it shares "
              "after copy-on-write (smaps_rollup).",
              [](const W& w) {
                return R{w.pss_kb >= 0, static_cast<double>(w.pss_kb) * 1024};
              });
  live_family(page, s, "clusterd_worker_uss_bytes", Type::Gauge,
              "Unique set size of the worker process: the memory only it holds, what ending it "
              "frees (smaps_rollup Private_*).",
              [](const W& w) {
                return R{w.uss_kb >= 0, static_cast<double>(w.uss_kb) * 1024};
              });
  page.family("clusterd_worker_cpu_seconds", Type::Counter,
              "CPU time of the worker process since it started, by mode.");
  for_workers(s, [&](const auto& app, const auto& w, const auto& id, const auto& gen) {
    if (w.pid == 0) return;
    page.sample({{"app", app.name}, {"worker", id}, {"generation", gen}, {"mode", "user"}},
                w.cpu_user_s);
    page.sample({{"app", app.name}, {"worker", id}, {"generation", gen}, {"mode", "system"}},
                w.cpu_system_s);
  });
  page.family("clusterd_worker_tree_cpu_seconds", Type::Counter,
              "CPU time of every process that ever ran in the worker's cgroup, by mode "
              "(cpu.stat); only with a cgroup per worker.");
  for_workers(s, [&](const auto& app, const auto& w, const auto& id, const auto& gen) {
    if (w.pid == 0 || w.tree_cpu_user_s < 0) return;
    page.sample({{"app", app.name}, {"worker", id}, {"generation", gen}, {"mode", "user"}},
                w.tree_cpu_user_s);
    page.sample({{"app", app.name}, {"worker", id}, {"generation", gen}, {"mode", "system"}},
                w.tree_cpu_system_s);
  });
  live_family(page, s, "clusterd_worker_open_fds", Type::Gauge,
              "Open file descriptors of the worker process.", [](const W& w) {
                return R{w.fds >= 0, w.fds};
              });
  live_family(page, s, "clusterd_worker_uptime_seconds", Type::Gauge,
              "Seconds since the worker process started.", [](const W& w) {
                return R{true, w.uptime_s};
              });
}

void listener_queues(Page& page, const control::StatusSnapshot& s) {
  for (const bool limit : {false, true}) {
    page.family(limit ? "clusterd_listener_accept_queue_limit" : "clusterd_listener_accept_queue",
                Type::Gauge,
                limit ? "The accept queue's limit (the listen backlog)."
                      : "Connections waiting in a listening socket's accept queue: per worker for "
                        "reuseport listeners (a worker that does not accept shows here), per app "
                        "for shared ones.");
    for (const control::AppStatus& app : s.apps) {
      for (const control::QueueStatus& q : app.queues) {
        page.sample({{"app", app.name}, {"listener", q.listener}}, limit ? q.limit : q.queued);
      }
      for (const control::WorkerStatus& w : app.workers) {
        const std::string id = std::to_string(w.id);
        for (const control::QueueStatus& q : w.queues) {
          page.sample({{"app", app.name}, {"listener", q.listener}, {"worker", id}},
                      limit ? q.limit : q.queued);
        }
      }
    }
  }
}

void per_app(Page& page, const control::StatusSnapshot& s, const MetricCounters& c) {
  page.family("clusterd_app_instances_wanted", Type::Gauge,
              "Workers the app is configured to run.");
  for (const auto& app : s.apps) page.sample({{"app", app.name}}, app.instances);
  page.family("clusterd_app_instances", Type::Info,
              "Why the app runs that many workers (its instances: setting, or what auto found).");
  for (const auto& app : s.apps) {
    page.sample({{"app", app.name}, {"reason", app.instances_reason}}, 1);
  }
  page.family("clusterd_app_ready_workers", Type::Gauge, "Workers of the app that are ready.");
  for (const auto& app : s.apps) page.sample({{"app", app.name}}, app.ready);
  page.family("clusterd_app_generation", Type::Gauge,
              "The app's current generation (each reload that changes it adds one).");
  for (const auto& app : s.apps) page.sample({{"app", app.name}}, app.generation);
  page.family("clusterd_app_rollout_in_progress", Type::Gauge,
              "1 while a rollout of the app is in progress.");
  for (const auto& app : s.apps) page.sample({{"app", app.name}}, app.rollout.empty() ? 0 : 1);
  page.family("clusterd_app_rollout_phase", Type::Gauge,
              "The phase of the app's rollout in progress (canary, canary-wait, rolling, "
              "draining).");
  for (const auto& app : s.apps) {
    if (!app.rollout.empty()) page.sample({{"app", app.name}, {"phase", app.rollout}}, 1);
  }
  page.family("clusterd_app_rollouts", Type::Counter, "Rollouts that ended, by result.");
  for (const auto& [key, n] : c.rollouts) {
    page.sample({{"app", key.first}, {"result", key.second}}, static_cast<double>(n));
  }
  page.family("clusterd_app_log_dropped_bytes", Type::Counter,
              "Worker output dropped because a log sink could not keep up.");
  for (const auto& app : s.apps) {
    page.sample({{"app", app.name}}, static_cast<double>(app.log_dropped_bytes));
  }
  page.family("clusterd_worker_restarts", Type::Counter,
              "Unplanned ends of the slot's worker, by reason (exit, signal, spawn_failed, "
              "ready_timeout, watchdog, replaced); the restart policy decides what follows.");
  for (const auto& [key, n] : c.restarts) {
    const auto& [app, worker, reason] = key;
    page.sample({{"app", app}, {"worker", std::to_string(worker)}, {"reason", reason}},
                static_cast<double>(n));
  }
}

void master(Page& page, const control::StatusSnapshot& s, const MetricCounters& c) {
  const control::MasterStatus& m = s.master;
  page.family("clusterd_build", Type::Info, "The running clusterd's version.");
  page.sample({{"version", m.version}}, 1);
  page.family("clusterd_master_threads", Type::Gauge, "OS threads of the master process.");
  page.sample({}, m.threads);
  page.family("clusterd_processes", Type::Gauge,
              "Processes of the whole tree: the master, its workers and their descendants.");
  page.sample({}, s.totals.processes);
  page.family("clusterd_threads", Type::Gauge, "OS threads of the whole tree.");
  page.sample({}, s.totals.threads);
  page.family("clusterd_control_requests", Type::Counter,
              "Control requests answered, by verb and result.");
  for (const auto& [key, n] : c.requests) {
    page.sample({{"verb", key.first}, {"result", key.second}}, static_cast<double>(n));
  }
  page.family("clusterd_reloads", Type::Counter, "Reloads, by result (applied, refused).");
  for (const char* result : {"applied", "refused"}) {
    const auto it = c.reloads.find(result);
    page.sample({{"result", result}}, it == c.reloads.end() ? 0 : static_cast<double>(it->second));
  }
  page.family("clusterd_notify_rejected", Type::Counter,
              "sd_notify datagrams refused: from outside a worker's tree, or malformed.");
  page.sample({}, static_cast<double>(c.notify_rejected));
  page.family("clusterd_metrics_scrapes", Type::Counter, "Requests for this page.");
  page.sample({}, static_cast<double>(c.scrapes));
  page.family("clusterd_metrics_renders", Type::Counter,
              "Pages rendered for them; the other requests got the last page again.");
  page.sample({}, static_cast<double>(c.renders));
  page.family("clusterd_metrics_throttled", Type::Counter,
              "Requests for this page refused with 429: their peer asked too often.");
  page.sample({}, static_cast<double>(c.throttled));
  page.family("process_cpu_seconds", Type::Counter, "CPU time of the master process.");
  page.sample({}, m.cpu_user_s + m.cpu_system_s);
  page.family("process_resident_memory_bytes", Type::Gauge, "Resident memory of the master.");
  page.sample({}, static_cast<double>(m.rss_kb) * 1024);
  page.family("process_start_time_seconds", Type::Gauge,
              "When the master started, in seconds since the Unix epoch.");
  page.sample({}, std::round(m.start_time_s * 100) / 100);
  if (m.fds >= 0) {
    page.family("process_open_fds", Type::Gauge, "Open file descriptors of the master.");
    page.sample({}, m.fds);
  }
}

}  // namespace

std::uint64_t counter_sum(const MetricCounters& counters) {
  // Taken apart whole, so that a counter added to the struct breaks the build until it is here.
  const auto& [requests, reloads, restarts, rollouts, notify_rejected, scrapes, renders,
               throttled] = counters;
  (void)scrapes, (void)renders, (void)throttled;  // the endpoint's own: they change every time
  std::uint64_t sum = notify_rejected;
  for (const auto& entry : requests) sum += entry.second;
  for (const auto& entry : reloads) sum += entry.second;
  for (const auto& entry : restarts) sum += entry.second;
  for (const auto& entry : rollouts) sum += entry.second;
  return sum;
}

const char* metrics_content_type(bool openmetrics) {
  return openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                     : "text/plain; version=0.0.4; charset=utf-8";
}

std::string render_metrics(const control::StatusSnapshot& snapshot, const MetricCounters& counters,
                           bool openmetrics) {
  Page page(openmetrics);
  worker_states(page, snapshot);
  worker_resources(page, snapshot);
  listener_queues(page, snapshot);
  per_app(page, snapshot, counters);
  master(page, snapshot, counters);
  return page.finish();
}

HttpResponse health(const control::StatusSnapshot& snapshot) {
  std::string short_of;
  for (const control::AppStatus& app : snapshot.apps) {
    if (app.stopped || app.ready < app.instances) {
      short_of += fmt::format("{}: {}/{} ready{}\n", app.name, app.ready, app.instances,
                              app.stopped ? " (stopped)" : "");
    }
  }
  if (short_of.empty()) return {200, "text/plain; charset=utf-8", "ok\n"};
  return {503, "text/plain; charset=utf-8", short_of};
}

}  // namespace clusterd::daemon
