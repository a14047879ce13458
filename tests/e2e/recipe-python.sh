#!/usr/bin/env bash
# The Python http.server recipe (config/examples/recipes/python.yaml), with the real runtime: 4 workers
# answer on the one port; a kill -9 of one during a burst of new connections refuses none; a
# reload (DEPLOY changed: a new generation) under keep-alive and connection-per-request load fails
# no request, the program draining on SIGTERM as the recipe's does.
source "$(dirname "$0")/lib/common.sh"
source "$(dirname "$0")/lib/adopt.sh"
source "$(dirname "$0")/lib/recipe.sh"
command -v python3 >/dev/null || skip "python3 is not installed (scripts/deps.sh installs it)"
recipe_copy python
recipe_round python
pass "python recipe: 4 workers answer on one port, a kill -9 during a burst refuses none, a reload under load fails none"
