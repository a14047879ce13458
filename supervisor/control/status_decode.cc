// `clusterctl status` (the table) and `status --check`: the status of a reply decoded as the
// library's parser reads it, straight into a StatusSnapshot. The reply of 1,024 workers is
// ~210 KB; building its document (an ordered_json of 25,000 keys) and looking each field up in it
// was most of the client's time. (status_text.cc does the same for `status --json`.)
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "supervisor/control/protocol.h"

namespace clusterd::control {

namespace {

using json = nlohmann::ordered_json;

// One value as the parser read it (a string is the parser's own, to be moved from).
struct Scalar {
  enum Type { Null, Bool, Int, Uint, Float, String } type = Null;
  bool b = false;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  std::string* s = nullptr;
};

// What decode_reply's field<T>() takes: null (the default stays) or a value of the type, an
// integer within the target's range (not a float, even 1.0), any number for a double. False for
// anything else: decode_reply would throw there.
template <typename T>
bool take(const Scalar& v, T& out) {
  if (v.type == Scalar::Null) return true;
  if constexpr (std::is_same_v<T, bool>) {
    if (v.type != Scalar::Bool) return false;
    out = v.b;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (v.type != Scalar::String) return false;
    out = std::move(*v.s);
  } else if constexpr (std::is_same_v<T, double>) {
    if (v.type == Scalar::Int)
      out = static_cast<double>(v.i);
    else if (v.type == Scalar::Uint)
      out = static_cast<double>(v.u);
    else if (v.type == Scalar::Float)
      out = v.d;
    else
      return false;
  } else {
    if (v.type == Scalar::Uint && std::in_range<T>(v.u))
      out = static_cast<T>(v.u);
    else if (v.type == Scalar::Int && std::in_range<T>(v.i))
      out = static_cast<T>(v.i);
    else
      return false;
  }
  return true;
}

// The keys decode_reply reads, per object, in the order the master writes them.
enum EnvelopeKey { kV, kOk, kError, kMessage, kStatus, kProgress, kLog, kEvent, kDescribe };
constexpr std::string_view kEnvelopeKeys[] = {"v",        "ok",  "error", "message", "status",
                                              "progress", "log", "event", "describe"};
enum StatusKey { kMaster, kApps, kTotals };
constexpr std::string_view kStatusKeys[] = {"master", "apps", "totals"};
constexpr std::string_view kMasterKeys[] = {
    "pid",        "threads",      "rss_kb",       "uptime_s", "config",        "version", "fds",
    "cpu_user_s", "cpu_system_s", "start_time_s", "upgrades", "upgraded_at_s", "cgroups"};
enum AppKey { kAQueues = 8, kARollout, kANextRestart, kAAdopted, kAWorkers = 14 };
constexpr std::string_view kAppKeys[] = {
    "name",         "instances", "instances_reason",  "ready",         "generation",
    "stopped",      "logs",      "log_dropped_bytes", "accept_queues", "rollout",
    "next_restart", "adopted",   "watching",          "watch_pending", "workers"};
enum WorkerKey { kWPss = 15, kWQueues = 22 };
constexpr std::string_view kWorkerKeys[] = {"id",
                                            "pid",
                                            "state",
                                            "generation",
                                            "uptime_s",
                                            "restarts",
                                            "threads",
                                            "rss_kb",
                                            "cpu_percent",
                                            "cpus",
                                            "processes",
                                            "tree_threads",
                                            "last_exit",
                                            "last_words",
                                            "status_text",
                                            "pss_kb",
                                            "uss_kb",
                                            "fds",
                                            "cpu_user_s",
                                            "cpu_system_s",
                                            "tree_cpu_user_s",
                                            "tree_cpu_system_s",
                                            "accept_queues",
                                            "cgroup"};
constexpr std::string_view kQueueKeys[] = {"listener", "queued", "limit"};
constexpr std::string_view kTotalsKeys[] = {"processes", "threads"};

// `clusterctl status` (the table) and `status --check`: the reply's status decoded straight into
// a snapshot. It takes only what it is sure of: a successful reply whose every field has the type
// decode_reply expects. Anything else (an error reply, a field of another type or out of range,
// a key twice, a member decode_reply would decode besides the status) makes it give up, and the
// caller decodes the line with decode_reply, which gives the same snapshot or the error, worded
// as always (tests/unit/status_decode_test.cc compares the two).
class StatusDecoder {
 public:
  StatusSnapshot status;

