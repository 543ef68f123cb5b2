#!/bin/sh
# scripts/build-guest.sh OUTDIR — build the tiny pyvirt test guest.
#
# Outputs in OUTDIR (the Makefile uses build/guest/):
#   vmlinuz         Debian 12 cloud kernel (package linux-image-cloud-amd64 ->
#                   its dependency linux-image-6.1.0-N-cloud-amd64)
#   initrd.gz       busybox (busybox-static) initramfs: guest/init as /init,
#                   the needed kernel modules and their load order
#   disk.img        the same root filesystem as a 64 MiB raw ext4 image
#   kernel-version  e.g. 6.1.0-56-cloud-amd64
#   SHA256SUMS      checksums of the above; also the "up to date" stamp
#
# Booting:
#   initramfs:  -kernel vmlinuz -initrd initrd.gz -append 'console=ttyS0'
#   disk:       -kernel vmlinuz -initrd initrd.gz -append 'root=/dev/vda console=ttyS0'
#               -drive file=disk.img(or a qcow2 overlay of it),if=virtio
#     The cloud kernel has ext4 built in but virtio_blk (and virtio_pci) as
#     modules, so the disk can not be mounted by the kernel alone: boot it
#     with the same initrd.gz. Its /init sees root=/dev/vda, loads the
#     modules, mounts /dev/vda (ext4, read-write), moves /dev /proc /sys onto
#     it and switch_root's into the disk's /init (the same script, which then
#     skips the first stage and does the normal guest work).
#   Optional cmdline: guest.hostname=NAME (default guest1), guest.ping=IP|gateway.
#   Console lines printed by the guest are listed in guest/init.
#
# Nothing is installed on the host: the .debs are fetched with
# `apt-get download` (after `apt-get update` if apt does not know them; a copy
# already in /var/cache/apt/archives is used if present) into OUTDIR/.debs and
# unpacked with `dpkg-deb -x`; modules.dep is made with `depmod -b`.
# Needs: apt-get, dpkg-deb, depmod (kmod), cpio, gzip,
# mke2fs (e2fsprogs >= 1.43 for -d), sha256sum; xz/zstd only if the kernel's
# modules are compressed. Root is not needed (files in the images are owned
# by root when run as root, by the build user otherwise; the guest runs as
# root either way).
#
# Idempotent: does nothing when all outputs exist and SHA256SUMS is newer than
# this script and every file in guest/.

set -eu
PATH=$PATH:/usr/sbin:/sbin
export PATH

