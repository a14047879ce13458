#!/usr/bin/env bash
# A static Go program (`net.Listen("tcp", ":PORT")`, no libc: its bind is a raw system call) gets
# the master's socket under adopt: true (shared and reuseport) and adopt: all.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/adopt.sh"
command -v go >/dev/null || skip "go is not installed (scripts/deps.sh installs golang-go)"
mkdir -p "$T/go"
cat >"$T/go/main.go" <<'GO'
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	ln, err := net.Listen("tcp", ":"+os.Getenv("PORT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pid := fmt.Sprint(os.Getpid())
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Worker", pid)
		fmt.Fprintln(w, "go", pid)
	}))
}
GO
(cd "$T/go" && HOME=$T GOCACHE=$T/go/cache GOPATH=$T/go/path CGO_ENABLED=0 go build -o server main.go) \
  >"$T/go.log" 2>&1 || fail "go build: $(cat "$T/go.log")"
for kind in shared reuseport all; do adopt_round "$kind" "$T/go/server"; done
pass "static go net.Listen unchanged: shared, reuseport and adopt: all serve on 4 workers"
