#!/usr/bin/env bash
# "make bench": run every benchmark in bench/ (small sizes unless --full) and print one summary table.
#   bash scripts/bench.sh                                  # all, small sizes
#   bash scripts/bench.sh --only edit_survival daemon_soak
#   bash scripts/bench.sh --args edit_survival="--rounds 1000" --args daemon_soak="--files 100000 --events 10000"
#   bash scripts/bench.sh --full                           # each bench's own defaults (hours)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
exec .venv/bin/python bench/run_all.py "$@"
