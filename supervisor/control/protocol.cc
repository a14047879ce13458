#include "supervisor/control/protocol.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>

namespace clusterd::control {

using json =
    nlohmann::ordered_json;  // keys in the order written: fewer allocations, readable output

namespace {

std::string line(const json& document) {
  return document.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

json envelope(bool ok) { return json{{"v", kProtocolVersion}, {"ok", ok}}; }

// An object built key by key for the per-worker parts of a status (1,024 workers: 25,000 keys).
// A braced json{{"key", value}, ...} builds a two-element array per pair and then searches the
// object for each key; these keys are distinct by construction, so each pair is appended.
class Fields {
 public:
  explicit Fields(std::size_t count) : out_(json::value_t::object) { object().reserve(count); }
  template <typename T>
  Fields& add(const char* key, T&& value) {
    object().emplace_back(key, json(std::forward<T>(value)));
    return *this;
  }
  // null where the value is unknown (negative)
  template <typename T>
  Fields& known(const char* key, T value) {
    return value < 0 ? add(key, nullptr) : add(key, value);
  }
  // null where there is no text
  Fields& text(const char* key, const std::string& value) {
    return value.empty() ? add(key, nullptr) : add(key, value);
  }
  json take() { return std::move(out_); }

 private:
  json::object_t& object() { return out_.get_ref<json::object_t&>(); }
  json out_;
};

json queues_json(const std::vector<QueueStatus>& queues) {
  json out = json::array();
  out.get_ref<json::array_t&>().reserve(queues.size());
  for (const QueueStatus& q : queues) {
    out.push_back(
        Fields(3).add("listener", q.listener).add("queued", q.queued).add("limit", q.limit).take());
  }
  return out;
}

// `value` to `scale`ths (1000: ms): the digits past those are noise, and dump() writes the
// shortest text that reads back as the same double.
double rounded(double value, double scale) { return std::round(value * scale) / scale; }

// A plain status leaves out what its table does not show (PSS, USS, fds, CPU seconds, the cgroup:
// read only with `detail`) and the fields at their default (no last words, no per-worker
// queues): the decoder gives those the same values. `detail` writes every field.
json worker_json(const WorkerStatus& w, bool detail) {
  Fields f(detail ? 23 : 16);
  f.add("id", w.id);
  f.known("pid", w.pid == 0 ? -1 : w.pid)
      .add("state", w.state)
      .add("generation", w.generation)
      .add("uptime_s", rounded(w.uptime_s, 1000))
      .add("restarts", w.restarts)
      .add("threads", w.threads)
      .add("rss_kb", w.rss_kb)
      .add("cpu_percent", rounded(w.cpu_percent, 100))
      .add("cpus", w.cpus)
      .add("processes", w.processes)
      .add("tree_threads", w.tree_threads)
      .text("last_exit", w.last_exit);
  if (detail || !w.last_words.empty()) f.text("last_words", w.last_words);
  f.add("status_text", w.status_text);
  if (detail) {
    f.known("pss_kb", w.pss_kb)
        .known("uss_kb", w.uss_kb)
        .known("fds", w.fds)
        .add("cpu_user_s", w.cpu_user_s)
        .add("cpu_system_s", w.cpu_system_s)
        .known("tree_cpu_user_s", w.tree_cpu_user_s)
        .known("tree_cpu_system_s", w.tree_cpu_system_s);
  }
  if (detail || !w.queues.empty()) f.add("accept_queues", queues_json(w.queues));
  if (detail) f.text("cgroup", w.cgroup);
  return f.take();
}

// Fields again: a braced json{} copies a nested array it is given (the workers, here) instead of
// moving it.
json snapshot_json(const StatusSnapshot& s) {
  json apps = json::array();
  for (const AppStatus& a : s.apps) {
    json workers = json::array();
    workers.get_ref<json::array_t&>().reserve(a.workers.size());
    for (const WorkerStatus& w : a.workers) workers.push_back(worker_json(w, s.detail));
    Fields app(13);
    app.add("name", a.name)
        .add("instances", a.instances)
        .add("instances_reason", a.instances_reason)
        .add("ready", a.ready)
        .add("generation", a.generation)
        .add("stopped", a.stopped)
        .add("logs", a.logs)
        .add("log_dropped_bytes", a.log_dropped_bytes)
        .add("accept_queues", queues_json(a.queues))
        .text("rollout", a.rollout)
        .text("next_restart", a.next_restart);
    if (!a.adopted.empty()) app.add("adopted", a.adopted);
    if (a.watching != 0) app.add("watching", a.watching);
    if (a.watch_pending) app.add("watch_pending", true);
    apps.push_back(app.add("workers", std::move(workers)).take());
  }
  json master = {{"pid", s.master.pid},
                 {"threads", s.master.threads},
                 {"rss_kb", s.master.rss_kb},
                 {"uptime_s", s.master.uptime_s},
                 {"config", s.master.config},
                 {"version", s.master.version},
                 {"fds", s.master.fds < 0 ? json(nullptr) : json(s.master.fds)},
                 {"cpu_user_s", s.master.cpu_user_s},
                 {"cpu_system_s", s.master.cpu_system_s},
                 {"start_time_s", s.master.start_time_s},
                 {"upgrades", s.master.upgrades},
                 {"upgraded_at_s", s.master.upgraded_at_s ? json(*s.master.upgraded_at_s) : json()},
                 {"cgroups", s.master.cgroups}};
  json totals = {{"processes", s.totals.processes}, {"threads", s.totals.threads}};
  return Fields(3)
      .add("master", std::move(master))
      .add("apps", std::move(apps))
      .add("totals", std::move(totals))
      .take();
}

// json::get<int>() of 1e300 is a float-to-int conversion out of range: undefined behaviour.
// Integer fields of a reply must be JSON integers within the target type's range.
template <typename T>
T checked(const json& value, const char* key) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    const bool fits = value.is_number_unsigned()  ? std::in_range<T>(value.get<std::uint64_t>())
                      : value.is_number_integer() ? std::in_range<T>(value.get<std::int64_t>())
                                                  : false;
    if (!fits) {
      throw ProtocolError(std::string("malformed reply from the daemon: '") + key +
                          "' is not an integer in range");
    }
  }
  return value.get<T>();
}

template <typename T>
T field(const json& object, const char* key, T fallback) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  return checked<T>(*it, key);
}

