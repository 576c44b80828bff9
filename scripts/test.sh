#!/usr/bin/env bash
# Set everything up, start the local MariaDB if it is installed but down, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -x /usr/sbin/mariadbd ] && ! (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null; then
    echo "test: starting MariaDB for the mirror tests"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    for _ in $(seq 1 30); do (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null && break; sleep 1; done
fi
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
