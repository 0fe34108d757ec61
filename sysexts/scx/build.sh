#!/bin/sh
# Runs inside the build container: /src is the scx source, /out/usr/bin receives every scheduler built.
set -eu
apk add --no-cache build-base cargo clang llvm bpftool libbpf-dev elfutils-dev zlib-dev zstd-dev \
  linux-headers protoc
cd /src
cargo build --release --locked
mkdir -p /out/usr/bin
for binary in target/release/scx_*; do
  case "$binary" in *.d) continue ;; esac
  if [ -f "$binary" ] && [ -x "$binary" ]; then cp "$binary" /out/usr/bin/; fi
done
