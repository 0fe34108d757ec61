#!/bin/sh
# Runs inside the build container: /src is the keepalived source, /out receives the install tree.
set -eu
apk add --no-cache build-base autoconf automake linux-headers openssl-dev openssl-libs-static \
  libnl3-dev libnl3-static libmnl-dev libmnl-static
cd /src
[ -x ./configure ] || ./autogen.sh
./configure --prefix=/usr --bindir=/usr/bin --sbindir=/usr/bin --sysconfdir=/etc \
  --disable-dynamic-linking --disable-libiptc LDFLAGS=-static
make -j"$(nproc)"
make install DESTDIR=/out
