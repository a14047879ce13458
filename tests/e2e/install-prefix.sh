#!/usr/bin/env bash
# cmake --install: the binaries to PREFIX/bin, the units (naming PREFIX/bin) to
# PREFIX/lib/systemd/system, the docs and examples to PREFIX/share/doc/clusterd.
source "$(dirname "$0")/lib/common.sh"
[[ -f $BUILD_DIR/cmake_install.cmake ]] || fail "the build directory has no install rules"
prefix=$T/usr
cmake --install "$BUILD_DIR" --prefix "$prefix" >"$T/install.log" 2>&1 || fail "install: $(tail "$T/install.log")"
"$prefix/bin/clusterd" --version >/dev/null || fail "no clusterd in $prefix/bin"
"$prefix/bin/clusterctl" --version >/dev/null || fail "no clusterctl in $prefix/bin"
grep -qx "ExecStart=$prefix/bin/clusterd --fd-store -c /etc/clusterd/clusterd.yaml" \
  "$prefix/lib/systemd/system/clusterd.service" || fail "unit: $(grep Exec "$prefix/lib/systemd/system/clusterd.service")"
grep -qx "Documentation=file://$prefix/share/doc/clusterd/systemd.md" \
  "$prefix/lib/systemd/system/clusterd.service" || fail "unit Documentation="
[[ -f $prefix/share/doc/clusterd/from-pm2.md && -f $prefix/share/doc/clusterd/examples/pm2/binary/ecosystem.json ]] ||
  fail "docs or examples missing: $(find "$prefix/share" | head)"
pass "cmake --install to $prefix: binaries, units, docs, examples"
