#!/bin/sh
# Install swarmpy on a Debian/Ubuntu host: OS packages, a virtualenv, the systemd unit.
#
#   install.sh [--prefix DIR] [--bin-dir DIR] [--no-apt] [--no-systemd] [--pip-args ARGS] SOURCE
#
# SOURCE is a swarmpy checkout or sdist/wheel path. --pip-args passes extra arguments to
# "pip install", e.g. "--no-index --find-links /mnt/wheels" on a host without internet.
set -eu

PREFIX=/opt/swarmpy
BIN_DIR=/usr/local/bin
APT=1
SYSTEMD=1
PIP_ARGS=""
SOURCE=""
UNIT_DIR=/etc/systemd/system
HERE=$(cd "$(dirname "$0")" && pwd)

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-0}"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; shift 2 ;;
        --bin-dir) BIN_DIR=$2; shift 2 ;;
        --pip-args) PIP_ARGS=$2; shift 2 ;;
        --no-apt) APT=0; shift ;;
        --no-systemd) SYSTEMD=0; shift ;;
        -h|--help) usage 0 ;;
        -*) echo "install.sh: unknown option $1" >&2; usage 2 >&2 ;;
        *) SOURCE=$1; shift ;;
    esac
done
[ -n "$SOURCE" ] || { echo "install.sh: missing SOURCE (path to swarmpy)" >&2; exit 2; }
[ -e "$SOURCE" ] || { echo "install.sh: $SOURCE does not exist" >&2; exit 2; }

if [ "$APT" = 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends \
        runc golang-github-containers-common nftables iproute2 util-linux python3 \
        python3-venv ca-certificates
fi

mkdir -p "$PREFIX"
python3 -m venv "$PREFIX/venv"
# shellcheck disable=SC2086  # PIP_ARGS is deliberately split into words
"$PREFIX/venv/bin/pip" install --quiet --disable-pip-version-check $PIP_ARGS "$SOURCE"
cp "$HERE/README.md" "$PREFIX/README.md"

# The unit names the default prefix; point it at the real one.
sed "s#/opt/swarmpy#$PREFIX#g" "$HERE/swarmpy.service" > "$PREFIX/swarmpy.service"

mkdir -p "$BIN_DIR"
ln -sf "$PREFIX/venv/bin/swarmpy" "$BIN_DIR/swarmpy"

if [ "$SYSTEMD" = 1 ]; then
    install -m 0644 "$PREFIX/swarmpy.service" "$UNIT_DIR/swarmpy.service"
    systemctl daemon-reload
    systemctl enable --now swarmpy.service
    echo "swarmpy installed; the daemon runs as swarmpy.service"
else
    echo "swarmpy installed in $PREFIX (systemd unit left at $PREFIX/swarmpy.service)"
fi
