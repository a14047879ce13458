#!/usr/bin/env bash
# Every recipe in config/examples/recipes (docs/recipes.md) passes `clusterd --check` as shipped,
# run from its directory as the doc says (the Go one once built). A runtime that is not installed
# is skipped by name; with none of them, the test is skipped.
source "$(dirname "$0")/lib/common.sh"
cp -r "$SOURCE_DIR/config/examples/recipes" "$T/r"
cd "$T/r"
checked=() missing=()
for recipe in node python gunicorn go; do
  case $recipe in
    node) runtime=node ;; python) runtime=python3 ;; gunicorn) runtime=gunicorn ;; go) runtime=go ;;
  esac
  if ! command -v "$runtime" >/dev/null; then missing+=("$runtime"); continue; fi
  if [[ $recipe == go ]]; then
    HOME=$T GOCACHE=$T/gocache GOPATH=$T/gopath CGO_ENABLED=0 go build -o server main.go \
      >"$T/go.log" 2>&1 || fail "go build of main.go: $(cat "$T/go.log")"
  fi
  "$CLUSTERD" --check -c "$recipe.yaml" >"$T/check" 2>&1 || fail "$recipe.yaml: $(cat "$T/check")"
  grep -q "configuration is valid" "$T/check" || fail "$recipe.yaml: $(cat "$T/check")"
  checked+=("$recipe")
done
[[ ${#checked[@]} -gt 0 ]] || skip "none of node, python3, gunicorn, go is installed"
[[ ${#missing[@]} -eq 0 ]] || echo "not checked, not installed: ${missing[*]}"
pass "clusterd --check accepts the recipes: ${checked[*]}"