std::vector<QueueStatus> queues_from(const json& j, const char* key) {
  std::vector<QueueStatus> out;
  const auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const json& q : *it) {
    out.push_back(
        {field<std::string>(q, "listener", ""), field(q, "queued", 0u), field(q, "limit", 0u)});
  }
  return out;
}

StatusSnapshot snapshot_from(const json& j) {
  StatusSnapshot s;
  const json& m = j.at("master");
  s.master.pid = field(m, "pid", 0);
  s.master.threads = field(m, "threads", 0u);
  s.master.rss_kb = field<std::uint64_t>(m, "rss_kb", 0);
  s.master.uptime_s = field(m, "uptime_s", 0.0);
  s.master.config = field<std::string>(m, "config", "");
  s.master.version = field<std::string>(m, "version", "");
  s.master.fds = field(m, "fds", -1);
  s.master.cpu_user_s = field(m, "cpu_user_s", 0.0);
  s.master.cpu_system_s = field(m, "cpu_system_s", 0.0);
  s.master.start_time_s = field(m, "start_time_s", 0.0);
  s.master.cgroups = field<std::string>(m, "cgroups", "");
  s.master.upgrades = field(m, "upgrades", 0u);
  if (const double at = field(m, "upgraded_at_s", 0.0); at > 0) s.master.upgraded_at_s = at;
  for (const json& a : j.at("apps")) {
    AppStatus app;
    app.name = field<std::string>(a, "name", "");
    app.instances = field(a, "instances", 0u);
    app.instances_reason = field<std::string>(a, "instances_reason", "");
    app.ready = field(a, "ready", 0u);
    app.generation = field(a, "generation", 0u);
    app.stopped = field(a, "stopped", false);
    app.logs = field<std::string>(a, "logs", "");
    app.log_dropped_bytes = field<std::uint64_t>(a, "log_dropped_bytes", 0);
    app.queues = queues_from(a, "accept_queues");
    if (a.contains("rollout") && a["rollout"].is_string()) app.rollout = a["rollout"];
    if (a.contains("next_restart") && a["next_restart"].is_string()) {
      app.next_restart = a["next_restart"];
    }
    app.watching = field(a, "watching", 0u);
    app.watch_pending = field(a, "watch_pending", false);
    if (a.contains("adopted") && a["adopted"].is_array()) {
      for (const json& address : a["adopted"]) {
        if (address.is_string()) app.adopted.push_back(address.get<std::string>());
      }
    }
    for (const json& w : a.at("workers")) {
      WorkerStatus worker;
      worker.id = field(w, "id", 0u);
      worker.pid = field(w, "pid", 0);
      worker.state = field<std::string>(w, "state", "");
      worker.generation = field(w, "generation", 0u);
      worker.uptime_s = field(w, "uptime_s", 0.0);
      worker.restarts = field(w, "restarts", 0u);
      worker.threads = field(w, "threads", 0u);
      worker.rss_kb = field<std::uint64_t>(w, "rss_kb", 0);
      worker.cpu_percent = field(w, "cpu_percent", 0.0);
      worker.cpus = field<std::string>(w, "cpus", "");
      worker.processes = field(w, "processes", 0u);
      worker.tree_threads = field(w, "tree_threads", 0u);
      worker.last_exit = field<std::string>(w, "last_exit", "");
      worker.last_words = field<std::string>(w, "last_words", "");
      worker.status_text = field<std::string>(w, "status_text", "");
      worker.pss_kb = field<std::int64_t>(w, "pss_kb", -1);
      worker.uss_kb = field<std::int64_t>(w, "uss_kb", -1);
      worker.fds = field(w, "fds", -1);
      worker.cpu_user_s = field(w, "cpu_user_s", 0.0);
      worker.cpu_system_s = field(w, "cpu_system_s", 0.0);
      worker.tree_cpu_user_s = field(w, "tree_cpu_user_s", -1.0);
      worker.tree_cpu_system_s = field(w, "tree_cpu_system_s", -1.0);
      worker.queues = queues_from(w, "accept_queues");
      worker.cgroup = field<std::string>(w, "cgroup", "");
      s.detail = s.detail || w.contains("pss_kb");  // written only with detail
      app.workers.push_back(std::move(worker));
    }
    s.apps.push_back(std::move(app));
  }
  const json& t = j.at("totals");
  s.totals.processes = field(t, "processes", 0u);
  s.totals.threads = field(t, "threads", 0u);
  return s;
}

