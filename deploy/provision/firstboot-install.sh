#!/bin/bash
# edge-agent first boot, stage 2: run by edge-agent-firstboot.service once the network is up. Checks the bundle
# that `edge-agent provision` wrote to the boot partition, installs the agent with deploy/install.sh, and removes
# the one-shot service. The bundle is renamed, not deleted, so a technician can see what was installed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
boot=$(dirname "$here")
src=/opt/edge-agent/src

cd "$here"
sha256sum --check --quiet SHA256SUMS || { echo "edge-agent: the bundle on the boot partition is damaged" >&2; exit 1; }
# shellcheck source=/dev/null
. ./settings.env

rm -rf "$src"
install -d -m 0755 "$src"
tar -xzf edge-agent-src.tar.gz -C "$src" --no-same-owner

args=(--profile "$here/$PROFILE" --installer-keys "$here/$INSTALLER_KEYS" --center "$here/$CENTER" --broker "$BROKER")
if [ -n "${TLS_CA:-}" ]; then
    args+=(--tls-ca "$here/$TLS_CA")
fi
if [ -n "${DEVICE_ID:-}" ]; then
    args+=(--device-id "$DEVICE_ID")
fi
if [ -n "${TLS_CERT:-}" ]; then
    args+=(--tls-cert "$here/$TLS_CERT" --tls-key "$here/$TLS_KEY")
fi
"$src/deploy/install.sh" "${args[@]}"
# The client key was on the card only to get here: the agent keeps its own copy.
if [ -n "${TLS_KEY:-}" ]; then
    shred -u "$here/$TLS_KEY" 2>/dev/null || rm -f "$here/$TLS_KEY"
fi

systemctl disable edge-agent-firstboot.service
rm -f /etc/systemd/system/edge-agent-firstboot.service
systemctl daemon-reload
mv "$here" "$boot/edge-agent.installed-$(date +%Y%m%d%H%M%S)"
echo "edge-agent: installed; the device identity is in /var/lib/edge-agent/device.pub.json"
