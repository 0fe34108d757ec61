#!/bin/sh
# Runs inside the build container: /src is the chrony source, /out receives the install tree.
set -eu
apk add --no-cache build-base bison libcap-dev libcap-static linux-headers
cd /src
# A tag's archive has no generated getdate.c; bison makes it during the build.
LDFLAGS=-static ./configure --prefix=/usr --bindir=/usr/bin --sbindir=/usr/bin --sysconfdir=/etc/chrony \
  --localstatedir=/var --disable-readline --without-nettle --without-nss --without-tomcrypt --without-gnutls
make -j"$(nproc)"
make install DESTDIR=/out
