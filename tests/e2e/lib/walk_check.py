"""The checks of the random walk (walk.py), run once the cluster is quiescent after a step: status
against the model and against /proc, the metrics against status and the model, the events
against the step, no orphan, and every listener accepting (or refusing at once when stopped).
Each raises walk_observe.Failure naming what differs.
"""
from walk_observe import Failure, alive, children, marked, ppid, probe, threads, tree

# Nothing the walk does may cause these.
FORBIDDEN = {"backoff", "failed", "spawn-failed", "ready-timeout", "stop-timeout", "watchdog"}
WORKER_KINDS = {"spawned", "ready", "exited", "stopping", "stopped", "memory-limit",
                "replacing"} | FORBIDDEN


def by_name(status):
    return {a["name"]: a for a in status["apps"]}


def settled(model, ex, status, daemon):
    """None once the cluster is quiescent: no rollout, one worker per slot, every wanted worker
    running (none in a stopped app), the master's children exactly the workers, every worker
    the step replaces replaced. Otherwise what is still missing."""
    apps = by_name(status)
    pids = []
    for app in model.apps:
        a = apps.get(app.name)
        if a is None:
            return "no app %s in status" % app.name
        if a["rollout"]:
            return "%s: rollout %s in progress" % (app.name, a["rollout"])
        ids = [w["id"] for w in a["workers"]]
        if ids != list(range(a["instances"])):
            return "%s: workers %s for %d instances" % (app.name, ids, a["instances"])
        want = "idle" if a["stopped"] else "running"
        for w in a["workers"]:
            if w["state"] != want:
                return "%s[%d] is %s" % (app.name, w["id"], w["state"])
            if w["pid"]:
                pids.append(w["pid"])
        for i, s in enumerate(app.slots):
            if s.expect == "new" and i < len(a["workers"]) and a["workers"][i]["pid"] == s.pid:
                return "%s[%d] still runs pid %s" % (app.name, i, s.pid)
    kids = set(children(daemon))
    if kids != set(pids):
        return "the master's children %s, the workers %s" % (sorted(kids), sorted(pids))
    for pid in ex.gone:
        if alive(pid):
            return "pid %d is still alive" % pid
    return None


def check_status(model, ex, status, daemon):
    """Status equals the model; then the model takes the pids status shows."""
    m = status["master"]
    if m["pid"] != daemon:
        raise Failure("master pid %s, not %d" % (m["pid"], daemon))
    if m["upgrades"] != model.upgrades:
        raise Failure("master.upgrades %s, the model %d" % (m["upgrades"], model.upgrades))
    apps = by_name(status)
    for app in model.apps:
        a = apps[app.name]
        want = {"instances": app.instances, "stopped": app.stopped, "generation": app.generation,
                "ready": 0 if app.stopped else app.instances}
        for key, value in want.items():
            if a[key] != value:
                raise Failure("%s: %s is %s, the model says %s" % (app.name, key, a[key], value))
        for i, (s, w) in enumerate(zip(app.slots, a["workers"])):
            name = "%s[%d]" % (app.name, i)
            restarts = sum(app.restarts.get(i, {}).values())
            if w["generation"] != s.gen:
                raise Failure("%s: generation %s, the model %d" % (name, w["generation"], s.gen))
            if w["restarts"] != restarts:
                raise Failure("%s: restarts %s, the model %d (%s)" %
                              (name, w["restarts"], restarts, app.restarts.get(i, {})))
            if w["last_exit"] not in s.last_exit:
                raise Failure("%s: last_exit %r, the model %s" % (name, w["last_exit"], s.last_exit))
            if s.expect == "same" and w["pid"] != s.pid:
                raise Failure("%s: pid %s, but nothing should have replaced pid %s" %
                              (name, w["pid"], s.pid))
            if s.expect == "new" and (not w["pid"] or w["pid"] == s.pid or w["pid"] in ex.gone):
                raise Failure("%s: pid %s, a new worker expected (was %s)" % (name, w["pid"], s.pid))
            if s.expect == "none" and w["pid"]:
                raise Failure("%s: pid %s, no worker expected" % (name, w["pid"]))
    for app in model.apps:
        for s, w in zip(app.slots, apps[app.name]["workers"]):
            s.pid, s.expect, s.last_exit = w["pid"], "same" if w["pid"] else "none", {w["last_exit"]}