json log_json(const LogRecord& r) {
  return json{{"seq", r.seq},
              {"time_ms", r.time_ms},
              {"app", r.app},
              {"worker", r.worker},
              {"generation", r.generation},
              {"pid", r.pid},
              {"stream", r.err ? "stderr" : "stdout"},
              {"cut", r.cut},
              {"text", r.text}};
}

json event_json(const EventRecord& r) {
  json j{{"seq", r.seq},
         {"time_ms", r.time_ms},
         {"kind", r.kind},
         {"app", r.app.empty() ? json(nullptr) : json(r.app)},
         {"worker", r.worker < 0 ? json(nullptr) : json(r.worker)},
         {"generation", r.generation == 0 ? json(nullptr) : json(r.generation)},
         {"pid", r.pid == 0 ? json(nullptr) : json(r.pid)},
         {"reason", r.reason}};
  if (!r.last_words.empty()) j["last_words"] = r.last_words;
  return j;
}

LogRecord log_from(const json& j) {
  LogRecord r;
  r.seq = field<std::uint64_t>(j, "seq", 0);
  r.time_ms = field<std::int64_t>(j, "time_ms", 0);
  r.app = field<std::string>(j, "app", "");
  r.worker = field(j, "worker", 0u);
  r.generation = field(j, "generation", 0u);
  r.pid = field(j, "pid", 0);
  r.err = field<std::string>(j, "stream", "stdout") == "stderr";
  r.cut = field(j, "cut", false);
  r.text = field<std::string>(j, "text", "");
  return r;
}

EventRecord event_from(const json& j) {
  EventRecord r;
  r.seq = field<std::uint64_t>(j, "seq", 0);
  r.time_ms = field<std::int64_t>(j, "time_ms", 0);
  r.kind = field<std::string>(j, "kind", "");
  r.app = field<std::string>(j, "app", "");
  r.worker = field(j, "worker", -1);
  r.generation = field(j, "generation", 0u);
  r.pid = field(j, "pid", 0);
  r.reason = field<std::string>(j, "reason", "");
  r.last_words = field<std::string>(j, "last_words", "");
  return r;
}

