#!/usr/bin/env bash
# Install facesidecar as a systemd service, in one command (as root, from a checkout):
#
#   bash scripts/install-service.sh [--user NAME] [--deepface] ROOT…
#   bash scripts/install-service.sh --uninstall [--user NAME]
#
# Each step is done only when needed, so running it again (after a git pull, or to add a root) is safe:
#   1. the system user NAME (default facesidecar), home /var/lib/facesidecar (its state folder)
#   2. the program in /opt/facesidecar with its own venv (scripts/setup.sh: offline once done;
#      --deepface adds the deepface backend)
#   3. /usr/local/bin/facesidecar, so `facesidecar` is on PATH
#   4. /etc/facesidecar/config.toml with the ROOTs; an existing config is never overwritten
#   5. read/write access for NAME to every ROOT through ACLs (installs `acl` if needed)
#   6. /etc/systemd/system/facesidecar.service and a drop-in (facesidecar.service.d/install.conf)
#      with ReadWritePaths= for the roots
#   7. `facesidecar doctor` as NAME; when healthy, the service is enabled and (re)started
# Without ROOTs the roots of the existing config are used. --uninstall stops the service and removes
# the unit, the drop-in, the link, /opt/facesidecar and the ACLs; it keeps the config, the sidecars,
# the state folder and the user (it owns the sidecars it wrote).
#
# --prefix DIR installs everything below DIR instead of / (DIR/opt/facesidecar, DIR/etc/...,
# DIR/usr/local/bin, DIR/var/lib/facesidecar) and never calls systemctl: for tests.
set -euo pipefail
umask 022
SOURCE=$(cd "$(dirname "$0")/.." && pwd -P)
NAME=facesidecar
PREFIX=""
DEEPFACE=""
UNINSTALL=""
ROOTS=()

say() { echo "install-service: $*"; }
die() { echo "install-service: error: $*" >&2; exit 1; }
usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
        --user) [ $# -ge 2 ] || die "--user needs a name"; NAME=$2; shift 2 ;;
        --user=*) NAME=${1#--user=}; shift ;;
        --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#--prefix=}; shift ;;
        --deepface) DEEPFACE=--deepface; shift ;;
        --uninstall) UNINSTALL=yes; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; ROOTS+=("$@"); break ;;
        -*) die "unknown option $1 (see: bash $0 --help)" ;;
        *) ROOTS+=("$1"); shift ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "run this as root (it creates a user, installs into /opt and /etc and sets ACLs)"