def check_proc(status, daemon):
    """Every pid of status is a live child of the master; threads and processes per worker and
    in the totals are what /proc says."""
    workers = [(a["name"], w) for a in status["apps"] for w in a["workers"] if w["pid"]]
    for name, w in workers:
        pid = w["pid"]
        if not alive(pid) or ppid(pid) != daemon:
            raise Failure("%s[%d] pid %d: alive %s, parent %s, not the master %d" %
                          (name, w["id"], pid, alive(pid), ppid(pid), daemon))
        procs = tree(pid)
        got = (w["threads"], w["processes"], w["tree_threads"])
        want = (threads(pid), len(procs), sum(threads(p) for p in procs))
        if got != want:
            raise Failure("%s[%d]: status says threads, processes, tree threads %s; /proc %s" %
                          (name, w["id"], got, want))
    procs = tree(daemon)
    got = (status["totals"]["processes"], status["totals"]["threads"], status["master"]["threads"])
    want = (len(procs), sum(threads(p) for p in procs), threads(daemon))
    if got != want:
        raise Failure("totals processes, threads and master threads %s; /proc %s" % (got, want))


def check_metrics(model, status, samples):
    def value(name, **labels):
        return samples.get((name, frozenset(labels.items())))

    for a in status["apps"]:
        for name, want in (("clusterd_app_instances_wanted", a["instances"]),
                           ("clusterd_app_ready_workers", a["ready"]),
                           ("clusterd_app_generation", a["generation"]),
                           ("clusterd_app_rollout_in_progress", 0)):
            if value(name, app=a["name"]) != want:
                raise Failure("%s{app=%s} is %s, status %s" % (name, a["name"],
                                                              value(name, app=a["name"]), want))
    series = {dict(k)["app"] + "/" + dict(k)["worker"] + "@" + dict(k)["generation"]
              for (n, k) in samples if n == "clusterd_worker_up"}
    want = {"%s/%d@%d" % (a["name"], w["id"], w["generation"])
            for a in status["apps"] for w in a["workers"]}
    if series != want:
        raise Failure("worker series (app/slot@generation) %s; status %s" %
                      (sorted(series), sorted(want)))
    for a in status["apps"]:
        for w in a["workers"]:
            labels = {"app": a["name"], "worker": str(w["id"]), "generation": str(w["generation"])}
            got = (value("clusterd_worker_up", **labels), value("clusterd_worker_ready", **labels))
            if got != (1 if w["pid"] else 0, 1 if w["state"] == "running" else 0):
                raise Failure("up, ready of %s: %s; status pid %s %s" %
                              (labels, got, w["pid"], w["state"]))
            if w["pid"]:
                got = (value("clusterd_worker_processes", **labels),
                       value("clusterd_worker_threads", **labels))
                if got != (w["processes"], w["tree_threads"]):
                    raise Failure("processes, threads of %s: %s; status %s" %
                                  (labels, got, (w["processes"], w["tree_threads"])))
    got = {(dict(k)["app"], int(dict(k)["worker"]), dict(k)["reason"]): v
           for (n, k), v in samples.items() if n == "clusterd_worker_restarts_total" and v}
    want = {(app.name, i, reason): n for app in model.apps
            for i, per in app.restarts.items() for reason, n in per.items()}
    if got != want:
        raise Failure("clusterd_worker_restarts_total %s; the model %s" % (got, want))
    for a in status["apps"]:
        for w in a["workers"]:
            n = sum(v for (app, i, _), v in got.items() if app == a["name"] and i == w["id"])
            if n != w["restarts"]:
                raise Failure("%s[%d]: restarts_total sums to %s, status says %s" %
                              (a["name"], w["id"], n, w["restarts"]))
    got = (value("clusterd_processes"), value("clusterd_threads"))
    if got != (status["totals"]["processes"], status["totals"]["threads"]):
        raise Failure("clusterd_processes, clusterd_threads %s; status totals %s" %
                      (got, status["totals"]))
    for result, n in model.reloads.items():
        got = value("clusterd_reloads_total", result=result) or 0
        if got != n:
            raise Failure("clusterd_reloads_total{result=%s} is %s, the model %d" % (result, got, n))


def check_counters_never_go_back(seen, status, samples):
    """Restart counters per slot (status) and per slot and cause (metrics) are never lower than
    the walk saw them before, across scales, reloads, rollbacks and upgrades. `seen` keeps the
    highest value of each."""
    now = {("status", a["name"], w["id"]): w["restarts"] for a in status["apps"]
           for w in a["workers"]}
    now.update({("metrics",) + tuple(sorted(k)): v for (n, k), v in samples.items()
                if n == "clusterd_worker_restarts_total"})
    for key, before in seen.items():
        if key in now and now[key] < before:
            raise Failure("restart counter %s went back from %d to %d" % (key, before, now[key]))
        if key[0] == "metrics" and key not in now:
            raise Failure("restart counter %s (%d) is gone from the metrics" % (key, before))
    seen.update(now)


def matches(event, fields):
    return all(event.get(k) == v for k, v in fields.items())


