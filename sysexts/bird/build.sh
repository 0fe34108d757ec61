#!/bin/sh
# Runs inside the build container: /src is the BIRD source, /out receives the install tree.
set -eu
apk add --no-cache build-base autoconf automake flex bison linux-headers ncurses-dev ncurses-static \
  readline-dev readline-static
cd /src
[ -x ./configure ] || autoreconf -i
./configure --prefix=/usr --bindir=/usr/bin --sbindir=/usr/bin --sysconfdir=/etc/bird --localstatedir=/var \
  --runstatedir=/run/bird LDFLAGS=-static
make -j"$(nproc)"
make install DESTDIR=/out