[[ $NAME =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || die "--user $NAME is not a usable user name (lower case letters, digits, _ and -)"
if [ -n "$PREFIX" ]; then
    mkdir -p "$PREFIX"
    PREFIX=$(cd "$PREFIX" && pwd -P)
fi
OPT=$PREFIX/opt/facesidecar
ETC=$PREFIX/etc/facesidecar
CONFIG=$ETC/config.toml
BIN=$PREFIX/usr/local/bin
UNIT_DIR=$PREFIX/etc/systemd/system
UNIT=$UNIT_DIR/facesidecar.service
DROPIN=$UNIT_DIR/facesidecar.service.d/install.conf
STATE_HOME=$PREFIX/var/lib
STATE=$STATE_HOME/facesidecar

systemd_running() { [ -z "$PREFIX" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }

apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "please install $* (no apt-get here)"
    say "installing $* (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq "$@" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$@" >/dev/null; }
}

# The roots listed in the drop-in we wrote (one ReadWritePaths="…" line per root, systemd quoting).
installed_roots() {
    [ -f "$DROPIN" ] || return 0
    python3 - "$DROPIN" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith('ReadWritePaths="'):
        print(json.loads(line.split("=", 1)[1].strip()).replace("%%", "%"))
EOF
}

# The roots of the config, as the installed program reads it.
configured_roots() {
    [ -f "$CONFIG" ] && [ -x "$OPT/.venv/bin/python" ] || return 0
    "$OPT/.venv/bin/python" -c 'import sys
from facesidecar.config import load_settings
print("\n".join(str(p) for p in load_settings(sys.argv[1]).root_paths()))' "$CONFIG"
}

uninstall() {
    if systemd_running; then
        systemctl disable --now facesidecar.service 2>/dev/null || true
    fi
    local root
    while IFS= read -r root; do
        [ -n "$root" ] && [ -d "$root" ] && [ "$root" != "$STATE" ] || continue
        if command -v setfacl >/dev/null 2>&1; then
            setfacl -R -P -x "u:$NAME" -x "d:u:$NAME" "$root" 2>/dev/null || true
            say "removed $NAME's ACL entries from $root"
        fi
    done < <(installed_roots)
    rm -f "$UNIT" "$DROPIN"
    rmdir "$(dirname "$DROPIN")" 2>/dev/null || true
    if [ -L "$BIN/facesidecar" ]; then rm -f "$BIN/facesidecar"; fi
    rm -rf "$OPT"
    if systemd_running; then systemctl daemon-reload; fi
    say "uninstalled. Kept: the config $CONFIG, the sidecars in the roots, the state folder $STATE and the user $NAME"
    say "(remove them with: rm -r $ETC $STATE; userdel $NAME)"
}

if [ -n "$UNINSTALL" ]; then
    uninstall
    exit 0
fi

# -- 0. what to install for ----------------------------------------------------------------------
resolved=()
for root in "${ROOTS[@]}"; do
    path=$(realpath -e -- "$root" 2>/dev/null) || die "$root: no such folder"
    [ -d "$path" ] || die "$root is not a folder"
    case $path in /|/etc|/etc/*|/usr|/usr/*|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/boot|/boot/*)
        die "$path cannot be a photo root (a system folder)";;
    esac
    resolved+=("$path")
done
if [ ${#resolved[@]} -eq 0 ] && [ ! -f "$CONFIG" ]; then
    die "give the photo folders to watch: bash $0 /srv/photos [MORE…] (see --help)"
fi

# -- 1. the user -----------------------------------------------------------------------------------
if id -u "$NAME" >/dev/null 2>&1; then
    say "user $NAME exists"
else
    useradd --system --user-group --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin "$NAME"
    say "created the system user $NAME"
fi
GROUP=$(id -gn "$NAME")
install -d -m 0755 "$STATE_HOME"
install -d -o "$NAME" -g "$GROUP" -m 0750 "$STATE"

# -- 2. the program and its venv ---------------------------------------------------------------------
install -d -m 0755 "$OPT"
if [ "$SOURCE" != "$(cd "$OPT" && pwd -P)" ]; then
    find "$OPT" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
    tar -C "$SOURCE" --exclude=./.venv --exclude=./.git --exclude=./tests --exclude=./bench \
        --exclude=./test-artifacts --exclude=./build --exclude=./dist --exclude='__pycache__' \
        --exclude='*.egg-info' --exclude='.*_cache' -cf - . | tar -C "$OPT" --no-same-owner -xf -
    chmod -R u=rwX,go=rX "$OPT/facesidecar" "$OPT/scripts" "$OPT/systemd"
fi
# The service's venv is built on the system's python (not a root-only one such as pyenv's) and must
# run as the service user; one that cannot is built again.
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
runuser -u "$NAME" -- "$PYTHON" -c '' 2>/dev/null \
    || die "$PYTHON cannot be run by user $NAME; set PYTHON=/path/to/python3.11 (a system-wide one)"
if [ -e "$OPT/.venv" ] && ! runuser -u "$NAME" -- "$OPT/.venv/bin/python" -c '' 2>/dev/null; then
    say "the venv in $OPT cannot be run by $NAME: building it again"
    rm -rf "$OPT/.venv"
fi
PYTHON=$PYTHON bash "$OPT/scripts/setup.sh" $DEEPFACE | sed 's/^/  /'

# -- 3. on PATH --------------------------------------------------------------------------------------
install -d -m 0755 "$BIN"
ln -sfn "$OPT/.venv/bin/facesidecar" "$BIN/facesidecar"

# -- 4. the config (never overwritten) ---------------------------------------------------------------
install -d -m 0755 "$ETC"
if [ -e "$CONFIG" ]; then
    say "keeping the existing $CONFIG"
else
    python3 - "$CONFIG" "$STATE" "$OPT/config.example.toml" "${resolved[@]}" <<'EOF'
import json, os, sys, time
config, state, example, roots = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
lines = [
    f"# facesidecar configuration, written by scripts/install-service.sh on {time.strftime('%Y-%m-%d')}.",
    f"# Every key with its default: {example}. Top-level keys go above the first [table].",
    f"state_dir = {json.dumps(state)}",
    "",
]
for root in roots:
    lines += ["[[roots]]", f"path = {json.dumps(root)}", ""]
fd = os.open(config + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
with os.fdopen(fd, "w", encoding="utf-8") as handle:
    handle.write("\n".join(lines))
os.replace(config + ".tmp", config)
EOF
    chgrp "$GROUP" "$CONFIG"
    say "wrote $CONFIG (roots: ${resolved[*]})"
fi
mapfile -t configured < <(configured_roots)
for root in "${resolved[@]}"; do
    if ! printf '%s\n' "${configured[@]}" | grep -qxF -- "$root"; then
        say "WARNING: $root is not a root in the existing $CONFIG: add it there ([[roots]] path = \"$root\")," \
            "then run this again"
    fi
done
mapfile -t ROOTS < <(printf '%s\n' "${configured[@]}" "${resolved[@]}" | sed '/^$/d' | sort -u)
[ ${#ROOTS[@]} -gt 0 ] || die "$CONFIG has no [[roots]]: add your photo folders there or give them here"

# -- 5. access to the roots ----------------------------------------------------------------------------
command -v setfacl >/dev/null 2>&1 || apt_install acl
for root in "${ROOTS[@]}"; do
    [ -d "$root" ] || { say "WARNING: root $root does not exist (yet); no access granted"; continue; }
    if getfacl -cp "$root" 2>/dev/null | grep -qx "default:user:$NAME:rwx"; then
        say "$NAME already has access to $root"
    else
        setfacl -R -P -m "u:$NAME:rwX" -m "d:u:$NAME:rwX" "$root"
        say "granted $NAME read/write access to $root (ACL, inherited by new files)"
    fi
    parent=$(dirname "$root")
    while [ "$parent" != "/" ]; do
        if ! runuser -u "$NAME" -- test -x "$parent"; then
            setfacl -m "u:$NAME:x" "$parent"
            say "granted $NAME passage through $parent (ACL u:$NAME:x)"
        fi
        parent=$(dirname "$parent")
    done
done

# -- 6. the unit and its drop-in -------------------------------------------------------------------------
install -d -m 0755 "$UNIT_DIR" "$(dirname "$DROPIN")"
sed -e "s#/opt/facesidecar#$OPT#g" -e "s#/etc/facesidecar#$ETC#g" \
    -e "s#^Environment=XDG_STATE_HOME=/var/lib\$#Environment=XDG_STATE_HOME=$STATE_HOME#" \
    "$OPT/systemd/facesidecar.service" > "$UNIT.tmp"
chmod 0644 "$UNIT.tmp" && mv "$UNIT.tmp" "$UNIT"
python3 - "$DROPIN" "$NAME" "$GROUP" "$PREFIX" "$STATE" "${ROOTS[@]}" <<'EOF'
import json, os, sys
dropin, name, group, prefix, state, roots = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
quote = lambda path: json.dumps(path.replace("%", "%%"), ensure_ascii=False)
lines = ["# Written by scripts/install-service.sh: the user and the photo roots the sandboxed service may write.",
         "# Run the script again to change them; `systemctl edit facesidecar` for anything else.", "[Service]"]
if name != "facesidecar":
    lines += [f"User={name}", f"Group={group}"]
lines.append("ReadWritePaths=")
if prefix:
    lines.append(f"ReadWritePaths={quote(state)}")
lines += [f"ReadWritePaths={quote(root)}" for root in roots]
with open(dropin + ".tmp", "w", encoding="utf-8") as handle:
    handle.write("\n".join(lines) + "\n")
os.chmod(dropin + ".tmp", 0o644)
os.replace(dropin + ".tmp", dropin)
EOF
say "installed $UNIT and $DROPIN"

# -- 7. check, then start --------------------------------------------------------------------------------
say "checking the installation as user $NAME: facesidecar doctor"
if ! (cd / && runuser -u "$NAME" -- env XDG_STATE_HOME="$STATE_HOME" "$OPT/.venv/bin/facesidecar" doctor --config "$CONFIG") \
        | sed 's/^/  /'; then
    die "facesidecar doctor found a problem (above); fix it and run this script again"
fi
if systemd_running; then
    systemctl daemon-reload
    systemctl enable facesidecar.service >/dev/null 2>&1
    systemctl restart facesidecar.service
    say "facesidecar is running: systemctl status facesidecar; facesidecar status; journalctl -u facesidecar -f"
else
    say "systemd is not running here, so the service was not started; start the daemon by hand with:"
    say "  runuser -u $NAME -- $BIN/facesidecar watch --config $CONFIG"
fi
