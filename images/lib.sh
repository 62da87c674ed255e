# shellcheck shell=bash
# Shared steps of the image recipes under images/<name>/. Source it; do not run it.
#
# A recipe is a folder images/<name>/ with an executable build.sh and any files it needs.
# `build.sh WORK` fills WORK/rootfs and WORK/metadata.yaml (+ WORK/templates) for an LXD
# unified image tarball; build_image packs it. Built tarballs are cached as
#   $IMAGE_CACHE/<name>-<recipe hash>.tar.gz
# where the recipe hash covers every file of the recipe folder and this file, so an image is
# rebuilt only when its recipe changes.

IMAGES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IMAGE_CACHE=${SNAKEPIT_IMAGE_CACHE:-/var/cache/snakepit/images}
# Downloaded .debs are kept here, so rebuilding a Debian image needs no second download.
DEBOOTSTRAP_CACHE=${SNAKEPIT_DEBOOTSTRAP_CACHE:-/var/cache/snakepit/debootstrap}
DEBIAN_SUITE=bookworm

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# image_names: every recipe, in build order.
image_names() {
  local recipe
  for recipe in "$IMAGES_DIR"/*/build.sh; do basename "$(dirname "$recipe")"; done
}

# recipe_hash NAME: sha256 (16 hex digits) over the recipe folder's files (names and contents)
# and this library.
recipe_hash() {
  local name=$1
  [ -x "$IMAGES_DIR/$name/build.sh" ] || die "no image recipe images/$name/build.sh"
  (cd "$IMAGES_DIR" && find lib.sh "$name" -type f -print0 | LC_ALL=C sort -z \
     | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# image_tarball NAME: where the tarball for the current recipe is (or will be) cached.
image_tarball() { printf '%s/%s-%s.tar.gz\n' "$IMAGE_CACHE" "$1" "$(recipe_hash "$1")"; }

# debian_mirror: the Debian mirror apt uses on this machine (first URIs of a deb822 source
# that is not the security archive), falling back to a classic sources.list line.
debian_mirror() {
  local mirror
  mirror=$(awk 'tolower($1) == "uris:" && $2 !~ /security/ { print $2; exit }' \
             /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++)
                 if ($i ~ /^https?:/) { print $i; exit } }' \
               /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  fi
  [ -n "$mirror" ] || die "found no Debian mirror in /etc/apt/sources.list.d/*.sources"
  printf '%s\n' "${mirror%/}"
}

# unmount_below DIR: undo mounts a failed build may have left inside DIR (debootstrap mounts
# proc and sys into its target), deepest first.
unmount_below() {
  local target
  findmnt -rn -o TARGET | awk -v dir="$1" 'index($0, dir "/") == 1' | sort -r \
    | while read -r target; do umount -l "$target" 2>/dev/null || true; done
}

# build_image NAME: print the path of NAME's tarball, building it first unless it is cached.
build_image() {
  local name=$1 tarball work start
  tarball=$(image_tarball "$name")
  if [ -s "$tarball" ]; then
    printf '%s\n' "$tarball"
    return 0
  fi
  mkdir -p "$IMAGE_CACHE"
  work=$(mktemp -d "$IMAGE_CACHE/.build-$name.XXXXXX")
  # shellcheck disable=SC2064  # expand $work now: the trap runs after this function returns
  trap "unmount_below '$work'; rm -rf --one-file-system '$work'" EXIT
  say "Building image $name (recipe images/$name)"
  start=$SECONDS
  "$IMAGES_DIR/$name/build.sh" "$work" >&2 || die "the recipe images/$name/build.sh failed"
  if [ ! -d "$work/rootfs" ] || [ ! -f "$work/metadata.yaml" ]; then
    die "images/$name left no rootfs or metadata.yaml"
  fi
  unmount_below "$work"
  mkdir -p "$work/templates"
  tar -C "$work" --numeric-owner --xattrs -czf "$work/image.tar.gz" metadata.yaml templates rootfs
  # Older builds of this recipe are of no further use.
  rm -f "$IMAGE_CACHE/$name"-????????????????.tar.gz*
  mv "$work/image.tar.gz" "$tarball"
  rm -rf --one-file-system "$work"
  trap - EXIT
  say "Built $tarball ($(du -h "$tarball" | cut -f1), $((SECONDS - start)) s)"
  printf '%s\n' "$tarball"
}

# ---- helpers for the recipes ---------------------------------------------------------------

# write_metadata WORK OS RELEASE DESCRIPTION: metadata.yaml with templates that give each
# container its own /etc/hostname and /etc/hosts.
write_metadata() {
  local work=$1 os=$2 release=$3 description=$4
  mkdir -p "$work/templates"
  cat > "$work/metadata.yaml" <<YAML
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  architecture: $(uname -m)
  os: $os
  release: $release
  description: $description
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
  /etc/hosts:
    when: [create, copy]
    template: hosts.tpl
YAML
  printf '{{ container.name }}\n' > "$work/templates/hostname.tpl"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\t{{ container.name }}\n' > "$work/templates/hosts.tpl"
}

# debian_rootfs ROOT PACKAGE...: a minimal Debian ($DEBIAN_SUITE) with the given packages,
# from the mirror this machine's apt uses, prepared for an unprivileged LXD container.
debian_rootfs() {
  local root=$1 mirror include
  shift
  mirror=$(debian_mirror)
  include=$(IFS=,; echo "$*")
  mkdir -p "$DEBOOTSTRAP_CACHE"
  say "debootstrap $DEBIAN_SUITE from $mirror with $include"
  if ! debootstrap --variant=minbase --include="$include" --cache-dir="$DEBOOTSTRAP_CACHE" \
       "$DEBIAN_SUITE" "$root" "$mirror" > "$root.log" 2>&1; then
    tail -n 15 "$root.log" "$root/debootstrap/debootstrap.log" >&2 2>/dev/null || true
    die "debootstrap failed (log: $root.log)"
  fi
  # Each container must get its own machine id (systemd creates one at first boot when the
  # file is empty); a shared one would also give every container the same DHCP identity.
  : > "$root/etc/machine-id"
  rm -f "$root/var/lib/dbus/machine-id"
  # Units that fail or do harm in a container: binfmt needs the host's binfmt_misc, and
  # tmpfiles-setup-dev would create (in a privileged container: chmod the host's) device nodes.
  mask_units "$root" systemd-binfmt.service systemd-tmpfiles-setup-dev.service \
    systemd-networkd-wait-online.service
  rm -rf "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
  rm -rf "$root"/var/cache/apt/archives/*.deb
}

# mask_units ROOT UNIT... / enable_units ROOT UNIT...: systemctl on ROOT, offline (the image's
# own systemctl, so that its unit search paths and Also= lines apply).
mask_units() { local root=$1; shift; chroot "$root" systemctl --quiet mask "$@"; }
enable_units() { local root=$1; shift; chroot "$root" systemctl --quiet enable "$@"; }

# systemd_networking ROOT: eth0 by DHCP through systemd-networkd, address only: no default route
# (the containers reach nothing beyond the bridge anyway), the search domain from DHCP (lxd)
# and no IPv6.
systemd_networking() {
  local root=$1
  install -D -m 644 /dev/stdin "$root/etc/systemd/network/eth0.network" <<'NETWORK'
[Match]
Name=eth0

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
UseGateway=false
UseDomains=yes
ClientIdentifier=mac
SendHostname=true
NETWORK
  enable_units "$root" systemd-networkd.service
}