  bool null() { return value({}); }
  bool boolean(bool b) { return value({Scalar::Bool, b}); }
  bool number_integer(std::int64_t i) { return value({Scalar::Int, false, i}); }
  bool number_unsigned(std::uint64_t u) { return value({Scalar::Uint, false, 0, u}); }
  bool number_float(double d, const std::string&) { return value({Scalar::Float, false, 0, 0, d}); }
  bool string(std::string& s) { return value({Scalar::String, false, 0, 0, 0, &s}); }
  bool binary(json::binary_t&) { return false; }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;
  }
  bool key(std::string& name) {
    Frame& f = stack_.back();
    const std::span<const std::string_view> names = keys(f.kind);
    f.pending = -1;
    // The next key in the master's order first, then all.
    const std::size_t guess = static_cast<std::size_t>(f.last + 1);
    if (guess < names.size() && names[guess] == name) {
      f.pending = static_cast<int>(guess);
    } else {
      for (std::size_t k = 0; k < names.size(); ++k) {
        if (names[k] == name) f.pending = static_cast<int>(k);
      }
    }
    if (f.pending < 0) return true;  // a key decode_reply does not read either
    f.last = f.pending;
    if (has(f.seen, f.pending)) return false;  // twice: the document keeps the last, not this
    f.seen |= 1u << f.pending;
    // A reply that carries more than a status: decode_reply's.
    return f.kind != Kind::Envelope || f.pending < kProgress;
  }
  // After a parse that returned true: what decode_reply requires was all there.
  bool complete() const { return ok_ && has(envelope_, kV) && has(envelope_, kStatus); }

 private:
  enum class Kind {
    Envelope,
    Status,
    Master,
    Apps,
    App,
    Workers,
    Worker,
    Queues,
    Queue,
    Adopted,
    Totals,
    Skip
  };
  struct Frame {
    Kind kind;
    bool of_worker = false;  // Queues, Queue: the worker's own (else the app's)
    std::uint32_t seen = 0;  // the known keys read in this object, a bit each
    int pending = -1;        // the known key whose value comes next; -1: one of no interest
    int last = -1;           // the known key read last
  };

  static bool has(std::uint32_t seen, int key) { return ((seen >> key) & 1u) != 0; }
  static std::span<const std::string_view> keys(Kind kind) {
    switch (kind) {
      case Kind::Envelope:
        return kEnvelopeKeys;
      case Kind::Status:
        return kStatusKeys;
      case Kind::Master:
        return kMasterKeys;
      case Kind::App:
        return kAppKeys;
      case Kind::Worker:
        return kWorkerKeys;
      case Kind::Queue:
        return kQueueKeys;
      case Kind::Totals:
        return kTotalsKeys;
      default:
        return {};
    }
  }

  bool value(const Scalar& v) {
    if (stack_.empty()) return false;  // the reply is not an object
    const Frame& f = stack_.back();
    const int k = f.pending;
    switch (f.kind) {
      case Kind::Skip:
        return true;
      case Kind::Adopted:  // only its strings count
        if (v.type == Scalar::String) app().adopted.push_back(std::move(*v.s));
        return true;
      case Kind::Apps:
      case Kind::Workers:
      case Kind::Queues:
        return false;  // an element that is not an object
      default:
        break;
    }
    if (k < 0) return true;
    switch (f.kind) {
      case Kind::Envelope:
        return envelope_value(k, v);
      case Kind::Master:
        return master_value(k, v);
      case Kind::App:
        return app_value(k, v);
      case Kind::Worker:
        return worker_value(k, v);
      case Kind::Queue:
        return queue_value(k, v);
      case Kind::Totals:
        return take(v, k == 0 ? status.totals.processes : status.totals.threads);
      default:
        return false;  // Status: each of its members is a container
    }
  }

