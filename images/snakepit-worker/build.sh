#!/usr/bin/env bash
# snakepit-worker: the job container. Debian bookworm (minbase) with systemd, bash, git,
# python3, sshfs and CA certificates, plus /usr/bin/snakepit-run and the unit snakepit.service
# that runs the pit's script at start-up (contract at the top of files/snakepit-run).
# systemd-resolved gives it DNS from the bridge (<name>.lxd). Usage: build.sh WORK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=images/lib.sh
source "$here/../lib.sh"

work=$1
root=$work/rootfs
# (debootstrap does not resolve virtual packages: systemd-resolved needs dbus named.)
debian_rootfs "$root" systemd-sysv udev iproute2 dbus systemd-resolved bash git python3 sshfs \
  ca-certificates
systemd_networking "$root"
enable_units "$root" systemd-resolved.service
# systemd-resolved's package links /etc/resolv.conf to its stub only when it is configured on a
# running system; do it here.
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"

install -m 755 "$here/files/snakepit-run" "$root/usr/bin/snakepit-run"
install -m 755 "$here/files/snakepit-forward" "$root/usr/bin/snakepit-forward"
install -m 644 "$here/files/snakepit.service" "$root/etc/systemd/system/snakepit.service"
enable_units "$root" snakepit.service
install -d -m 755 "$root/data"
install -d -m 700 "$root/root/.ssh"

write_metadata "$work" debian bookworm "Snakepit worker (Debian bookworm, runs one job)"
