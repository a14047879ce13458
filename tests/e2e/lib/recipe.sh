# The recipes of config/examples/recipes (docs/recipes.md), run as shipped: sourced after
# common.sh and adopt.sh.
#
# recipe_copy NAME: copies the recipes to $T/r, picks a free $PORT for NAME.yaml in place of its
# placeholder 8080, adds the test's control socket, gives the workers DEPLOY=0 (a reload that
# changes it rolls the generation) and enters $T/r (the configs name their programs relative to
# clusterd's working directory, as the doc runs them).
recipe_copy() {
  RECIPE=$T/r/$1.yaml
  PORT=$(free_port)
  rm -rf "$T/r"
  cp -r "$SOURCE_DIR/config/examples/recipes" "$T/r"
  sed -i "s/8080/$PORT/g" "$RECIPE"
  grep -q "^    env:$" "$RECIPE" || echo "    env:" >>"$RECIPE"
  sed -i 's/^    env:$/    env:\n      DEPLOY: "0"/' "$RECIPE"
  echo "control: { socket: \"$T/ctl.sock\" }" >>"$RECIPE"
  cd "$T/r"
}

# recipe_start: clusterd --check accepts $RECIPE; it runs, and its 4 workers get ready.
recipe_start() {
  "$CLUSTERD" --check -c "$RECIPE" >"$T/check" 2>&1 || fail "--check $RECIPE: $(cat "$T/check")"
  start_daemon "$RECIPE"
  wait_for "4 workers ready" "$CLUSTERCTL" status --check
  [[ $(worker_count) -eq 4 ]] || fail "expected 4 workers: $(worker_pids | tr '\n' ' ')"
}

# reload_under_load MARK: sets DEPLOY=MARK and runs `clusterctl reload` (every worker replaced)
# while 4 keep-alive clients and 4 connection-per-request clients send requests; the loads start
# before the reload and stop once it has returned (every old worker has exited by then). Sets
# LOAD_KEEP and LOAD_NEW to their "ok=K failed=F" lines, the errors in $T/load-*.
reload_under_load() {
  local mark=$1 before keep new p
  $HTTP load "$PORT" 120 4 keepalive >"$T/load-keep" 2>&1 &
  keep=$!
  $HTTP load "$PORT" 120 4 >"$T/load-new" 2>&1 &
  new=$!
  EXTRA_PIDS+=("$keep" "$new")
  wait_for "the loads under way" bash -c "grep -q 'first answer' '$T/load-keep' && grep -q 'first answer' '$T/load-new'"
  before=$(worker_pids)
  sed -i "s/DEPLOY: .*/DEPLOY: \"$mark\"/" "$RECIPE"
  "$CLUSTERCTL" reload >"$T/reload" 2>&1 || fail "reload to DEPLOY=$mark: $(cat "$T/reload")"
  for p in $before; do alive "$p" && fail "old worker $p still runs after the reload"; done
  kill -INT "$keep" "$new"
  wait "$keep" || true
  wait "$new" || true
  LOAD_KEEP=$(grep '^ok=' "$T/load-keep") || fail "keep-alive load: $(cat "$T/load-keep")"
  LOAD_NEW=$(grep '^ok=' "$T/load-new") || fail "connection-per-request load: $(cat "$T/load-new")"
}

# recipe_round LABEL: the recipe started, all four answer, a kill -9 during a burst refuses none,
# a reload under load fails no request (keep-alive and connection per request), all four answer
# again; then the master stops.
recipe_round() {
  local label=$1
  recipe_start
  all_four_answer
  kill_one_during_burst "$label"
  reload_under_load 1
  [[ $LOAD_KEEP == *" failed=0" && $LOAD_NEW == *" failed=0" ]] ||
    fail "$label: requests failed in a reload: keep-alive $(cat "$T/load-keep"); new connections $(cat "$T/load-new")"
  echo "$label, reload under load: keep-alive $LOAD_KEEP; connection per request $LOAD_NEW"
  all_four_answer
  stop_daemon
}