  bool envelope_value(int k, const Scalar& v) {
    switch (k) {
      case kV:
        return v.type != Scalar::Null && take(v, version_);
      case kOk:
        return v.type == Scalar::Bool && (ok_ = v.b);  // an error: decode_reply's
      case kError:
      case kMessage: {
        std::string text;
        return take(v, text);
      }
      default:
        return false;  // status: not an object
    }
  }

  bool master_value(int k, const Scalar& v) {
    MasterStatus& m = status.master;
    switch (k) {
      case 0:
        return take(v, m.pid);
      case 1:
        return take(v, m.threads);
      case 2:
        return take(v, m.rss_kb);
      case 3:
        return take(v, m.uptime_s);
      case 4:
        return take(v, m.config);
      case 5:
        return take(v, m.version);
      case 6:
        return take(v, m.fds);
      case 7:
        return take(v, m.cpu_user_s);
      case 8:
        return take(v, m.cpu_system_s);
      case 9:
        return take(v, m.start_time_s);
      case 10:
        return take(v, m.upgrades);
      case 11: {
        double at = 0;
        if (!take(v, at)) return false;
        if (at > 0) m.upgraded_at_s = at;
        return true;
      }
      default:
        return take(v, m.cgroups);
    }
  }

  bool app_value(int k, const Scalar& v) {
    AppStatus& a = app();
    switch (k) {
      case 0:
        return take(v, a.name);
      case 1:
        return take(v, a.instances);
      case 2:
        return take(v, a.instances_reason);
      case 3:
        return take(v, a.ready);
      case 4:
        return take(v, a.generation);
      case 5:
        return take(v, a.stopped);
      case 6:
        return take(v, a.logs);
      case 7:
        return take(v, a.log_dropped_bytes);
      case kAQueues:
      case kAAdopted:
        return true;  // not an array: none
      case kARollout:
        if (v.type == Scalar::String) a.rollout = std::move(*v.s);
        return true;  // anything else: none
      case kANextRestart:
        if (v.type == Scalar::String) a.next_restart = std::move(*v.s);
        return true;
      case 12:
        return take(v, a.watching);
      case 13:
        return take(v, a.watch_pending);
      default:
        return v.type == Scalar::Null;  // workers: null is none, a scalar is wrong
    }
  }

  bool worker_value(int k, const Scalar& v) {
    WorkerStatus& w = worker();
    switch (k) {
      case 0:
        return take(v, w.id);
      case 1:
        return take(v, w.pid);
      case 2:
        return take(v, w.state);
      case 3:
        return take(v, w.generation);
      case 4:
        return take(v, w.uptime_s);
      case 5:
        return take(v, w.restarts);
      case 6:
        return take(v, w.threads);
      case 7:
        return take(v, w.rss_kb);
      case 8:
        return take(v, w.cpu_percent);
      case 9:
        return take(v, w.cpus);
      case 10:
        return take(v, w.processes);
      case 11:
        return take(v, w.tree_threads);
      case 12:
        return take(v, w.last_exit);
      case 13:
        return take(v, w.last_words);
      case 14:
        return take(v, w.status_text);
      case kWPss:
        status.detail = true;  // written only with detail, null or not
        return take(v, w.pss_kb);
      case 16:
        return take(v, w.uss_kb);
      case 17:
        return take(v, w.fds);
      case 18:
        return take(v, w.cpu_user_s);
      case 19:
        return take(v, w.cpu_system_s);
      case 20:
        return take(v, w.tree_cpu_user_s);
      case 21:
        return take(v, w.tree_cpu_system_s);
      case kWQueues:
        return true;  // not an array: none
      default:
        return take(v, w.cgroup);
    }
  }