json description_json(const AppDescription& d) {
  json fields = json::object();
  for (const auto& [key, value] : d.fields) fields[key] = value;
  json env = json::array();
  for (const auto& [name, value] : d.env) {
    env.push_back({{"name", name}, {"value", value ? json(*value) : json(nullptr)}});
  }
  json listeners = json::array();
  for (const DescribedListener& l : d.listeners) {
    listeners.push_back({{"name", l.name},
                         {"address", l.address},
                         {"mode", l.mode},
                         {"backlog", l.backlog},
                         {"adopt", l.adopt}});
  }
  json workers = json::array();
  for (const DescribedWorker& w : d.workers) {
    workers.push_back(Fields(5)
                          .add("id", w.id)
                          .add("state", w.state)
                          .known("pid", w.pid == 0 ? -1 : w.pid)
                          .text("last_exit", w.last_exit)
                          .text("last_words", w.last_words)
                          .take());
  }
  return Fields(6)
      .add("name", d.name)
      .add("fields", std::move(fields))
      .add("listeners", std::move(listeners))
      .add("adopted", d.adopted)
      .add("env", std::move(env))
      .add("workers", std::move(workers))
      .take();
}

AppDescription description_from(const json& j) {
  AppDescription d;
  d.name = field<std::string>(j, "name", "");
  for (const auto& [key, value] : j.at("fields").items()) {
    d.fields.emplace_back(key, value.get<std::string>());
  }
  for (const json& e : j.at("env")) {
    const json& value = e.at("value");
    d.env.emplace_back(e.at("name").get<std::string>(),
                       value.is_null() ? std::nullopt : std::optional(value.get<std::string>()));
  }
  for (const json& l : j.at("listeners")) {
    d.listeners.push_back({field<std::string>(l, "name", ""), field<std::string>(l, "address", ""),
                           field<std::string>(l, "mode", ""), field(l, "backlog", 0),
                           field(l, "adopt", false)});
  }
  d.adopted = j.at("adopted").get<std::vector<std::string>>();
  for (const json& w : j.at("workers")) {
    d.workers.push_back({field(w, "id", 0u), field<std::string>(w, "state", ""), field(w, "pid", 0),
                         field<std::string>(w, "last_exit", ""),
                         field<std::string>(w, "last_words", "")});
  }
  return d;
}

}  // namespace

ReplyLine encode_describe(const AppDescription& description) {
  json j = envelope(true);
  j["describe"] = description_json(description);
  return {line(j), true};
}

std::string describe_json(const AppDescription& description) {
  return description_json(description).dump(2, ' ', false, json::error_handler_t::replace);
}

ReplyLine encode_error(std::string_view message) {
  json j = envelope(false);
  j["error"] = message;
  return {line(j), false};
}

ReplyLine encode_done(std::string_view message) {
  json j = envelope(true);
  j["message"] = message;
  return {line(j), true};
}

ReplyLine encode_status(const StatusSnapshot& status) {
  json j = envelope(true);
  j["status"] = snapshot_json(status);
  return {line(j), true};
}

ReplyLine encode_progress(std::string_view message) {
  json j = envelope(true);
  j["progress"] = message;
  return {line(j), true};
}

ReplyLine encode_log(const LogRecord& r) {
  json j = envelope(true);
  j["log"] = log_json(r);
  return {line(j), true};
}

ReplyLine encode_event(const EventRecord& r) {
  json j = envelope(true);
  j["event"] = event_json(r);
  return {line(j), true};
}

std::string record_json(const LogRecord& record) { return line(log_json(record)); }
std::string record_json(const EventRecord& record) { return line(event_json(record)); }

ReplyLine encode_version(std::string_view version) {
  json j = envelope(true);
  j["version"] = version;
  j["message"] =
      "clusterd " + std::string(version) + ", control protocol " + std::to_string(kProtocolVersion);
  return {line(j), true};
}

Reply decode_reply(std::string_view text) {
  Reply reply;
  try {
    const json j = json::parse(text);
    reply.ok = j.at("ok").get<bool>();
    reply.version = checked<int>(j.at("v"), "v");
    reply.error = field<std::string>(j, "error", "");
    reply.message = field<std::string>(j, "message", "");
    if (j.contains("status")) reply.status = snapshot_from(j["status"]);
    if (j.contains("progress")) reply.progress = j["progress"].get<std::string>();
    if (j.contains("log")) reply.log = log_from(j["log"]);
    if (j.contains("event")) reply.event = event_from(j["event"]);
    if (j.contains("describe")) reply.description = description_from(j["describe"]);
  } catch (const json::exception& e) {
    throw ProtocolError(std::string("malformed reply from the daemon: ") + e.what());
  }
  return reply;
}

std::string status_json(const StatusSnapshot& status) { return snapshot_json(status).dump(2); }

}  // namespace clusterd::control
