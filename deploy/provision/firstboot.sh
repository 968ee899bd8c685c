#!/bin/bash
# edge-agent first boot, stage 1. Runs from the kernel command line (systemd.run=) before the network is up,
# or chained from Raspberry Pi Imager's firstrun.sh. It only installs a one-shot service that installs the agent
# once the network is up (stage 2, firstboot-install.sh), and removes its own hook from cmdline.txt.
#
# EDGE_ROOTFS lets the tests run this against a folder instead of the real root file system.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
boot=$(dirname "$here")
rootfs=${EDGE_ROOTFS:-}
unit_dir="$rootfs/etc/systemd/system"

install -d -m 0755 "$unit_dir/multi-user.target.wants"
sed "s|@BUNDLE@|$here|g" "$here/edge-agent-firstboot.service" >"$unit_dir/edge-agent-firstboot.service"
chmod 0644 "$unit_dir/edge-agent-firstboot.service"
ln -sfn ../edge-agent-firstboot.service "$unit_dir/multi-user.target.wants/edge-agent-firstboot.service"

# Remove our hook (only ours: Imager's firstrun.sh cleans up its own arguments).
cmdline="$boot/cmdline.txt"
if grep -q "systemd\.run=[^ ]*/edge-agent/firstboot\.sh" "$cmdline"; then
    sed -i -e 's# systemd\.run=[^ ]*/edge-agent/firstboot\.sh##' \
        -e 's# systemd\.run_success_action=reboot##' \
        -e 's# systemd\.unit=kernel-command-line\.target##' "$cmdline"
fi
echo "edge-agent: first-boot installer enabled; it runs after the next boot, once the network is up"