  bool queue_value(int k, const Scalar& v) {
    QueueStatus& q = queues(stack_.back().of_worker).back();
    if (k == 0) return take(v, q.listener);
    return take(v, k == 1 ? q.queued : q.limit);
  }

  // The frame a container opens, under `parent`; nullopt where decode_reply would throw (or
  // decode something this does not).
  std::optional<Frame> child(const Frame& parent, bool object) {
    const int k = parent.pending;
    const Frame skip{Kind::Skip};
    switch (parent.kind) {
      case Kind::Skip:
      case Kind::Adopted:
        return skip;  // not a string: ignored
      case Kind::Apps:
        if (!object) return std::nullopt;
        status.apps.emplace_back();
        return Frame{Kind::App};
      case Kind::Workers:
        if (!object) return std::nullopt;
        app().workers.emplace_back();
        return Frame{Kind::Worker};
      case Kind::Queues:
        if (!object) return std::nullopt;
        queues(parent.of_worker).emplace_back();
        return Frame{Kind::Queue, parent.of_worker};
      default:
        break;
    }
    if (k < 0) return skip;  // the value of a key decode_reply does not read
    switch (parent.kind) {
      case Kind::Envelope:
        if (k == kStatus && object) return Frame{Kind::Status};
        return std::nullopt;
      case Kind::Status:
        if (k == kMaster && object) return Frame{Kind::Master};
        if (k == kApps && !object) return Frame{Kind::Apps};
        if (k == kTotals && object) return Frame{Kind::Totals};
        return std::nullopt;
      case Kind::App:
        if (k == kAQueues || k == kAAdopted) {
          if (object) return skip;  // not an array: none
          return Frame{k == kAQueues ? Kind::Queues : Kind::Adopted};
        }
        if (k == kARollout || k == kANextRestart) return skip;  // not a string: none
        if (k == kAWorkers && !object) return Frame{Kind::Workers};
        return std::nullopt;
      case Kind::Worker:
        if (k != kWQueues) return std::nullopt;
        return object ? skip : Frame{Kind::Queues, true};
      default:
        return std::nullopt;  // a scalar field
    }
  }

  bool open(bool object) {
    if (stack_.empty()) {
      if (!object) return false;
      stack_.push_back({Kind::Envelope});
      return true;
    }
    const std::optional<Frame> frame = child(stack_.back(), object);
    if (!frame) return false;
    stack_.push_back(*frame);
    return true;
  }

  bool close() {
    const Frame f = stack_.back();
    stack_.pop_back();
    switch (f.kind) {
      case Kind::Envelope:
        envelope_ = f.seen;
        return true;
      case Kind::Status:  // decode_reply's at() of each
        return has(f.seen, kMaster) && has(f.seen, kApps) && has(f.seen, kTotals);
      case Kind::App:
        return has(f.seen, kAWorkers);
      default:
        return true;
    }
  }

  AppStatus& app() { return status.apps.back(); }
  WorkerStatus& worker() { return app().workers.back(); }
  std::vector<QueueStatus>& queues(bool of_worker) {
    return of_worker ? worker().queues : app().queues;
  }

  std::vector<Frame> stack_;
  std::uint32_t envelope_ = 0;  // the envelope's keys, once it is closed
  bool ok_ = false;
  int version_ = 0;
};

}  // namespace

std::optional<StatusSnapshot> reply_status(const std::string& line) {
  StatusDecoder decoder;
  if (!json::sax_parse(line, &decoder) || !decoder.complete()) return std::nullopt;
  return std::move(decoder.status);
}

StatusReply decode_status_reply(const std::string& line, bool json) {
  StatusReply out;
  if (json) {
    out.json = reply_status_json(line);
  } else {
    out.snapshot = reply_status(line);
  }
  return out;
}

}  // namespace clusterd::control
