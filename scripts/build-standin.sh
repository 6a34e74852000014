#!/usr/bin/env bash
# build-standin.sh - build the CI "stand-in" for the Yocto qemuarm64 node image from Debian arm64 packages.
#
# The stand-in is what `rcar-k8s qemu-test --standin` boots when no Yocto build is available: a Debian 12
# arm64 kernel + a minimal systemd/containerd/runc/kmod/iptables root file system, made to look like a
# plain Yocto image *without* this project's node configuration (hostname = the MACHINE name, root without
# password, no k8s modules/sysctls). The generator later copies the layer's own node files into a copy
# of base.ext4 (generator/qemu/standin.py), so the boot test exercises the files we ship.
#
# Output (printed as the last stdout line): DIR = $RCAR_K8S_STANDIN_CACHE/<script hash>/ holding
#   vmlinuz      Debian linux-image-<abi>-arm64 kernel
#   initrd.gz    busybox initramfs: insmod virtio/ext4 modules, mount /dev/vda, switch_root to systemd
#   base.ext4    the root file system (all kernel modules, /boot/config-<abi>)
#   info.json    kernel/package versions and build timings
# Cached: a rerun with the same script is instant; the mmdebstrap tarball (the slow part, ~5 min under
# qemu-user on 2 cores) is cached separately, keyed by suite + package list only.
#
# Needs root and access to the Debian archive (apt). Env: RCAR_K8S_STANDIN_CACHE (default
# /var/tmp/rcar-k8s-standin), DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR (default: this host's apt sources).
set -euo pipefail

CACHE=${RCAR_K8S_STANDIN_CACHE:-/var/tmp/rcar-k8s-standin}
SUITE=bookworm
# Package set of the stand-in root file system (minbase + these). systemd-timesyncd: poky's systemd
# ships timesyncd by default, so a faithful stand-in has it too.
INCLUDE=systemd-sysv,udev,kmod,iproute2,iptables,containerd,runc,procps,util-linux,dbus,systemd-timesyncd
HOSTNAME_DEFAULT=qemuarm64      # what a Yocto image is called before our layer makes the name unique
INITRD_MODS="virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk crc32c_generic crc16 mbcache jbd2 ext4"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

