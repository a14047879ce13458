#!/usr/bin/env bash
# A flood of /metrics requests cannot keep the master rendering pages (a /proc walk of every
# worker each): 200 scrapes in a burst from 200 peers are all answered, with at most one page
# rendered per second the burst lasted, plus one (before: one render per scrape); 100 scrapes from
# one peer get its burst and rate, then 429 with Retry-After; /healthz is not rated. The bounds
# are counts in the page itself (clusterd_metrics_renders_total), scaled by the time the burst
# took as measured, so they hold on a slow machine too. A normal sequence still sees fresh
# counters: a status request is in the next scrape at once.
source "$(dirname "$0")/lib/common.sh"
PORT=$(free_port)
MPORT=$(free_port)
web_config 1 reuseport
echo "metrics: \"127.0.0.1:$MPORT\"" >>"$T/c.yaml"
start_daemon "$T/c.yaml"
wait_for "the worker ready" log_ready 1
# scrape FROM OUT: one GET /metrics from the source address FROM (each its own peer)
scrape() { curl -sf --max-time 10 --interface "$1" "http://127.0.0.1:$MPORT/metrics" -o "$2"; }
value() { awk -v name="$1" '$1 == name { print $2 }' "$2"; }
# burst N SOURCES...: N requests for /metrics, one connection each, from the source addresses in
# turn; prints the answers' status codes and how long the burst took.
cat >"$T/burst.py" <<'PY'
import socket, sys, time
port, n, sources = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
codes, retry, start = {}, 0, time.monotonic()
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(sources[i % len(sources)], 0))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    s.close()
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    code = head.split(" ", 2)[1] if " " in head else "none"
    codes[code] = codes.get(code, 0) + 1
    retry += "\r\nRetry-After: 1" in head
print(" ".join(f"{c}={k}" for c, k in sorted(codes.items())), f"retry={retry}",
      f"ms={int((time.monotonic() - start) * 1000)}")
PY
burst() { python3 "$T/burst.py" "$MPORT" "$@"; }
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
renders() {  # renders OUT: a fresh page (a status request first changes what it counts)
  "$CLUSTERCTL" status >/dev/null
  scrape 127.0.0.2 "$1" || fail "a scrape after the burst failed"
  value clusterd_metrics_renders_total "$1"
}

r0=$(renders "$T/m0")
[[ -n $r0 ]] || fail "no clusterd_metrics_renders_total in the page"
sources=()
for i in $(seq 1 200); do sources+=("127.0.1.$i"); done
out=$(burst 200 "${sources[@]}")
[[ $(field "$out" 200) == 200 ]] || fail "200 scrapes from 200 peers: $out"
r1=$(renders "$T/m1")
rendered=$((r1 - r0 - 1)) ms=$(field "$out" ms)
(( rendered <= ms / 1000 + 2 )) || fail "200 scrapes in $ms ms rendered $rendered pages"
echo "200 peers: $out, $rendered page(s) rendered"

out=$(burst 100 127.0.0.1)
ok=$(field "$out" 200) refused=$(field "$out" 429) ms=$(field "$out" ms)
(( ok + refused == 100 )) || fail "100 scrapes from one peer: $out"
(( ok <= 10 + 5 * (ms + 999) / 1000 + 1 )) || fail "one peer got $ok of 100 scrapes in $ms ms: $out"
[[ $(field "$out" retry) == "${refused:-0}" ]] || fail "a 429 without Retry-After: $out"
(( refused > 0 )) || echo "note: the burst took $ms ms, long enough for the rate to serve all"
r2=$(renders "$T/m2")
(( r2 - r1 - 1 <= ms / 1000 + 2 )) || fail "one peer's $ok scrapes in $ms ms rendered $((r2 - r1 - 1)) pages"
code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/healthz")
[[ $code == 200 ]] || fail "/healthz from the throttled peer answered $code"
echo "one peer: $out, $((r2 - r1 - 1)) page(s) rendered"

# Fresh counters: each status request shows in the next scrape, however recent the last page.
before=$(value 'clusterd_control_requests_total{verb="status",result="ok"}' "$T/m2")
"$CLUSTERCTL" status >/dev/null
scrape 127.0.0.2 "$T/m3" || fail "scrape"
[[ $(value 'clusterd_control_requests_total{verb="status",result="ok"}' "$T/m3") -eq $((before + 1)) ]] ||
  fail "a status request is not in the next scrape"
[[ $(value clusterd_metrics_throttled_total "$T/m3") -eq ${refused:-0} ]] || fail "429s not counted"
kill -0 "$DAEMON" || fail "the master died"
pass "a scrape flood renders a page a second at most; one peer is rated; counters stay fresh"
