"""Reads clusterd's /metrics with Debian's prometheus_client parsers (the reference ones).

  metrics.py check TEXT OPENMETRICS STATUS_JSON
      Parses both formats strictly, checks the naming rules (clusterd_ or process_ prefix, base
      units, _total counters, known label names, never a pid, no series twice) and that both
      formats carry the same series, then compares the per-worker numbers with the status and
      with /proc read right after. Prints a summary; exits 1 naming the first problem.
  metrics.py get FILE NAME [LABEL=VALUE...]
      Prints the value of the one sample of FILE (text format) with that name and labels, or
      "absent".
  metrics.py sum FILE NAME [LABEL=VALUE...]
      Prints the sum of the samples of FILE named NAME whose labels include these (0 if none).
"""
import json
import os
import sys

# This directory has an http.py of its own, which would hide the standard library's from the
# client library.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

from prometheus_client.openmetrics import parser as om_parser
from prometheus_client.parser import text_string_to_metric_families

LABELS = {"app", "worker", "generation", "listener", "state", "mode", "reason", "result", "verb",
          "version", "phase", "last_exit"}


def fail(message):
    print("metrics.py: " + message)
    sys.exit(1)


def samples_of(families):
    out = {}
    for family in families:
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in out:
                fail("series %s%s appears twice" % key)
            out[key] = (family, s.value)
    return out


def check_names(families):
    for f in families:
        if not (f.name.startswith("clusterd_") or f.name.startswith("process_")):
            fail("family %s is outside the clusterd_ and process_ namespaces" % f.name)
        for s in f.samples:
            if f.type == "counter" and not s.name.endswith(("_total", "_created")):
                fail("counter sample %s does not end in _total" % s.name)
            if f.type != "counter" and s.name.endswith("_total"):
                fail("%s ends in _total but is a %s" % (s.name, f.type))
            for unit in ("_kb", "_ms", "_percent", "_mb"):
                if unit in s.name:
                    fail("%s is not in base units" % s.name)
            for label in s.labels:
                if label not in LABELS:
                    fail("%s has label %s, not one of %s" % (s.name, label, sorted(LABELS)))


def tree(pid):
    """The pids of pid's tree, from /proc's children lists."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, task)) as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def threads_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return 0


def compare_with_proc(text, status):
    value = lambda name, labels: text.get((name, tuple(sorted(labels.items()))), (None, None))[1]
    compared = 0
    for app in status["apps"]:
        for w in app["workers"]:
            if w["pid"] == 0:
                continue
            labels = {"app": app["name"], "worker": str(w["id"]), "generation": str(w["generation"])}
            pids = tree(w["pid"])
            want = {
                "clusterd_worker_processes": len(pids),
                "clusterd_worker_threads": sum(threads_of(p) for p in pids),
                "clusterd_worker_open_fds": len(os.listdir("/proc/%d/fd" % w["pid"])),
            }
            for name, expected in want.items():
                got = value(name, labels)
                if got != expected:
                    fail("%s%s is %s, /proc says %s" % (name, labels, got, expected))
            rss = value("clusterd_worker_resident_memory_bytes", labels)
            pss = value("clusterd_worker_pss_bytes", labels)
            uss = value("clusterd_worker_uss_bytes", labels)
            if w["pss_kb"] <= 0 or w["fds"] <= 0:
                fail("status --detail of %s has no PSS or fds: %s" % (labels, w))
            # Read a moment apart (the scrape, then the status): an idle worker's RSS may still
            # move by a page or two (a sanitizer's allocator, a timer).
            if rss is None or abs(rss - w["rss_kb"] * 1024) > max(64 * 1024, rss // 50):
                fail("RSS of %s is %s, status says %s kB" % (labels, rss, w["rss_kb"]))
            if pss is None or uss is None or not 0 < uss <= pss <= rss:
                fail("want 0 < USS <= PSS <= RSS for %s, got %s %s %s" % (labels, uss, pss, rss))
            compared += 1
    return compared


def check(text_path, om_path, status_path):
    with open(text_path) as f:
        text_families = list(text_string_to_metric_families(f.read()))
    with open(om_path) as f:
        body = f.read()
    if not body.endswith("# EOF\n"):
        fail("the OpenMetrics page does not end with # EOF")
    om_families = list(om_parser.text_string_to_metric_families(body))
    check_names(text_families)
    check_names(om_families)
    text, om = samples_of(text_families), samples_of(om_families)
    if set(text) != set(om):
        fail("the formats differ: only in text %s, only in OpenMetrics %s" %
             (sorted(set(text) - set(om))[:3], sorted(set(om) - set(text))[:3]))
    with open(status_path) as f:
        status = json.load(f)
    compared = compare_with_proc(text, status)
    if compared == 0:
        fail("no live worker to compare")
    print("%d families, %d series, both formats agree; %d workers match /proc" %
          (len(text_families), len(text), compared))


def get(path, name, pairs):
    labels = dict(p.split("=", 1) for p in pairs)
    with open(path) as f:
        for family in text_string_to_metric_families(f.read()):
            for s in family.samples:
                if s.name == name and s.labels == labels:
                    value = s.value
                    print(int(value) if value == int(value) else value)
                    return
    print("absent")


def total(path, name, pairs):
    labels = dict(p.split("=", 1) for p in pairs)
    with open(path) as f:
        value = sum(s.value for family in text_string_to_metric_families(f.read())
                    for s in family.samples
                    if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))
    print(int(value) if value == int(value) else value)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "check":
        check(*sys.argv[2:])
    elif len(sys.argv) >= 4 and sys.argv[1] == "get":
        get(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) >= 4 and sys.argv[1] == "sum":
        total(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        sys.exit(__doc__)