die() { echo "build-guest: error: $*" >&2; exit 1; }
# progress goes to fd 3 (stdout), so functions whose stdout is captured can report
exec 3>&1
say() { echo "build-guest: $*" >&3; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
OUT=$1
HERE=$(cd "$(dirname "$0")" && pwd)
SCRIPT="$HERE/$(basename "$0")"
GUEST="$HERE/../guest"
[ -f "$GUEST/init" ] || die "guest files not found in $GUEST"
GUEST=$(cd "$GUEST" && pwd)

KERNEL_META=linux-image-cloud-amd64
BUSYBOX_PKG=busybox-static
DISK_SIZE=64M

# ---- up to date? ----------------------------------------------------------
if [ -f "$OUT/SHA256SUMS" ] && [ -f "$OUT/vmlinuz" ] && [ -f "$OUT/initrd.gz" ] \
    && [ -f "$OUT/disk.img" ]; then
    newer=$(find "$SCRIPT" "$GUEST" -newer "$OUT/SHA256SUMS" -print | head -n 1)
    if [ -z "$newer" ]; then
        say "$OUT is up to date"
        exit 0
    fi
    say "$newer changed; rebuilding"
fi

for tool in apt-get apt-cache dpkg-deb depmod cpio gzip mke2fs sha256sum awk find; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (apt-get install cpio e2fsprogs ...)"
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DEBS="$OUT/.debs"
WORK="$OUT/.work"
rm -rf "$WORK"
mkdir -p "$DEBS" "$WORK"
trap 'rm -rf "$WORK"' EXIT

# ---- fetch .debs ---------------------------------------------------------
apt_updated=""
candidate() {
    # candidate version of package $1, or nothing
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}

# fetch_deb PKG [VERSION] -> prints the path of the .deb
fetch_deb() {
    pkg=$1
    ver=${2:-}
    if [ -z "$ver" ]; then
        ver=$(candidate "$pkg")
        if [ -z "$ver" ] && [ -z "$apt_updated" ]; then
            say "apt does not know $pkg; running apt-get update"
            apt-get update -qq >&2 || die "apt-get update failed"
            apt_updated=1
            ver=$(candidate "$pkg")
        fi
        [ -n "$ver" ] || die "no installable version of $pkg (is deb.debian.org in sources.list?)"
    fi
    # file name as apt writes it: epoch ':' becomes %3a
    file="${pkg}_$(echo "$ver" | sed 's/:/%3a/')_amd64.deb"
    if [ -s "$DEBS/$file" ]; then
        say "using cached $file"
    elif [ -s "/var/cache/apt/archives/$file" ]; then
        say "using /var/cache/apt/archives/$file"
        cp "/var/cache/apt/archives/$file" "$DEBS/$file.tmp"
        mv "$DEBS/$file.tmp" "$DEBS/$file"
    else
        say "downloading $pkg=$ver"
        (cd "$DEBS" && apt-get download -q "$pkg=$ver" >&2) \
            || die "apt-get download $pkg=$ver failed"
        [ -s "$DEBS/$file" ] || file=$(cd "$DEBS" && ls -t "${pkg}"_*_amd64.deb | head -n 1)
    fi
    [ -s "$DEBS/$file" ] || die "download of $pkg produced no .deb"
    echo "$DEBS/$file"
}

meta_deb=$(fetch_deb "$KERNEL_META")
# Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)
dep=$(dpkg-deb -f "$meta_deb" Depends | tr ',' '\n' | grep -m1 -o 'linux-image-[0-9][^ ]*-cloud-amd64 *(= *[^)]*)') \
    || die "cannot find the kernel package in Depends of $meta_deb"
kpkg=$(echo "$dep" | awk '{ print $1 }')
kver=$(echo "$dep" | sed 's/.*= *\([^)]*\)).*/\1/')
kernel_deb=$(fetch_deb "$kpkg" "$kver")
KREL=${kpkg#linux-image-}
say "kernel $kpkg $kver ($KREL)"

say "unpacking $(basename "$kernel_deb")"
mkdir -p "$WORK/kernel"
dpkg-deb -x "$kernel_deb" "$WORK/kernel"
KDIR="$WORK/kernel/lib/modules/$KREL"
[ -f "$WORK/kernel/boot/vmlinuz-$KREL" ] || die "no /boot/vmlinuz-$KREL in $kernel_deb"
# The .deb has no modules.dep (depmod makes it when the package is
# installed): generate it for the unpacked tree.
if [ ! -f "$KDIR/modules.dep" ]; then
    depmod -b "$WORK/kernel" "$KREL" || die "depmod -b $WORK/kernel $KREL failed"
fi
[ -f "$KDIR/modules.dep" ] || die "no modules.dep for $KREL"

# busybox: the Debian busybox-static package
busybox_deb=$(fetch_deb "$BUSYBOX_PKG")
mkdir -p "$WORK/busybox"
dpkg-deb -x "$busybox_deb" "$WORK/busybox"
BUSYBOX="$WORK/busybox/bin/busybox"
[ -x "$BUSYBOX" ] || die "no bin/busybox in $busybox_deb"
if command -v file >/dev/null 2>&1; then
    file -L "$BUSYBOX" | grep -q 'statically linked' || die "$BUSYBOX is not statically linked"
fi

# ---- root filesystem -----------------------------------------------------
ROOT="$WORK/root"
say "assembling the root filesystem"
mkdir -p "$ROOT"
for d in bin sbin usr/bin usr/sbin etc proc sys dev run tmp newroot www lib/modules root; do
    mkdir -p "$ROOT/$d"
done
chmod 1777 "$ROOT/tmp"
cp "$BUSYBOX" "$ROOT/bin/busybox"
# one symlink per applet, at the path busybox itself lists (bin/sh, sbin/ip...)
"$BUSYBOX" --list-full | while read -r applet; do
    [ -e "$ROOT/$applet" ] || [ -L "$ROOT/$applet" ] && continue
    case "$applet" in
    */*/*) ln -s ../../bin/busybox "$ROOT/$applet" ;;
    */*) ln -s ../bin/busybox "$ROOT/$applet" ;;
    esac
done
[ -L "$ROOT/bin/sh" ] || die "busybox --list-full gave no bin/sh"

install -m 0755 "$GUEST/init" "$ROOT/init"
rm -f "$ROOT/sbin/init"
ln -s ../init "$ROOT/sbin/init"
install -m 0755 "$GUEST/udhcpc.script" "$ROOT/etc/udhcpc.script"
install -m 0755 "$GUEST/acpi-watch" "$ROOT/sbin/acpi-watch"
install -m 0644 "$GUEST/index.html" "$ROOT/www/index.html"
echo "root:x:0:0:root:/root:/bin/sh" > "$ROOT/etc/passwd"
echo "root:x:0:" > "$ROOT/etc/group"
echo "guest1" > "$ROOT/etc/hostname"
: > "$ROOT/etc/resolv.conf"
echo "$KREL" > "$ROOT/etc/guest-kernel"

# ---- kernel modules, in dependency order ---------------------------------
wanted=$(sed 's/#.*//' "$GUEST/modules.list" | tr -s ' \t' '\n\n' | grep -v '^$' || true)
[ -n "$wanted" ] || die "guest/modules.list is empty"
# Resolve: for each wanted module its modules.dep entry gives all (transitive)
# dependencies; load them depth-first, dependencies before dependents.
# Modules in modules.builtin are skipped. Output: relative paths, in order.
order=$(echo "$wanted" | awk -v dep="$KDIR/modules.dep" -v builtin="$KDIR/modules.builtin" '
    function base(p,  b) { b = p; sub(/.*\//, "", b); sub(/\.ko(\.(xz|zst|gz))?$/, "", b); gsub(/-/, "_", b); return b }
    function visit(p,  n, parts, i) {
        if (p in seen) return
        seen[p] = 1
        n = split(deps[p], parts, " ")
        # modprobe loads the last listed dependency first
        for (i = n; i >= 1; i--) visit(parts[i])
        print p
    }
    BEGIN {
        while ((getline line < dep) > 0) {
            split(line, f, ":")
            path = f[1]
            rest = substr(line, length(path) + 2)
            deps[path] = rest
            byname[base(path)] = path
        }
        while ((getline line < builtin) > 0) isbuiltin[base(line)] = 1
    }
    {
        m = $1; gsub(/-/, "_", m)
        if (m in byname) visit(byname[m])
        else if (m in isbuiltin) print "build-guest: " m " is built into the kernel" > "/dev/stderr"
        else { print "build-guest: module " m " not found" > "/dev/stderr"; bad = 1 }
    }
    END { exit bad }
' 2>&3) || die "some modules of guest/modules.list are in neither modules.dep nor modules.builtin of $KREL"

: > "$ROOT/lib/modules/load-order"
for rel in $order; do
    src="$KDIR/$rel"
    [ -f "$src" ] || die "$rel listed in modules.dep but missing from $kernel_deb"
    name=$(basename "$rel")
    # busybox insmod loads plain .ko only: decompress here
    case "$name" in
    *.ko.xz) name=${name%.xz}; xz -dc "$src" > "$ROOT/lib/modules/$name" ;;
    *.ko.zst) name=${name%.zst}; zstd -qdc "$src" > "$ROOT/lib/modules/$name" ;;
    *.ko.gz) name=${name%.gz}; gzip -dc "$src" > "$ROOT/lib/modules/$name" ;;
    *) cp "$src" "$ROOT/lib/modules/$name" ;;
    esac
    echo "$name" >> "$ROOT/lib/modules/load-order"
