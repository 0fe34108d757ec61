#!/usr/bin/env bash
# Installs what bake, its demo and its tests need on a fresh Debian 12 machine (as root), then the npm
# dependencies. Idempotent: safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Image tools, bz2 decoders, gpg, filesystems, partitioning, conversions, compression, GNU time (bench),
# patchelf (wrapped distribution packages), git (hashes the flatcar/scripts tarball to check its pinned tree),
# veritysetup and openssl (verity and signed sysexts).
apt-get install -y -qq --no-install-recommends \
  squashfs-tools erofs-utils btrfs-progs e2fsprogs gdisk fdisk dosfstools mtools qemu-utils \
  lbzip2 pbzip2 bzip2 gnupg jq systemd-container busybox-static debootstrap cpio kpartx \
  zstd pigz zip unzip xz-utils sudo file binutils ca-certificates time patchelf git \
  cryptsetup-bin openssl >/dev/null
# Boot tests (QEMU TCG, OVMF, a guest kernel) and the container runtime for the SDK route and source builds.
apt-get install -y -qq --no-install-recommends qemu-system-x86 ovmf linux-image-amd64 >/dev/null
apt-get install -y -qq --no-install-recommends podman runc uidmap >/dev/null

# Podman on this kind of kernel: runc (crun fails on hybrid cgroups) and ulimits within the hard limits.
if ! grep -qs 'runtime = "runc"' /etc/containers/containers.conf; then
  mkdir -p /etc/containers
  cat > /etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
fi

npm ci --no-audit --no-fund

# `bake` on PATH, pointing at this checkout (bin/bake.js runs the build, or the sources when newer).
ln -sfn "$PWD/bin/bake.js" /usr/local/bin/bake