def check_events(model, ex, new, identity, status, before):
    """The step's new events tell its story. `identity` (pid -> (app, slot, generation)) holds
    every worker seen; `before` the pids status showed before the step."""
    for e in new:
        where = "event %s" % e
        if e["kind"] in FORBIDDEN:
            raise Failure("unexpected %s" % where)
        if e["kind"] in WORKER_KINDS and (e["worker"] is None or not e["generation"]):
            raise Failure("%s names no worker or no generation" % where)
        who = (e["app"], e["worker"], e["generation"])
        if e["kind"] == "spawned":
            identity[e["pid"]] = who
        elif e["pid"] and e["pid"] in identity and identity[e["pid"]] != who:
            raise Failure("%s: pid %d is %s[%d] of generation %d" %
                          ((where, e["pid"]) + identity[e["pid"]]))
    for pid, (app, i, gen, reason) in ex.gone.items():
        want = {"kind": "exited", "pid": pid, "app": app, "worker": i, "generation": gen,
                "reason": reason}
        if not any(matches(e, want) for e in new):
            raise Failure("no event %s among %s" % (want, [e for e in new if e["pid"] == pid]))
    for app, i, gen in ex.idle:
        want = {"kind": "stopped", "app": app, "worker": i, "generation": gen}
        if not any(matches(e, want) for e in new):
            raise Failure("no event %s; `stopped` events: %s" %
                          (want, [e for e in new if e["kind"] == "stopped"]))
    for a in status["apps"]:
        for w in a["workers"]:
            if not w["pid"] or w["pid"] in before:
                continue
            for kind in ("spawned", "ready"):
                want = {"kind": kind, "pid": w["pid"], "app": a["name"], "worker": w["id"],
                        "generation": w["generation"]}
                if not any(matches(e, want) for e in new):
                    raise Failure("no event %s among %s" %
                                  (want, [e for e in new if e["pid"] == w["pid"]]))
    for what, want in ex.events:
        if not any(matches(e, want) for e in new):
            raise Failure("no event for %s %s" % (what, want))
    if ex.quiet:
        moved = [e for e in new if e["kind"] in ("spawned", "exited")]
        if moved:
            raise Failure("workers started or exited: %s" % moved)
    if ex.reload == "refused" and not any(e["kind"] == "reload-refused" for e in new):
        raise Failure("no `reload-refused` event")
    if ex.upgrade:
        workers = sum(1 for a in status["apps"] for w in a["workers"] if w["pid"])
        first = new[0] if new else {}
        want = "(upgrade %d): %d workers taken over" % (model.upgrades, workers)
        if first.get("kind") != "upgrade" or want not in first.get("reason", ""):
            raise Failure("the first event after the upgrade is %s, not one saying %r" %
                          (first, want))


def check_probes(model, check, healthz):
    """`status --check` (exit code, output) and /healthz (code, body) say what the model does: all
    ready, or each stopped app `app: 0/N ready (stopped)`."""
    lines = ["%s: 0/%d ready (stopped)" % (a.name, a.instances) if a.stopped else
             "%s: %d/%d ready" % (a.name, a.instances, a.instances) for a in model.apps]
    stopped = [line for a, line in zip(model.apps, lines) if a.stopped]
    want = (1 if stopped else 0, "\n".join(lines))
    if check != want:
        raise Failure("status --check gave %s; the model %s" % (check, want))
    want = (503, "\n".join(stopped) + "\n") if stopped else (200, "ok\n")
    if healthz != want:
        raise Failure("/healthz gave %s; the model %s" % (healthz, want))


def check_orphans(mark, daemon):
    """No process with this walk's mark lives outside the master's tree."""
    tree_now = set(tree(daemon))
    strays = {pid: app for pid, app in marked(mark).items() if pid not in tree_now and alive(pid)}
    if strays:
        raise Failure("processes of the apps outside the master's tree: %s" % strays)


def check_listeners(model, status, n, bound, tally):
    """n new connections to each app's port: all answered by one of its workers (200), or all
    refused at once when it is stopped. Adds the outcomes to `tally`."""
    apps = by_name(status)
    for app in model.apps:
        slot_of = {w["pid"]: str(w["id"]) for w in apps[app.name]["workers"] if w["pid"]}
        results = probe(app.port, n, bound)
        for outcome, _ in results:
            tally[outcome] = tally.get(outcome, 0) + 1
        for outcome, detail in results:
            if app.stopped and outcome != "refused":
                raise Failure("%s is stopped, yet a connection to %d: %s %s" %
                              (app.name, app.port, outcome, detail or ""))
            if app.stopped:
                continue
            if outcome != "answered" or detail[0] != 200:
                raise Failure("%s: a connection to %d: %s %s (%s)" %
                              (app.name, app.port, outcome, detail or "", summary(results)))
            if slot_of.get(detail[2]) != detail[1]:
                raise Failure("%s: answered by worker %s/%s, not one of %s" %
                              (app.name, detail[1], detail[2], slot_of))


def summary(results):
    count = {}
    for outcome, _ in results:
        count[outcome] = count.get(outcome, 0) + 1
    return ", ".join("%d %s" % (v, k) for k, v in sorted(count.items()))