done
say "modules: $(tr '\n' ' ' < "$ROOT/lib/modules/load-order")"

# ---- initrd.gz -------------------------------------------------------------
# newc cpio entry for the character device dev/console (5,1), so the kernel
# can open the initial console before /init mounts devtmpfs; written by hand
# because making a device node needs root. The kernel accepts concatenated
# cpio archives.
console_cpio() {
    name="dev/console"
    namesize=$(( ${#name} + 1 ))
    # magic ino mode uid gid nlink mtime filesize devmaj devmin rdevmaj rdevmin namesize check
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        900001 $((0020600)) 0 0 1 0 0 0 0 5 1 "$namesize" 0
    printf '%s\0' "$name"
    pad=$(( (4 - (110 + namesize) % 4) % 4 ))
    [ $pad -gt 0 ] && head -c "$pad" /dev/zero
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        0 0 0 0 1 0 0 0 0 0 0 11 0
    printf 'TRAILER!!!\0'
    head -c 3 /dev/zero     # 110 + 11 -> 124, a multiple of 4
}

say "writing initrd.gz"
(
    cd "$ROOT"
    find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet
    console_cpio
) | gzip -9 -n > "$WORK/initrd.gz"

# ---- disk.img ----------------------------------------------------------------
say "writing disk.img ($DISK_SIZE ext4)"
: > "$WORK/disk.img"
mke2fs -q -F -t ext4 -L guestroot -d "$ROOT" "$WORK/disk.img" "$DISK_SIZE" \
    || die "mke2fs -d failed (needs e2fsprogs >= 1.43)"

# ---- install ---------------------------------------------------------------
cp "$WORK/kernel/boot/vmlinuz-$KREL" "$WORK/vmlinuz"
echo "$KREL" > "$WORK/kernel-version"
rm -f "$OUT/SHA256SUMS"
for f in vmlinuz initrd.gz disk.img kernel-version; do
    mv "$WORK/$f" "$OUT/$f"
done
(cd "$OUT" && sha256sum vmlinuz initrd.gz disk.img kernel-version > SHA256SUMS.tmp \
    && mv SHA256SUMS.tmp SHA256SUMS)
say "done: $OUT/{vmlinuz,initrd.gz,disk.img} ($KREL)"
ls -l "$OUT/vmlinuz" "$OUT/initrd.gz" "$OUT/disk.img" | sed 's/^/build-guest:   /'
