#!/usr/bin/env bash
# snakepit-daemon: the per-pit daemon container. Debian bookworm (minbase) with systemd and an
# OpenSSH server that offers nothing but chrooted SFTP (ChrootDirectory /data, internal-sftp)
# to the user `worker` (uid 2525, no password, key pushed by the service to
# /home/worker/.ssh/authorized_keys). The service mounts the pit at /data/rw/pit and shares
# below /data/rw and /ro (see section 1.8 of the service spec). Usage: build.sh WORK.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=images/lib.sh
source "$here/../lib.sh"

work=$1
root=$work/rootfs
debian_rootfs "$root" systemd-sysv udev iproute2 openssh-server
systemd_networking "$root"

# The user the pit's workers log in as. "*" instead of a locked "!": no password can match,
# and public key logins still work with UsePAM off.
chroot "$root" useradd --uid 2525 --user-group --create-home --shell /usr/sbin/nologin worker
chroot "$root" usermod --password '*' worker
install -d -m 700 -o 2525 -g 2525 "$root/home/worker/.ssh"
# The chroot and the mount points below it must belong to root and be writable by root only.
install -d -m 755 "$root/data" "$root/data/ro" "$root/data/rw" "$root/ro"

install -m 644 "$here/files/sshd_config" "$root/etc/ssh/sshd_config"
rm -rf "$root/etc/ssh/sshd_config.d"
# Host keys are made per container at its first start, not shared by every container.
rm -f "$root"/etc/ssh/ssh_host_*
install -D -m 644 "$here/files/ssh-hostkeys.conf" \
  "$root/etc/systemd/system/ssh.service.d/snakepit-hostkeys.conf"
enable_units "$root" ssh.service

write_metadata "$work" debian bookworm "Snakepit pit daemon (Debian bookworm, SFTP only)"
