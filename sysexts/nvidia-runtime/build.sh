#!/bin/sh
# Runs inside the build container: /src is nvidia-container-toolkit with libnvidia-container/ inside it,
# /out receives usr/bin (toolkit commands, nvidia-container-cli) and usr/lib (libnvidia-container).
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends bmake build-essential ca-certificates curl libcap-dev \
  libelf-dev libseccomp-dev lsb-release m4 pkg-config rpcsvc-proto
make -C /src/libnvidia-container -j"$(nproc)" WITH_LIBELF=yes WITH_SECCOMP=yes
make -C /src/libnvidia-container install DESTDIR=/out prefix=/usr libdir=/usr/lib
cd /src
for command in nvidia-container-runtime nvidia-container-runtime-hook nvidia-ctk nvidia-cdi-hook; do
  CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o "/out/usr/bin/$command" "./cmd/$command"
done
