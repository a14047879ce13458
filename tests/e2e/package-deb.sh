#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` in the build directory makes one whose Depends were computed
# from the binaries; unpacked, it holds clusterd, clusterctl, the units naming /usr/bin, the docs
# and the examples, and `clusterd --version` runs from it.
source "$(dirname "$0")/lib/common.sh"
command -v cpack >/dev/null && command -v dpkg-deb >/dev/null || skip "needs cpack and dpkg-deb"
[[ -f $BUILD_DIR/CPackConfig.cmake ]] || fail "the build directory has no CPack configuration"
cpack --config "$BUILD_DIR/CPackConfig.cmake" -G DEB -B "$T/pkg" >"$T/cpack.log" 2>&1 ||
  fail "cpack: $(tail -20 "$T/cpack.log")"
debs=("$T"/pkg/clusterd_*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || fail "no package: $(ls "$T/pkg")"
dpkg-deb -I "${debs[0]}" >"$T/info"
grep -qE "^ Depends: .*libc6 \(>= [0-9.]+\)" "$T/info" || fail "Depends: $(cat "$T/info")"
grep -qE "^ Package: clusterd$" "$T/info" || fail "Package: $(cat "$T/info")"
version=$("$BUILD_DIR/clusterd" --version | cut -d' ' -f2)
grep -qx " Version: $version" "$T/info" || fail "Version is not $version: $(cat "$T/info")"
! command -v dpkg >/dev/null || grep -qx " Architecture: $(dpkg --print-architecture)" "$T/info" ||
  fail "Architecture: $(cat "$T/info")"
grep -qE "^ Maintainer: .+" "$T/info" || fail "no Maintainer: $(cat "$T/info")"
# Contents: every file under /usr, none naming the build or the source tree.
dpkg-deb -c "${debs[0]}" >"$T/contents"
awk '{print $6}' "$T/contents" | grep -vE '^\./(usr(/.*)?)?$' && fail "a file outside /usr: $(cat "$T/contents")"
grep -qF "./usr/share/doc/clusterd/from-pm2.md" "$T/contents" || fail "no from-pm2.md: $(cat "$T/contents")"
dpkg-deb -x "${debs[0]}" "$T/root"
[[ $("$T/root/usr/bin/clusterd" --version) == "clusterd "* ]] || fail "clusterd --version from the package"
"$T/root/usr/bin/clusterctl" --version >/dev/null || fail "clusterctl --version from the package"
unit=$T/root/usr/lib/systemd/system/clusterd.service
grep -qx "ExecStart=/usr/bin/clusterd --fd-store -c /etc/clusterd/clusterd.yaml" "$unit" ||
  fail "the unit does not run /usr/bin/clusterd: $(grep Exec "$unit")"
grep -qx "ExecReload=/usr/bin/clusterctl reload" "$unit" || fail "ExecReload: $(grep Exec "$unit")"
grep -q "/usr/local" "$T/root/usr/lib/systemd/system/"* && fail "a unit still names /usr/local"
grep -qE "$BUILD_DIR|$SOURCE_DIR|/tmp/" "$T/root/usr/lib/systemd/system/"* && fail "a unit names a build path"
for f in clusterd.socket clusterd@.service; do
  [[ -f $T/root/usr/lib/systemd/system/$f ]] || fail "no $f"
done
for f in README.md systemd.md config.md examples/demo.yaml examples/pm2/node-api/ecosystem.config.js; do
  [[ -f $T/root/usr/share/doc/clusterd/$f ]] || fail "no /usr/share/doc/clusterd/$f"
done
pass "the package: $(basename "${debs[0]}"), $(grep '^ Depends' "$T/info" | sed 's/^ //'); clusterd --version runs from it"
