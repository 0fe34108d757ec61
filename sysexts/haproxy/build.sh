#!/bin/sh
# Runs inside the build container: /src is the HAProxy release source, /out receives the install tree.
set -eu
apk add --no-cache build-base linux-headers openssl-dev openssl-libs-static pcre2-dev pcre2-static \
  zlib-dev zlib-static lua5.4-dev lua5.4-libs
cd /src
make -j"$(nproc)" TARGET=linux-musl USE_OPENSSL=1 USE_PCRE2=1 USE_PCRE2_JIT=1 USE_ZLIB=1 USE_PROMEX=1 \
  USE_LUA=1 LUA_INC=/usr/include/lua5.4 LUA_LIB=/usr/lib/lua5.4 LDFLAGS=-static
make install DESTDIR=/out PREFIX=/usr SBINDIR=/usr/bin
