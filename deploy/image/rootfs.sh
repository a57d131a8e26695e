#!/bin/sh
# Assembles everything the notify image holds, for both ways of building it:
# deploy/image/build.sh runs it on the host (podman, base images cannot be pulled there) and
# deploy/Dockerfile runs it in its golang stage (Docker). One script, so both images hold the
# same files built the same way.
#
#   rootfs.sh OUT [CA_BUNDLE]
#
# OUT/rootfs/  copied to / as root-owned, read-only content:
#     notify                             the static binary (no libc, no cgo)
#     etc/passwd, etc/group              root and the unprivileged user notify, uid/gid 65532
#     etc/ssl/certs/ca-certificates.crt  CA roots, for TLS to Kafka, EventStoreDB, PostgreSQL
#                                        and a JWKS URL (Go reads this path on Linux)
# OUT/datadir/ empty; becomes /data, owned by 65532 (the Dockerfile's COPY --chown), so a
#              fresh named volume mounted there is writable by the service.
#
# CA_BUNDLE defaults to Debian's /etc/ssl/certs/ca-certificates.crt (package ca-certificates),
# which the Debian-based golang image has too. GOFLAGS from the environment is honoured
# (the Dockerfile sets -buildvcs=false: its context has no .git).
set -eu

out=${1:?usage: rootfs.sh OUT [CA_BUNDLE]}
ca=${2:-/etc/ssl/certs/ca-certificates.crt}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

[ -s "$ca" ] || { echo "rootfs.sh: no CA bundle at $ca (Debian: apt-get install ca-certificates)" >&2; exit 1; }
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
rm -rf "$out/rootfs" "$out/datadir"
mkdir -p "$out/rootfs/etc/ssl/certs" "$out/datadir"

# Static: CGO off (bbolt, gRPC, pgx and franz-go are pure Go). -trimpath keeps the build
# machine's paths out of the binary; -s -w drops the symbol table and DWARF. GOOS defaults to linux: the image is a Linux image whatever builds it.
(cd "$repo" && CGO_ENABLED=0 GOOS=${GOOS:-linux} go build -trimpath -ldflags='-s -w' -o "$out/rootfs/notify" .)

cp "$here/etc/passwd" "$here/etc/group" "$out/rootfs/etc/"
cp "$ca" "$out/rootfs/etc/ssl/certs/ca-certificates.crt"
chmod 0755 "$out/rootfs/notify" "$out/rootfs/etc" "$out/rootfs/etc/ssl" "$out/rootfs/etc/ssl/certs"
chmod 0644 "$out/rootfs/etc/passwd" "$out/rootfs/etc/group" "$out/rootfs/etc/ssl/certs/ca-certificates.crt"
# /data itself is created 0755 by the COPY; the service makes its files there 0600.
