// `ready:` (a mode, or a probe of each worker's own port) and what a probe needs: a listener with
// `port_per_worker`, whose ports must fit below 65536 and clear every other listener's.
#include <algorithm>
#include <cctype>
#include <tuple>

#include "config/values.h"
#include "config/walker.h"

namespace clusterd::config {

namespace {

constexpr Duration kMinProbeInterval{10};
constexpr std::size_t kMaxProbePath = 1024;

const char* const kProbeNeeds =
    "(a probe to a shared or reuseport socket cannot tell which worker answered)";

bool method_ok(std::string_view method) {
  return !method.empty() && method.size() <= 16 &&
         std::all_of(method.begin(), method.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool path_ok(std::string_view path) {
  return !path.empty() && path.size() <= kMaxProbePath && path.front() == '/' &&
         std::all_of(path.begin(), path.end(), [](char c) { return c > ' ' && c < 127; });
}

// The ports of a listener: [first, last] (last may pass 65535), one per worker with
// port_per_worker.
struct PortRange {
  unsigned first = 0;
  unsigned last = 0;
};

PortRange range_of(const ListenerSpec& l, const AppSpec& app) {
  const unsigned workers = l.port_per_worker ? std::max(1u, app.instances.count.value_or(1)) : 1;
  return {l.address.port, l.address.port + workers - 1};
}

bool same_host(const Address& a, const Address& b) {
  const auto wildcard = [](const Address& x) { return x.host == "0.0.0.0" || x.host == "::"; };
  return a.family == b.family && (a.host == b.host || wildcard(a) || wildcard(b));
}

}  // namespace

// `ready: exec|notify|listen|fd|tcp`, `ready: {http: "GET /healthz", listener: NAME, interval:
// 250ms}` or `ready: {tcp: NAME, interval: 250ms}`.
void Walker::ready(const Entry& k, AppSpec& app) {
  if (k.value.IsScalar() && k.value.Scalar() == "http") {
    error(k.value_at, k.path, "http needs the request to send: ready: {http: \"GET /healthz\"}");
    return;
  }
  if (!k.value.IsMap()) {
    if (auto v = one_of<ReadyMode>(k, {{"exec", ReadyMode::Exec},
                                       {"notify", ReadyMode::Notify},
                                       {"listen", ReadyMode::Listen},
                                       {"fd", ReadyMode::Fd},
                                       {"tcp", ReadyMode::Tcp}})) {
      app.ready = *v;
    }
    return;
  }
  auto entries = map_entries(k.value, k.value_at, k.path, {"http", "tcp", "listener", "interval"});
  if (!entries) return;
  std::optional<ReadyMode> mode;
  bool listener_given = false;
  for (const Entry& e : *entries) {
    if (e.key == "interval") {
      if (auto d = duration(e, true)) {
        if (*d < kMinProbeInterval) {
          error(e.value_at, e.path, "expected at least 10ms, got " + e.value.Scalar());
        } else {
          app.probe.interval = *d;
        }
      }
      continue;
    }
    const std::optional<std::string> text = string(e);
    if (!text) continue;
    if (e.key == "listener" || e.key == "tcp") {
      if (listener_given) {
        error(e.key_at, e.path, "names the listener a second time (tcp: NAME and listener: NAME)");
      }
      listener_given = true;
      app.probe.listener = *text;
    }
    if (e.key == "tcp" || e.key == "http") {
      if (mode) {
        error(e.key_at, e.path, "a probe is http or tcp, not both");
        continue;
      }
      mode = e.key == "tcp" ? ReadyMode::Tcp : ReadyMode::Http;
    }
    if (e.key == "http") {
      const std::size_t space = text->find(' ');
      app.probe.method = space == std::string::npos ? "GET" : text->substr(0, space);
      app.probe.path = space == std::string::npos ? *text : text->substr(space + 1);
      if (!method_ok(app.probe.method) || !path_ok(app.probe.path)) {
        error(e.value_at, e.path,
              "expected \"METHOD /path\" (an upper-case method, a path of at most 1024 printable "
              "characters without spaces), got " +
                  quoted(*text));
      }
    }
  }
  if (!mode) {
    error(k.value_at, k.path, "expected http: \"GET /path\" or tcp: LISTENER");
    return;
  }
  app.ready = *mode;
}

// A probe's listener: the one named, else the app's only port_per_worker listener in mode worker.
void Walker::ready_probe(const std::vector<Entry>& entries, AppSpec& app) {
  if (!probed(app.ready)) return;
  const auto at =
      std::find_if(entries.begin(), entries.end(), [](const Entry& k) { return k.key == "ready"; });
  if (at == entries.end()) return;
  const std::string what = std::string("ready: ") + to_string(app.ready);
  const auto own = [](const ListenerSpec& l) {
    return l.mode == ListenMode::Worker && l.port_per_worker;
  };
  if (!app.probe.listener.empty()) {
    const auto named =
        std::find_if(app.listeners.begin(), app.listeners.end(),
                     [&](const ListenerSpec& l) { return l.name == app.probe.listener; });
    if (named == app.listeners.end()) {
      error(at->value_at, at->path,
            what + " names listener '" + app.probe.listener + "', which the app does not have");
    } else if (!own(*named)) {
      error(at->value_at, at->path,
            what + " probes each worker's own port: listener '" + named->name +
                "' needs mode: worker and port_per_worker: true " + kProbeNeeds);
    }
    return;
  }
  std::vector<std::string> names;
  for (const ListenerSpec& l : app.listeners) {
    if (own(l)) names.push_back(l.name);
  }
  if (names.size() == 1) {
    app.probe.listener = names[0];
  } else if (names.empty()) {
    error(at->value_at, at->path,
          what +
              " probes each worker's own port: it needs a listener with mode: worker and "
              "port_per_worker: true, and the app has none " +
              kProbeNeeds);
  } else {
    error(at->value_at, at->path,
          what + " finds " + std::to_string(names.size()) + " port_per_worker listeners (" +
              names[0] + ", " + names[1] + (names.size() > 2 ? ", ..." : "") +
              "): name one with listener: NAME");
  }
}

void Walker::port_per_worker(const Entry& k, ListenerSpec& spec) {
  spec.port_per_worker_at = k.value_at;
  if (auto v = one_of<bool>(k, {{"true", true}, {"false", false}})) spec.port_per_worker = *v;
}

// port_per_worker: a port of each worker's own to bind, so a TCP one of its own.
void Walker::port_per_worker_fits(const ListenerSpec& spec, const std::string& path) {
  if (spec.mode != ListenMode::Worker) {
    error(spec.port_per_worker_at, path,
          "needs mode: worker (each worker binds its own port; a " +
              std::string(to_string(spec.mode)) + " socket is the master's, one for all)");
  } else if (spec.address.family == Address::Family::Unix) {
    error(spec.port_per_worker_at, path,
          "needs a TCP address (" + spec.address.text + " is a unix socket)");
  } else if (spec.address.port == 0) {
    error(spec.port_per_worker_at, path, "needs a port other than 0 (worker N binds the port + N)");
  }
}

// Each port_per_worker listener's ports (port .. port + instances - 1, with a fixed instances)
// must end at 65535 and overlap no other listener's port on the same host. A base port that is
// another's is the listener walk's report already; two ranges that overlap are told at the later.
void Walker::port_ranges(const Config& config) {
  const auto later = [](const Mark& a, const Mark& b) {
    return std::tie(a.line, a.column) > std::tie(b.line, b.column);
  };
  for (const AppSpec& app : config.apps) {
    for (const ListenerSpec& l : app.listeners) {
      if (!l.port_per_worker || l.mode != ListenMode::Worker || l.address.port == 0 ||
          l.address.family == Address::Family::Unix) {
        continue;
      }
      const std::string path = "apps." + app.name + ".listen." + l.name + ".port_per_worker";
      const PortRange mine = range_of(l, app);
      const std::string ports =
          "ports " + std::to_string(mine.first) + "-" + std::to_string(mine.last) +
          " (one per worker, instances: " + std::to_string(mine.last - mine.first + 1) + ")";
      if (mine.last > 65535) {
        error(l.port_per_worker_at, path, ports + " pass 65535");
        continue;
      }
      const auto overlaps = [&](const ListenerSpec& o, const AppSpec& o_app) {
        if (&o == &l || o.address.family == Address::Family::Unix || o.address.port == 0 ||
            o.address.port == l.address.port || !same_host(l.address, o.address) ||
            (o.port_per_worker && later(o.at, l.at))) {
          return false;
        }
        const PortRange theirs = range_of(o, o_app);
        return theirs.first <= mine.last && theirs.last >= mine.first;
      };
      bool told = false;
      for (const AppSpec& other_app : config.apps) {
        for (const ListenerSpec& o : other_app.listeners) {
          if (told || !overlaps(o, other_app)) continue;
          told = true;
          error(l.port_per_worker_at, path,
                ports + " overlap " + o.address.text +
                    (o.port_per_worker ? " (port_per_worker)" : "") + " of apps." + other_app.name +
                    ".listen." + o.name + " at line " + std::to_string(o.at.line));
        }
      }
    }
  }
}

// `port_env: NAME`: a variable name a shell could set, and none of the contract's own.
void Walker::port_env(const Entry& k, ListenerSpec& spec) {
  spec.port_env_at = k.value_at;
  const std::optional<std::string> name = string(k);
  if (!name) return;
  const bool valid =
      std::isalpha(static_cast<unsigned char>(name->front())) != 0 || name->front() == '_';
  if (!valid || name->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                        "0123456789_") != std::string::npos) {
    error(k.value_at, k.path,
          "expected a variable name (letters, digits and _, not starting with a digit); got " +
              quoted(*name));
    return;
  }
  if (name->rfind("CLUSTER_", 0) == 0 || *name == "LISTEN_PID" || *name == "LISTEN_FDS" ||
      *name == "LISTEN_FDNAMES" || *name == "NOTIFY_SOCKET" || *name == "WATCHDOG_USEC" ||
      *name == "WATCHDOG_PID") {
    error(k.value_at, k.path,
          *name + " is one of the variables clusterd sets itself; pick another");
    return;
  }
  spec.port_env = *name;
}

// port_env: a port to tell, so a TCP address with a port of its own.
void Walker::port_env_fits(const ListenerSpec& spec, const std::string& path) {
  if (spec.address.family == Address::Family::Unix) {
    error(spec.port_env_at, path,
          "needs a TCP address (" + spec.address.text + " is a unix socket)");
  } else if (spec.address.port == 0) {
    error(spec.port_env_at, path, "needs a port other than 0 (" + spec.address.text + ")");
  }
}

// One listener per variable, and not a variable of the app's env: as either would replace the
// other, the config says which it means.
void Walker::port_envs(const Config& config) {
  for (const AppSpec& app : config.apps) {
    for (std::size_t i = 0; i < app.listeners.size(); ++i) {
      const ListenerSpec& l = app.listeners[i];
      if (l.port_env.empty()) continue;
      const std::string path = "apps." + app.name + ".listen." + l.name + ".port_env";
      for (std::size_t j = 0; j < i; ++j) {
        if (app.listeners[j].port_env == l.port_env) {
          error(l.port_env_at, path,
                l.port_env + " is already the port of listener " + app.listeners[j].name);
        }
      }
      for (const auto& [name, value] : app.env) {
        if (name == l.port_env) {
          error(l.port_env_at, path,
                l.port_env + " is also set by apps." + app.name +
                    ".env; the listener's port would replace it: remove one");
        }
      }
    }
  }
}

}  // namespace clusterd::config
