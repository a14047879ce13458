"""A model-based random walk of every clusterctl command against the real daemon (walk.sh).

  walk.py config    writes the first config and the memory hog into $WALK_DIR
  walk.py run       walks: steps in a random order from WALK_SEED, each followed by a wait for
                    quiescence and every check of walk_check.py

Two apps of hello-worker (ready: notify): `web`, a reuseport listener, and `api`, a shared one
with max_memory, whose workers carry a hog (hog.py) that takes 256 MiB when the walk writes
the flag file hog.SLOT. Steps: scale N, scale +N/-N, reload (good, refused, rolled back, with or
without an instance change, of all or one app), restart, restart --worker, stop, start, kill -9,
a max_memory replacement, a live upgrade. Environment: WALK_DIR, CLUSTERCTL, HELLO, DAEMON,
WEB_PORT, API_PORT, WALK_BOUND (seconds any one wait may take), WALK_SEED, WALK_STEPS,
WALK_SECONDS (default: 25 steps).
"""
import json
import os
import random
import signal
import sys
import time
import traceback

from walk_check import (check_counters_never_go_back, check_events, check_listeners,
                        check_metrics, check_orphans, check_probes, check_proc, check_status,
                        settled)
from walk_model import MAX_INSTANCES, MIN_UPTIME_S, Expect, Model
from walk_observe import Ctl, Failure, age_s, get, scrape, wait_until

HOG = """import os, time
# A part of an api worker (started beside it, a child of its pid): takes 256 MiB, over the app's
# max_memory, once the walk writes the flag of its slot; the flag is claimed by renaming it, so
# one worker takes it. Holds no socket of the worker's.
os.closerange(3, 1024)
flag = os.path.join(os.environ["WALK_MARK"], "hog." + os.environ["CLUSTER_WORKER_ID"])
while True:
    try:
        os.rename(flag, "%s.%d" % (flag, os.getpid()))
        break
    except FileNotFoundError:
        time.sleep(0.05)
hog = bytearray(256 * 1024 * 1024)
for i in range(0, len(hog), 4096):
    hog[i] = 1
while True:
    time.sleep(3600)
"""


