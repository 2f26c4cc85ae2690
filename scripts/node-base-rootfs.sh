#!/usr/bin/env bash
# A minimal Node.js base image's root file system, made offline from this machine: its `node`
# binary with the shared libraries ldd names, Debian's busybox-static as /bin/sh and the few
# commands the storage initializer's entrypoint uses, and a /tmp. For building
# docs/kserve.Containerfile where no registry with node:20-bookworm-slim is reachable:
#
#   bash scripts/node-base-rootfs.sh base.tar
#   podman import base.tar localhost/omlmd-node-base:20
#   podman build --pull=never --build-arg NODE_IMAGE=localhost/omlmd-node-base:20 -f docs/kserve.Containerfile -t IMAGE .
#
# The image is for this machine's architecture. test/integration/storage-initializer-image.test.ts
# builds and runs it under podman.
set -euo pipefail
out=${1:?usage: node-base-rootfs.sh OUTPUT.tar}
node_bin=$(command -v node)
busybox=${OMLMD_BUSYBOX:-/bin/busybox}
ldd_out=$(LC_ALL=C ldd "$busybox" 2>&1 || true)
if [ ! -x "$busybox" ] || ! grep -q "not a dynamic executable\|statically linked" <<<"$ldd_out"; then
  echo "node-base-rootfs: $busybox is not a static busybox (install busybox-static, or set OMLMD_BUSYBOX)" >&2
  exit 1
fi
root=$(mktemp -d "${TMPDIR:-/tmp}/omlmd-node-base.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/local/bin" "$root/bin" "$root/tmp" "$root/etc" "$root/mnt/models"
chmod 1777 "$root/tmp"
cp -L "$node_bin" "$root/usr/local/bin/node"
# The loader and every library node links against, at the paths node expects them.
while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done < <(ldd "$node_bin" | awk '/=> \//{print $3} /^[ \t]*\/[^ ]+ \(/{print $1}')
cp "$busybox" "$root/bin/busybox"
for cmd in sh dirname readlink ls cat env; do ln -s busybox "$root/bin/$cmd"; done
printf 'root:x:0:0:root:/root:/bin/sh\nomlmd:x:1000:1000:omlmd:/tmp:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nomlmd:x:1000:\n' >"$root/etc/group"
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$out" .
echo "node-base-rootfs: $out ($(du -h "$out" | cut -f1), node $("$node_bin" --version))"
