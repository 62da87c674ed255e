#!/usr/bin/env bash
# snakepit-tiny: a busybox-only container (about 2 MB) for fast lifecycle tests. busybox init
# runs files/rcS, which brings up eth0 by DHCP (address and DNS, no default route) with
# udhcpc and files/udhcpc.script. Usage: build.sh WORK (see images/lib.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=images/lib.sh
source "$here/../lib.sh"

work=$1
root=$work/rootfs
busybox=/bin/busybox
if ! "$busybox" --list-full >/dev/null 2>&1; then
  die "needs Debian's busybox-static ($busybox)"
fi

mkdir -p "$root"
for dir in bin sbin usr/bin usr/sbin etc/init.d usr/share/udhcpc dev proc sys run tmp root \
           var/log; do
  mkdir -p "$root/$dir"
done
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
install -m 755 "$busybox" "$root/bin/busybox"
"$busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] || ln -sfn /bin/busybox "$root/$applet"
done
install -m 644 "$here/files/inittab" "$root/etc/inittab"
install -m 755 "$here/files/rcS" "$root/etc/init.d/rcS"
install -m 755 "$here/files/udhcpc.script" "$root/usr/share/udhcpc/default.script"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' \
  > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
: > "$root/etc/resolv.conf"
echo snakepit-tiny > "$root/etc/hostname"

write_metadata "$work" busybox "$("$busybox" | head -n 1 | cut -d' ' -f2)" \
  "Snakepit tiny (busybox) test image"
