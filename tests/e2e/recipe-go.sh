#!/usr/bin/env bash
# The Go recipe (config/examples/recipes/go.yaml), with the real runtime: 4 workers
# answer on the one port; a kill -9 of one during a burst of new connections refuses none; a
# reload (DEPLOY changed: a new generation) under keep-alive and connection-per-request load fails
# no request, the program draining on SIGTERM as the recipe's does.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/adopt.sh"
source "$(dirname "$0")/lib/recipe.sh"
command -v go >/dev/null || skip "go is not installed (scripts/deps.sh installs golang-go)"
recipe_copy go
HOME=$T GOCACHE=$T/gocache GOPATH=$T/gopath CGO_ENABLED=0 go build -o server main.go \
  >"$T/go.log" 2>&1 || fail "go build of main.go: $(cat "$T/go.log")"
recipe_round go
pass "go recipe: 4 workers answer on one port, a kill -9 during a burst refuses none, a reload under load fails none"
