#!/bin/sh
# Assembles the root filesystem of a project image: the Node 24 binary, the shared libraries `ldd`
# lists for it, a passwd/group with the non-root user 65532, /tmp, /home/nonroot and /app/main.mjs.
# The same content as assembleNodeRootfs() in test/cluster/images.ts (the local builder, which works
# without an image builder); test/chart/images.test.ts runs this script and compares the two.
#
#   assemble-rootfs.sh <node binary> <bundle main.mjs> <rootfs dir>
set -eu
node_bin=$1
bundle=$2
rootfs=$3

mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/home/nonroot" "$rootfs/app"
mkdir -m 1777 -p "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp -L "$node_bin" "$rootfs/usr/local/bin/node"
chmod 0755 "$rootfs/usr/local/bin/node"
strip --strip-debug "$rootfs/usr/local/bin/node"

multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
# "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
ldd "$node_bin" | sed -n -e 's/.*=> *\(\/[^ ]*\).*/\1/p' -e 's/^[[:space:]]*\(\/[^ ]*\).*/\1/p' | sort -u |
  while read -r lib; do
    case "$lib" in
      /lib64/*) dest=$lib ;; # the loader is asked for by its absolute path
      *) dest=/lib/$multiarch/$(basename "$lib") ;;
    esac
    mkdir -p "$rootfs$(dirname "$dest")"
    cp -L "$lib" "$rootfs$dest"
    chmod 0755 "$rootfs$dest"
  done

printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
cp "$bundle" "$rootfs/app/main.mjs"
