#!/usr/bin/env bash
# Set everything up (the package with the deepface backend and the test tools; Debian's chromium and
# chromium-driver for the browser tests, acl and systemd's systemd-analyze for the service tests,
# LibreOffice Calc for the spreadsheet round trip of faces.csv), start
# the local MariaDB if it is installed but down, and run the whole test suite, listing the reason of
# every skipped test at the end. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test --deepface

# Debian packages the tests drive for real; only installed when missing (as root, with apt-get).
missing=()
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || missing+=(chromium chromium-driver)
command -v setfacl >/dev/null 2>&1 || missing+=(acl)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v soffice >/dev/null 2>&1 || missing+=(libreoffice-calc-nogui)  # faces.csv through a real spreadsheet
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test: installing ${missing[*]} (apt) for the browser and service tests"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
            || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
    else
        echo "test: WARNING: ${missing[*]} missing and apt-get is not usable here; the tests that need them" \
             "will be skipped loudly (as root: apt-get install ${missing[*]})" >&2
    fi
fi

if [ -x /usr/sbin/mariadbd ] && ! (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null; then
    echo "test: starting MariaDB for the mirror tests"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    for _ in $(seq 1 30); do (echo > /dev/tcp/127.0.0.1/3306) 2>/dev/null && break; sleep 1; done
fi
exec .venv/bin/python -m pytest -q -rs -p no:cacheprovider "$@"
