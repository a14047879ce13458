#!/usr/bin/env bash
# logs: capture, end to end. Two workers write numbered lines to stdout and stderr: every line
# arrives once, attributed to its app, slot and pid, in the order each stream was written;
# `clusterctl logs -f` follows across a kill -9 and a reload; a log file rotated by size and
# moved away by hand (then `clusterctl reopen`) loses no line; `clusterctl events -f` shows one
# exited, one spawned and one ready record for the killed slot.
source "$(dirname "$0")/lib/common.sh"
TALKER="python3 $SOURCE_DIR/tests/e2e/lib/talker.py"
N=300
write_config() {  # write_config MARK
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  talk:
    command: ["python3", "$SOURCE_DIR/tests/e2e/lib/talker.py", "t", "$N", "0.002"]
    instances: 2
    env: { MARK: "$1" }
    logs: { file: "$T/talk.log", console: false, max_size: 8K, keep: 1000, ring: 5000 }
YAML
}
write_config 1
start_daemon "$T/c.yaml"
json_lines() { "$CLUSTERCTL" logs talk -n 100000 --json 2>/dev/null; }
done_count() { json_lines | grep -c '"text":"done ' || true; }
wait_for "both workers to write all their lines" bash -c "(( \$($(declare -f json_lines done_count); CLUSTERCTL=$CLUSTERCTL done_count) == 2 ))"

# 1. Attribution and order, per stream.
"$CLUSTERCTL" status talk --json >"$T/status.json"
json_lines >"$T/lines.json"
python3 - "$T/lines.json" "$T/status.json" "$N" <<'PY' || fail "attribution or order"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
status = json.load(open(sys.argv[2]))
n = int(sys.argv[3])
pids = {w["id"]: w["pid"] for w in status["apps"][0]["workers"]}
for slot, pid in pids.items():
    for stream, word in (("stdout", "out"), ("stderr", "err")):
        got = [l for l in lines if l["worker"] == slot and l["stream"] == stream and l["text"].startswith(word)]
        want = ["%s t %d %d" % (word, pid, i) for i in range(1, n + 1)]
        if [l["text"] for l in got] != want:
            sys.exit("slot %d %s: %d lines, first differences: %r" % (slot, stream, len(got),
                     [(a["text"], b) for a, b in zip(got, want) if a["text"] != b][:3]))
        bad = [l for l in got if l["pid"] != pid or l["app"] != "talk" or l["generation"] != 1]
        if bad:
            sys.exit("misattributed: %r" % bad[:2])
seqs = [l["seq"] for l in lines]
if seqs != sorted(seqs):
    sys.exit("records not in seq order")
PY

# 2. A follow across a kill -9 and a reload; events of the kill.
"$CLUSTERCTL" logs talk -n 0 -f --json >"$T/follow.json" 2>/dev/null &
FOLLOW=$!
EXTRA_PIDS+=("$FOLLOW")
"$CLUSTERCTL" events talk -n 0 -f --json >"$T/events.json" 2>/dev/null &
EVENTS=$!
EXTRA_PIDS+=("$EVENTS")
wait_for "the followers to be connected" bash -c "ss -Hx state connected src '$T/ctl.sock' | wc -l | grep -qx 2"
slot0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["apps"][0]["workers"][0]["pid"])' "$T/status.json")
# Both running (ready: exec holds a worker for min_ready first): the kill is a crash, not a
# failed start.
wait_for "both workers ready" "$CLUSTERCTL" status --check
kill -KILL "$slot0"
# The replacement's ready event: slot 0's first after the exit.
restarted() {
  grep -q "\"text\":\"done t " "$T/follow.json" &&
    sed -n '/"kind":"exited"/,$p' "$T/events.json" | grep '"kind":"ready"' | grep -q '"worker":0,'
}
wait_for "the restarted worker's lines in the follow" restarted
cp "$T/events.json" "$T/events-kill.json"  # what the kill caused, before the reload adds more
write_config 2
"$CLUSTERCTL" reload >/dev/null || fail "reload failed"
gen2() { grep -q '"generation":2,.*"text":"done t ' "$T/follow.json"; }
wait_for "generation 2's lines in the follow" gen2
python3 - "$T/events-kill.json" "$slot0" <<'PY' || fail "events of the kill"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
killed = int(sys.argv[2])
i = next(k for k, e in enumerate(events) if e["kind"] == "exited" and e["pid"] == killed)
after = [e for e in events[i:] if e["worker"] == 0 and e["generation"] == 1]
kinds = [e["kind"] for e in after]
if kinds[:3] != ["exited", "spawned", "ready"] or kinds.count("exited") != 1 or kinds.count("spawned") != 1 or kinds.count("ready") != 1:
    sys.exit("slot 0 after the kill: %r in %r" % (kinds, events))
if after[0]["reason"] != "signal SIGKILL" or after[1]["pid"] == killed:
    sys.exit("exited/spawned records: %r" % after[:2])
PY
kill "$FOLLOW" "$EVENTS" 2>/dev/null || true

# 3. Rotation by size and a move plus reopen lose no line: every line of every worker that ever
# ran is in exactly one of the files.
mv "$T/talk.log" "$T/moved.log"
"$CLUSTERCTL" reopen >/dev/null || fail "reopen failed"
"$CLUSTERCTL" restart talk >/dev/null
gen2_done() { [[ $(json_lines | grep -c '"text":"done t ') -ge 6 ]]; }
wait_for "the restarted generation-2 workers to finish" gen2_done
[[ -s $T/talk.log ]] || fail "nothing written to the reopened file"
ls "$T"/talk.log.* >/dev/null 2>&1 || fail "no rotated file (max_size 8K)"
python3 - "$T" <<'PY' || fail "lines lost or doubled across rotation and reopen"
import collections, glob, os, re, sys
seen = collections.Counter()
for path in glob.glob(os.path.join(sys.argv[1], "talk.log*")) + [os.path.join(sys.argv[1], "moved.log")]:
    for line in open(path, errors="replace"):
        m = re.search(r" talk\[\d+\] (out|err): (out|err) t (\d+) (\d+)$", line)
        if m:
            seen[(m.group(3), m.group(2), int(m.group(4)))] += 1
pids = {p for p, _, _ in seen}
doubled = [k for k, c in seen.items() if c != 1]
missing = [(p, s, i) for p in pids for s in ("out", "err") for i in range(1, 301) if (p, s, i) not in seen]
if doubled or missing or len(pids) < 6:
    sys.exit("pids %d, doubled %r, missing %r" % (len(pids), doubled[:3], missing[:3]))
print("%d workers, %d lines, in %d files" % (len(pids), sum(seen.values()),
      len(glob.glob(os.path.join(sys.argv[1], "talk.log*"))) + 1))
PY
pass "lines attributed and in order per stream; follow across kill -9 and reload; one exited/spawned/ready for the kill; rotation and reopen lost no line"