class Walk:
    def __init__(self):
        env = os.environ
        self.dir = env["WALK_DIR"]
        self.hello = env["HELLO"]
        self.bound = float(env.get("WALK_BOUND") or 60)
        self.model = Model(int(env["WEB_PORT"]), int(env["API_PORT"]))
        self.daemon = int(env.get("DAEMON") or 0)
        self.ctl = Ctl(env.get("CLUSTERCTL", ""), self.bound * 2)
        self.identity = {}  # pid -> (app, slot, generation) of every worker seen
        self.last_seq = 0
        self.tally = {}     # connection outcomes
        self.counters = {}  # the highest restart counters seen
        self.renders = None  # clusterd_metrics_renders_total of the last page read
        self.kinds = {}     # steps by kind

    # ---- the config file

    def render(self, bad=None):
        lines = ["control: { socket: %s }" % json.dumps(self.dir + "/ctl.sock"),
                 "metrics: %s" % json.dumps("unix:" + self.dir + "/metrics.sock"), "apps:"]
        for app in self.model.apps:
            n, rev, is_bad = self.model.file_spec(app, bad)
            if is_bad:
                command = ["sh", "-c", "exit 1"]
            elif app.hog:
                command = ["bash", "-c", "%s %s/hog.py & exec %s" %
                           (sys.executable, self.dir, self.hello)]
            else:
                command = [self.hello]
            lines += ["  %s:" % app.name, "    command: %s" % json.dumps(command),
                      "    instances: %d" % n, "    ready: notify", "    min_uptime: %dms" %
                      (MIN_UPTIME_S * 1000), "    env: { WALK_MARK: %s, WALK_REV: \"%d\" }" %
                      (json.dumps(self.dir), rev)]
            if app.hog:
                lines += ["    max_memory: 128M", "    memory_check_interval: 200ms"]
            lines += ["    listen:", "      http: { address: \"127.0.0.1:%d\", mode: %s }" %
                      (app.port, app.mode)]
        return "\n".join(lines) + "\n"

    def write(self, text):
        path = os.path.join(self.dir, "c.yaml")
        with open(path + ".new", "w") as f:
            f.write(text)
        os.rename(path + ".new", path)

    def write_config(self):
        with open(os.path.join(self.dir, "hog.py"), "w") as f:
            f.write(HOG)
        self.write(self.render())

    # ---- commands

    def expect_reply(self, args, rc, *parts):
        got, out = self.ctl.run(*args)
        if got != rc or not all(p in out for p in parts):
            raise Failure("clusterctl %s: exit %d %r; expected exit %d with %s" %
                          (" ".join(args), got, out, rc, parts))
        return out

    def step_scale(self, rng, app, ex):
        m = self.model
        if rng.random() < 0.5:
            n = rng.randint(1, MAX_INSTANCES)
            self.expect_reply(["scale", app.name, str(n)], 0,
                              "scaled %s from %d to %d" % (app.name, app.instances, n))
            m.resize(app, n, ex)
            return "scale %s %d" % (app.name, n)
        delta = rng.choice([d for d in (-2, -1, 1, 2) if app.instances + d <= MAX_INSTANCES])
        by = "%+d" % delta
        if app.instances + delta < 1:
            self.expect_reply(["scale", app.name, by], 1, "cannot scale %s by %s" % (app.name, by),
                              "use `stop %s`" % app.name)
            ex.quiet = True
            return "scale %s %s (refused)" % (app.name, by)
        self.expect_reply(["scale", app.name, by], 0, "scaled %s from %d to %d (%s)" %
                          (app.name, app.instances, app.instances + delta, by))
        m.resize(app, app.instances + delta, ex)
        return "scale %s %s" % (app.name, by)

    def step_reload(self, rng, app, ex):
        only = app.name if rng.random() < 0.25 else None
        what = "reload" + (" " + only if only else "")
        if only and rng.random() < 0.3:
            what += " (unchanged)"
        else:
            app.rev += 1
        if rng.random() < 0.4:
            app.cfg_instances = rng.randint(1, MAX_INSTANCES)
            what += " instances %d" % app.cfg_instances
        self.write(self.render())
        rc = self.model.reload(only, ex)
        self.expect_reply(["reload"] + ([only] if only else []), rc)
        return what + " (%s rev %d)" % (app.name, app.rev)

    def step_reload_refused(self, rng, app, ex):
        good = self.render()
        broken = rng.choice([
            ("a syntax error", good + "apps: [\n"),
            ("an unknown key", good.replace("  %s:\n" % app.name,
                                            "  %s:\n    comand: [\"x\"]\n" % app.name)),
            ("instances: many", good.replace("    instances: %d\n" % app.cfg_instances,
                                             "    instances: many\n", 1)),
            ("a taken address", good.replace(
                "127.0.0.1:%d" % self.model.apps[1].port, "127.0.0.1:%d" %
                self.model.apps[0].port))])
        self.write(broken[1])
        self.expect_reply(["reload"], 1, "reload refused, nothing changed")
        self.write(good)
        self.model.reloads["refused"] += 1
        ex.reload, ex.quiet = "refused", True
        return "reload refused (%s)" % broken[0]

    def step_reload_fails(self, rng, app, ex):
        n = rng.randint(1, MAX_INSTANCES) if rng.random() < 0.5 else app.cfg_instances
        bad = (app.name, n)
        self.write(self.render(bad))
        what = "reload %s to a command that exits 1, instances %d" % (app.name, n)
        if app.stopped:  # accepted: it runs at `start`; the good file then replaces it
            self.expect_reply(["reload"], self.model.reload(None, ex, bad),
                              "%s is stopped" % app.name)
            self.write(self.render())
            self.expect_reply(["reload"], self.model.reload(None, ex))
            return what + " (stopped; then reloaded good)"
        rc = self.model.reload(None, ex, bad)
        self.expect_reply(["reload"], rc, "%s worker 0 of generation %d failed: exit 1" %
                          (app.name, app.latest),
                          "rolled back to generation %d" % app.generation)
        self.write(self.render())
        return what

    def step_restart(self, rng, app, ex):
        worker = rng.randint(0, app.instances) if rng.random() < 0.6 else None
        args = ["restart", app.name] + (["--worker", str(worker)] if worker is not None else [])
        what = " ".join(args)
        if app.stopped:
            self.expect_reply(args, 1, "%s is stopped; `clusterctl start %s` starts it" %
                              (app.name, app.name))
            ex.quiet = True
            return what + " (refused: stopped)"
        if worker == app.instances:
            self.expect_reply(args, 1, "%s has no worker %d" % (app.name, worker))
            ex.quiet = True
            return what + " (refused: no such worker)"
        self.expect_reply(args, 0, "restarting %s" % app.name)
        for i in range(app.instances) if worker is None else [worker]:
            self.model.replace(app, i, ex)
            app.slots[i].last_exit = {"exit 0"}
        return what

    def step_stop(self, rng, app, ex):
        self.expect_reply(["stop", app.name], 0, "stopping %s" % app.name)
        self.model.stop(app, ex)
        return "stop %s" % app.name

    def step_start(self, rng, app, ex):
        self.expect_reply(["start", app.name], 0, "starting %s" % app.name)
        self.model.start(app)
        return "start %s" % app.name

    def step_kill(self, rng, app, ex):
        i = rng.randrange(app.instances)
        pid = app.slots[i].pid
        # Older than min_uptime: its end is not a quick death (no backoff, no crash loop).
        wait_until(self.bound, "pid %d older than min_uptime" % pid,
                   lambda: None if (age_s(pid) or 0) > MIN_UPTIME_S + 0.2 else "younger")
        os.kill(pid, signal.SIGKILL)
        self.model.replace(app, i, ex, "signal SIGKILL")
        app.count(i, "signal")
        app.slots[i].last_exit = {"signal SIGKILL"}
        return "kill -9 %s[%d] pid %d" % (app.name, i, pid)

    def step_memory(self, rng, app, ex):
        i = rng.randrange(app.instances)
        s = app.slots[i]
        with open(os.path.join(self.dir, "hog.%d" % i), "w"):
            pass
        ex.events.append(("memory-limit of %s[%d]" % (app.name, i),
                          {"kind": "memory-limit", "app": app.name, "worker": i, "pid": s.pid,
                           "generation": s.gen}))
        self.model.replace(app, i, ex)
        app.count(i, "replaced")
        s.last_exit = {"exit 0"}
        return "max_memory: %s[%d] pid %d hogs" % (app.name, i, s.pid)

    def step_upgrade(self, rng, app, ex):
        self.model.upgrades += 1
        self.expect_reply(["upgrade"], 0, "upgraded: clusterd", "upgrade %d" % self.model.upgrades)
        self.model.reloads = {"applied": 0, "refused": 0}  # counters start again
        ex.upgrade = True
        return "upgrade"

    STEPS = {  # kind: (weight, whether it applies to the app, the step)
        "scale": (4, lambda app: True, step_scale),
        "reload": (3, lambda app: True, step_reload),
        "reload-refused": (1, lambda app: True, step_reload_refused),
        "reload-rolled-back": (2, lambda app: True, step_reload_fails),
        "restart": (3, lambda app: True, step_restart),
        "stop": (1, lambda app: not app.stopped, step_stop),
        "start": (2, lambda app: True, step_start),
        "kill-9": (3, lambda app: not app.stopped, step_kill),
        "max-memory": (2, lambda app: app.hog and not app.stopped, step_memory),
        "upgrade": (1, lambda app: True, step_upgrade),
    }

    def choose(self, rng):
        kinds = sorted(self.STEPS)
        while True:
            kind = rng.choices(kinds, [self.STEPS[k][0] for k in kinds])[0]
            app = rng.choice(self.model.apps)
            if self.STEPS[kind][1](app):
                return kind, app

    # ---- one step and its checks

    def check(self, ex, before):
        wait_until(self.bound, "quiescence", lambda: settled(
            self.model, ex, self.ctl.status(), self.daemon))
        status = self.ctl.status()
        check_status(self.model, ex, status, self.daemon)
        check_proc(status, self.daemon)
        samples = self.fresh_scrape()
        check_counters_never_go_back(self.counters, status, samples)
        check_metrics(self.model, status, samples)
        events = self.ctl.events()
        if ex.upgrade:
            new = events  # the new master's ring starts with the upgrade
        else:
            if events and events[-1]["seq"] < self.last_seq:
                raise Failure("event seq went back from %d to %d" %
                              (self.last_seq, events[-1]["seq"]))
            new = [e for e in events if e["seq"] > self.last_seq]
        self.last_seq = events[-1]["seq"] if events else 0
        check_events(self.model, ex, new, self.identity, status, before)
        for a in status["apps"]:
            for w in a["workers"]:
                if w["pid"]:
                    self.identity[w["pid"]] = (a["name"], w["id"], w["generation"])
        check_probes(self.model, self.ctl.run("status", "--check"),
                     get(os.path.join(self.dir, "metrics.sock"), "/healthz", self.bound))
        check_orphans(self.dir, self.daemon)
        check_listeners(self.model, status, 10, self.bound, self.tally)

    def fresh_scrape(self):
        """A /metrics page rendered since the last one the walk read: a page is served again
        while it is young and nothing changed, or while rendering is over its budget
        (docs/metrics.md, Floods), and then it says what was, not what is."""
        page = {}

        def rendered():
            page["samples"] = scrape(os.path.join(self.dir, "metrics.sock"), self.bound)
            renders = page["samples"].get(("clusterd_metrics_renders_total", frozenset()))
            return None if renders != self.renders else "render %s served again" % renders
        wait_until(self.bound, "a freshly rendered /metrics page", rendered)
        self.renders = page["samples"].get(("clusterd_metrics_renders_total", frozenset()))
        return page["samples"]

    def run(self, seed, steps, seconds):
        rng = random.Random(seed)
        deadline = time.monotonic() + seconds if seconds else None
        start = time.monotonic()
        history = []
        k = 0
        ex = Expect()
        for app in self.model.apps:
            for s in app.slots:
                s.expect = "new"
        what = "the first workers"
        try:
            self.check(ex, set())
            while (not steps or k < steps) and (deadline is None or time.monotonic() < deadline):
                k += 1
                kind, app = self.choose(rng)
                self.kinds[kind] = self.kinds.get(kind, 0) + 1
                before = {s.pid for a in self.model.apps for s in a.slots if s.pid}
                ex = Expect()
                what = "step %d: %s %s" % (k, kind, app.name)  # until the step says more
                what = "step %d: %s" % (k, self.STEPS[kind][2](self, rng, app, ex))
                history.append(what)
                print("walk: " + what, flush=True)
                self.check(ex, before)
        except Exception as e:  # a check that failed, or an answer not as documented
            why = str(e) if isinstance(e, Failure) else "%s: %r" % (type(e).__name__, e)
            if not isinstance(e, Failure):
                traceback.print_exc()
            print("walk failed: seed %d, %s: %s" % (seed, what, why))
            print("      the steps: " + "; ".join(history[-12:]))
            print("      replay: WALK_SEED=%d WALK_STEPS=%d bash tests/e2e/walk.sh" % (seed, k))
            return 1
        t = self.tally
        print("walk: seed %d, %d steps in %.0f s (%s); connections: %d answered, %d refused, "
              "%d timed out, %d failed otherwise" %
              (seed, k, time.monotonic() - start,
               ", ".join("%s %d" % kv for kv in sorted(self.kinds.items())),
               t.get("answered", 0), t.get("refused", 0), t.get("timeout", 0), t.get("error", 0)))
        return 0


def main():
    walk = Walk()
    if sys.argv[1:] == ["config"]:
        walk.write_config()
        return 0
    if sys.argv[1:] != ["run"]:
        sys.exit(__doc__)
    seed = int(os.environ.get("WALK_SEED") or random.SystemRandom().randrange(1, 1 << 31))
    steps = int(os.environ.get("WALK_STEPS") or 0)
    seconds = float(os.environ.get("WALK_SECONDS") or 0)
    if not steps and not seconds:
        steps = 25
    print("walk: seed %d (WALK_SEED=%d replays it)" % (seed, seed), flush=True)
    return walk.run(seed, steps, seconds)


if __name__ == "__main__":
    sys.exit(main())
