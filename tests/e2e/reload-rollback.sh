#!/usr/bin/env bash
# A reload whose new workers fail is rolled back: (1) a worker that never gets ready leaves the
# old workers serving, untouched; (2) a failure after the canary and one more slot were replaced
# rolls those slots back to the previous generation. clusterctl reload exits 1 and says which
# slot failed, why, and that it rolled back.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
# READY_TIMEOUT is short only for the deploy meant to miss it: a rollback starts the old
# generation again under its own ready_timeout, on a machine that may be busy with other tests.
write_config() {  # write_config COMMAND-JSON [READY_TIMEOUT]
  cat >"$T/c.yaml" <<YAML
control: { socket: "$T/ctl.sock" }
apps:
  web:
    command: $1
    instances: 3
    ready: notify
    ready_timeout: ${2:-60s}
    rollout: { batch: 1 }
    listen:
      http: { address: "127.0.0.1:$PORT", mode: reuseport }
YAML
}
workers() { "$CLUSTERCTL" status --json | python3 "$SOURCE_DIR/tests/e2e/lib/status.py" workers; }
write_config "[\"$HELLO\"]"
start_daemon "$T/c.yaml"
wait_for "three workers ready" log_ready 3
before=$(workers)

# 1. Never ready: the canary times out, nothing else is touched.
write_config "[\"$HELLO\", \"--ready-delay\", \"5000\"]" 1s
rc=0; "$CLUSTERCTL" reload >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "reload to a never-ready worker exited $rc: $(cat "$T/out")"
grep -q "web worker 0 of generation 2 failed: no READY=1 within ready_timeout" "$T/out" || fail "message: $(cat "$T/out")"
grep -q "rolled back to generation 1" "$T/out" || fail "no rollback in: $(cat "$T/out")"
after=$(workers)
[[ $after == "$before" ]] || fail "workers changed: $before -> $after"
$HTTP spread "$PORT" 60 >/dev/null || fail "the old workers do not serve"

# 2. Slot 2 fails after slots 0 (the canary) and 1 were replaced: both go back to generation 1.
write_config "[\"bash\", \"-c\", \"if [ \$CLUSTER_WORKER_ID = 2 ]; then echo STATUS=boom; exit 7; fi; exec $HELLO\"]"
rc=0; "$CLUSTERCTL" reload >"$T/out" 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "reload with a failing slot 2 exited $rc: $(cat "$T/out")"
grep -q "web worker 2 of generation 3 failed: exit 7" "$T/out" || fail "message: $(cat "$T/out")"
grep -q "rolled back to generation 1" "$T/out" || fail "no rollback in: $(cat "$T/out")"
final=$(workers)
for w in $final; do
  IFS=: read -r id pid gen state <<<"$w"
  [[ $gen == 1 && $state == running ]] || fail "slot $id is $state at generation $gen after the rollback: $final"
done
[[ $(wc -w <<<"$final") -eq 3 ]] || fail "expected 3 workers: $final"
old2=$(tr ' ' '\n' <<<"$before" | grep '^2:'); new2=$(tr ' ' '\n' <<<"$final" | grep '^2:')
[[ $old2 == "$new2" ]] || fail "slot 2 was never replaced, yet its worker changed: $old2 -> $new2"
$HTTP spread "$PORT" 60 >/dev/null || fail "not serving after the rollback"
log_has 'rolled back slot 1 with generation 1' || fail "slot 1 was not rolled back"
log_has 'rolled back slot 0 with generation 1' || fail "slot 0 was not rolled back"
pass "never-ready and late failures both rolled back; the app never stayed half old, half new"
