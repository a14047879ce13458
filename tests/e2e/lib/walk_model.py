"""The model of the random walk (walk.py): what the cluster should be after each command, from
the contract (docs/reload.md, docs/control-protocol.md, docs/metrics.md), never from the daemon's
own answers. Each step changes the model and says what it expects to see (an Expect): which
workers are replaced, which exits and events it causes.
"""

MAX_INSTANCES = 4
MIN_UPTIME_S = 0.3  # min_uptime of both apps: a kill -9 of an older worker is not a quick death


class Slot:
    def __init__(self, gen):
        self.gen = gen           # the generation status shows for the slot
        self.last_exit = {None}  # the values its LAST EXIT may have
        self.pid = None          # its worker's pid as status last showed it
        self.expect = "none"     # after the step: "same" pid, a "new" one, or "none"


class App:
    def __init__(self, name, mode, port, hog):
        self.name, self.mode, self.port, self.hog = name, mode, port, hog
        # The file: instances and revision (an env value) of the app's section.
        self.cfg_instances, self.rev = 2, 1
        # The spec in force: (revision, bad); bad: a command that exits 1 at once.
        self.spec = (1, False)
        self.instances, self.stopped = 2, False
        self.generation = self.latest = 1
        self.slots = [Slot(1) for _ in range(2)]
        self.restarts = {}  # slot index -> {reason: count}, kept for slots scaled away

    def count(self, index, reason):
        per = self.restarts.setdefault(index, {})
        per[reason] = per.get(reason, 0) + 1


class Expect:
    """What one step should cause, besides the model's end state."""

    def __init__(self):
        self.gone = {}      # pid -> (app, slot, generation, exit reason): must exit
        self.idle = []      # (app, slot, generation): stopped or scaled away, a `stopped` event
        self.events = []    # (description, {field: value}): some new event must match
        self.reload = None  # "applied" or "refused": counted in clusterd_reloads_total
        self.upgrade = False
        self.quiet = False  # no worker may start or exit (a refused reload, a refusal)


class Model:
    def __init__(self, web_port, api_port):
        self.apps = [App("web", "reuseport", web_port, False), App("api", "shared", api_port, True)]
        self.upgrades = 0
        self.reloads = {"applied": 0, "refused": 0}  # since the master last started or upgraded

    # ---- what happens to slots

    @staticmethod
    def replace(app, i, ex, reason="exit 0"):
        """Slot i's worker is replaced by a new one (the old one exits with `reason`)."""
        s = app.slots[i]
        if s.pid:
            ex.gone[s.pid] = (app.name, i, s.gen, reason)
        s.expect = "new"

    def resize(self, app, n, ex):
        """The app's slots become n: slots beyond stop and go, new ones start (unless stopped)."""
        for i in range(n, len(app.slots)):
            s = app.slots[i]
            if s.pid:
                ex.gone[s.pid] = (app.name, i, s.gen, "exit 0")
                ex.idle.append((app.name, i, s.gen))
        del app.slots[n:]
        while len(app.slots) < n:
            s = Slot(app.generation)
            s.expect = "none" if app.stopped else "new"
            app.slots.append(s)
        if n != app.instances:
            ex.events.append(("a `scaled` event", {"kind": "scaled", "app": app.name}))
        app.instances = n

    def stop(self, app, ex):
        for i, s in enumerate(app.slots):
            if s.pid:
                ex.gone[s.pid] = (app.name, i, s.gen, "exit 0")
                ex.idle.append((app.name, i, s.gen))
                s.last_exit = {"exit 0"}
            s.expect = "none"
        app.stopped = True

    def start(self, app):
        if app.stopped:
            for s in app.slots:
                s.gen = app.generation
                s.expect = "new"
        app.stopped = False

    # ---- reloads

    def file_spec(self, app, bad=None):
        """(instances, revision, bad) of the app's section in the file: `bad` is (app name,
        instances) when the step wrote a failing command for that app."""
        if bad and bad[0] == app.name:
            return bad[1], app.rev, True
        return app.cfg_instances, app.rev, False

    def reload(self, only, ex, bad=None):
        """A reload the daemon accepted, of the file as file_spec() says; returns the exit code
        clusterctl should give (1 when an app rolled back)."""
        rc = 0
        self.reloads["applied"] += 1
        ex.reload = "applied"
        ex.events.append(("a `reload` event", {"kind": "reload"}))
        for app in self.apps:
            if only and app.name != only:
                continue
            n, rev, is_bad = self.file_spec(app, bad)
            if only == app.name or (rev, is_bad) != app.spec:
                if self.roll(app, n, rev, is_bad, ex):
                    rc = 1
            elif n != app.instances:
                self.resize(app, n, ex)
        return rc

    def roll(self, app, n, rev, bad, ex):
        """The app moves to a new generation; True when it fails and rolls back."""
        app.latest += 1
        if app.stopped:  # nothing runs: the generation is what `start` starts
            app.generation = app.latest
            self.resize(app, n, ex)
            for s in app.slots:
                s.gen = app.generation
            app.spec = (rev, bad)
            return False
        if bad:
            self.roll_back(app, n, ex)
            return True
        app.generation = app.latest
        ex.events.append(("rollout-started at generation %d" % app.generation,
                          {"kind": "rollout-started", "app": app.name,
                           "generation": app.generation}))
        ex.events.append(("rollout-done at generation %d" % app.generation,
                          {"kind": "rollout-done", "app": app.name,
                           "generation": app.generation}))
        for i in range(min(n, app.instances)):
            self.replace(app, i, ex)
            app.slots[i].gen = app.generation
            app.slots[i].last_exit = {"exit 0"}
        self.resize(app, n, ex)
        app.spec = (rev, bad)
        return False

    def roll_back(self, app, n, ex):
        """The canary (slot 0) of the new generation exits 1: counted for slot 0, whose worker
        keeps running; the app keeps its generation and the instances it had."""
        bad = app.latest
        app.count(0, "exit")
        app.slots[0].last_exit = {"exit 1"}
        ex.events += [
            ("the canary spawned at generation %d" % bad,
             {"kind": "spawned", "app": app.name, "worker": 0, "generation": bad}),
            ("the canary's exit 1 at generation %d" % bad,
             {"kind": "exited", "app": app.name, "worker": 0, "generation": bad,
              "reason": "exit 1"}),
            ("a rollback", {"kind": "rollback", "app": app.name}),
            ("rollout-done back at generation %d" % app.generation,
             {"kind": "rollout-done", "app": app.name, "generation": app.generation})]
        # Slots the failed reload would have removed were stopped at once: the rollback starts
        # them again (a fresh slot if it was already gone, hence no LAST EXIT maybe).
        for i in range(n, app.instances):
            self.replace(app, i, ex)
            app.slots[i].last_exit = {"exit 0", None}
