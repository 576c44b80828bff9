#!/usr/bin/env bash
# Set everything up, then scan the given photo folder(s) and keep watching them.
# Sidecars only by default (no database needed); stop with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -eq 0 ]; then
    echo "usage: bash scripts/run.sh PHOTO_FOLDER [MORE_FOLDERS…]" >&2
    exit 2
fi
bash scripts/setup.sh
exec .venv/bin/facesidecar watch "$@"