SELF=$(readlink -f "$0")
KEY=$(sha256sum "$SELF" | cut -c1-16)
OUT=$CACHE/$KEY
log() { printf '[build-standin %5ss] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ -s "$OUT/standin.ok" ]; then echo "$OUT"; exit 0; fi
[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap --mode=root, binfmt registration)"

apt_uri() { awk -v want="$1" '/^URIs:/{u=$2} /^Suites:/{ if ($0 ~ want) { print u; exit } }' \
              /etc/apt/sources.list.d/*.sources 2>/dev/null; }
MIRROR=${DEBIAN_MIRROR:-$(apt_uri " $SUITE( |\$)")}
SECMIRROR=${DEBIAN_SECURITY_MIRROR:-$(apt_uri "$SUITE-security")}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECMIRROR=${SECMIRROR:-http://deb.debian.org/debian-security}

# ---- host tools (normally already installed from scripts/ci-packages.txt)
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64; apt-get update -qq
fi
need=()
for p in qemu-system-arm qemu-user-static mmdebstrap arch-test kmod e2fsprogs cpio gzip; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing host packages: ${need[*]}"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# mmdebstrap runs arm64 maintainer scripts through qemu-user: needs binfmt_misc (not auto-mounted in containers/VMs
# whose PID 1 is not systemd). Registration is kernel-global and idempotent.
[ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || grep -v '^#' /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register

mkdir -p "$CACHE/debs" "$OUT.tmp"
rm -rf "${OUT:?}.tmp"/*
# ---- kernel + busybox (apt-get download verifies against the signed archive index)
KPKG=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-[0-9]/{print $2}' | sed 's/:arm64$//' | head -1)
[ -n "$KPKG" ] || die "cannot resolve linux-image-arm64:arm64 (apt-get update with arm64 enabled?)"
KVER=${KPKG#linux-image-}
for p in "$KPKG" busybox-static; do
  ls "$CACHE/debs/${p}"_*_arm64.deb >/dev/null 2>&1 || (cd "$CACHE/debs" && apt-get download -q "$p:arm64" >&2)
done
log "kernel package $KPKG"

# ---- base root file system via mmdebstrap (cached tarball)
TARKEY=$(printf '%s\n' "$SUITE" "$INCLUDE" | sha256sum | cut -c1-16)
TAR=$CACHE/rootfs-$TARKEY.tar
if [ ! -s "$TAR" ]; then
  log "mmdebstrap $SUITE arm64 minbase + $INCLUDE (slow: maintainer scripts under qemu-user)"
  mmdebstrap --mode=root --format=tar --arch=arm64 --variant=minbase --include="$INCLUDE" "$SUITE" "$TAR.part" \
    "deb $MIRROR $SUITE main" "deb $MIRROR $SUITE-updates main" "deb $SECMIRROR $SUITE-security main" \
    > "$CACHE/mmdebstrap.log" 2>&1 || { tail -20 "$CACHE/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
  mv "$TAR.part" "$TAR"
fi
log "rootfs tarball $(du -sh "$TAR" | cut -f1)"

# ---- assemble in tmpfs when it has room (deleting ~15k files on a discard-mounted disk is slow)
WORK=$(mktemp -d "$( [ "$(df -Pm /dev/shm 2>/dev/null | awk 'NR==2{print $4}')" -gt 3000 ] 2>/dev/null && echo /dev/shm || echo "$CACHE")/standin.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
K=$WORK/kernel; R=$WORK/rootfs; BB=$WORK/bb
dpkg-deb -x "$CACHE"/debs/"${KPKG}"_*_arm64.deb "$K"
dpkg-deb -x "$CACHE"/debs/busybox-static_*_arm64.deb "$BB"
depmod -b "$K" "$KVER"
mkdir "$R"; tar -C "$R" -xpf "$TAR"
mkdir -p "$R/lib/modules" "$R/boot"
cp -a "$K/lib/modules/$KVER" "$R/lib/modules/"
# kubeadm's SystemVerification reads /boot/config-$(uname -r); this kernel has no /proc/config.gz
cp "$K/boot/config-$KVER" "$K/boot/System.map-$KVER" "$R/boot/"
echo "$HOSTNAME_DEFAULT" > "$R/etc/hostname"
printf '127.0.0.1 localhost\n' > "$R/etc/hosts"
echo '/dev/vda / ext4 rw,relatime 0 1' > "$R/etc/fstab"
sed -i 's/^root:[^:]*:/root::/' "$R/etc/shadow"     # like Yocto's empty-root-password: login as root, no password
rm -f "$R/etc/machine-id" "$R/var/lib/dbus/machine-id"; : > "$R/etc/machine-id"   # fresh id per boot
CONTAINERD_V=$(awk '/^Package: containerd$/{f=1} f&&/^Version:/{print $2; exit}' "$R/var/lib/dpkg/status")
SYSTEMD_V=$(awk '/^Package: systemd$/{f=1} f&&/^Version:/{print $2; exit}' "$R/var/lib/dpkg/status")
IMG_MB=$(( $(du -sm "$R" | cut -f1) * 13 / 10 + 256 ))
mke2fs -q -t ext4 -L standin-root -d "$R" "$OUT.tmp/base.ext4" "${IMG_MB}M" >&2

# ---- initramfs that mounts the ext4 root (Debian builds virtio_blk/ext4 as modules)
I=$WORK/initrd; mkdir -p "$I"/{bin,proc,sys,dev,newroot,lib/modules}; cp "$BB/bin/busybox" "$I/bin/"
for m in $INITRD_MODS; do
  f=$(grep -E "(^|/)$m\.ko:" "$K/lib/modules/$KVER/modules.dep" | cut -d: -f1)
  [ -n "$f" ] || die "module $m not in modules.dep"
  cp "$K/lib/modules/$KVER/$f" "$I/lib/modules/"
done
cat > "$I/init" <<INIT
#!/bin/busybox sh
B=/bin/busybox
\$B mount -t proc proc /proc; \$B mount -t sysfs sys /sys; \$B mount -t devtmpfs dev /dev
for m in $INITRD_MODS; do \$B insmod /lib/modules/\$m.ko || echo "STANDIN-INITRD: insmod \$m failed"; done
i=0; while [ ! -b /dev/vda ] && [ \$i -lt 100 ]; do \$B sleep 0.1; i=\$((i+1)); done
\$B mount -t ext4 -o rw /dev/vda /newroot || { echo "STANDIN-INITRD: cannot mount /dev/vda"; \$B poweroff -f; }
echo "STANDIN-INITRD: switching to systemd"
\$B umount /proc /sys; \$B umount /dev
exec \$B switch_root /newroot /sbin/init
INIT
chmod +x "$I/init"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) > "$OUT.tmp/initrd.gz"
cp "$K/boot/vmlinuz-$KVER" "$OUT.tmp/vmlinuz"
cp "$K/boot/config-$KVER" "$OUT.tmp/config"
cat > "$OUT.tmp/info.json" <<JSON
{"kernel": "$KVER", "kernel_package": "$(basename "$CACHE"/debs/"${KPKG}"_*_arm64.deb)", "suite": "$SUITE",
 "include": "$INCLUDE", "containerd": "$CONTAINERD_V", "systemd": "$SYSTEMD_V", "hostname_default": "$HOSTNAME_DEFAULT",
 "image_mb": $IMG_MB, "script_key": "$KEY", "build_seconds": $SECONDS}
JSON
date -u +%FT%TZ > "$OUT.tmp/standin.ok"
rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
# older builds of an earlier script version are dead weight (~1 GB each)
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9a-f]{16}(\.tmp)?' \
  ! -name "$KEY" -exec rm -rf {} +
log "done: $OUT (${SECONDS}s)"
echo "$OUT"
