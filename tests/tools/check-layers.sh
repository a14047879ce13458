#!/usr/bin/env bash
# scripts/check-layers itself: clean on the tree as it is, and it fails, naming the file, the
# line and the rule, on copies of the tree with one forbidden include each.
set -euo pipefail
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d /tmp/clusterd-layers.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$SOURCE_DIR/scripts/check-layers" "$SOURCE_DIR" >"$T/clean.out" || fail "the tree itself: $(cat "$T/clean.out")"
# try FILE LINE EXPECTED: FILE with LINE added after its first include must fail with EXPECTED.
try() {
  local file=$1 line=$2 expected=$3
  rm -rf "$T/tree"; mkdir "$T/tree"
  cp -r "$SOURCE_DIR"/{config,supervisor,worker,systemd} "$T/tree/"
  awk -v add="$line" '{print} /^#include/ && !done {print add; done=1}' "$SOURCE_DIR/$file" >"$T/tree/$file"
  if "$SOURCE_DIR/scripts/check-layers" "$T/tree" >"$T/out" 2>&1; then
    fail "check-layers accepted $line in $file"
  fi
  grep -q "^$file:[0-9]*: .*$expected" "$T/out" || fail "$line in $file: $(cat "$T/out")"
}
try supervisor/core/lane.cc '#include <unistd.h>' 'the core includes only the C++ standard library'
try supervisor/core/supervisor.cc '#include <spdlog/spdlog.h>' 'the core includes only'
try supervisor/core/rollout.cc '#include "supervisor/os/process.h"' 'the core includes only'
try supervisor/daemon/daemon.cc '#include <sys/wait.h>' 'the daemon makes no system call itself'
try supervisor/daemon/reload.cc '#include "supervisor/os/listen_socket.h"' 'the daemon makes no system call'
try supervisor/daemon/status_sampler.cc '#include <asio/io_context.hpp>' 'asio only in the loop'
try config/parse.cc '#include "supervisor/core/types.h"' 'config/ knows no process'
try supervisor/clusterctl.cc '#include "supervisor/core/types.h"' 'clusterctl uses the protocol only'
try supervisor/os/procfs.cc '#include <nlohmann/json.hpp>' 'JSON only in the protocol'
echo "PASS: check-layers is clean on the tree and catches 9 forbidden includes"
