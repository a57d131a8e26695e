#!/usr/bin/env bash
# Builds the notify image with podman from files made on this host: no base image is pulled
# (the project's machines reach no container registry), since the image is FROM scratch.
#
#   deploy/image/build.sh [IMAGE...]  tags the image with each name given; by default
#                                     localhost/notify:latest and localhost/notify:<version>
#
# Steps: deploy/image/rootfs.sh builds the static binary and assembles rootfs/ and datadir/ in a
# temporary build context; podman builds deploy/Dockerfile's final stage from that context
# (ROOTFS=rootfs-context, so its golang stage is skipped). Installs podman from Debian if it is
# missing (needs root). Labels: org.opencontainers.image.{version,revision,created} from git.
# The last line printed is IMAGE=<first name>, for scripts.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if ! command -v podman >/dev/null; then
  [ "$(id -u)" = 0 ] || { echo "build.sh: podman is missing; install it (Debian: apt-get install podman)" >&2; exit 1; }
  echo "== installing podman from Debian" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman >/dev/null
fi

# The version is what git says of the tree (a tag, else the short commit; "-dirty" if the
# work tree has changes); outside a checkout, "unknown".
version=$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo unknown)
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
# Created: the commit's time for a clean tree, so two builds of one commit are the same image
# (--timestamp also fixes the files' times; the Go build is reproducible with -trimpath);
# a dirty tree's image is dated now.
if [ "$version" != unknown ] && [[ "$version" != *-dirty ]]; then
  epoch=$(git -C "$repo" log -1 --format=%ct)
else
  epoch=$(date +%s)
fi
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

ctx=$(mktemp -d "${TMPDIR:-/tmp}/notify-image.XXXXXX")
trap 'rm -rf "$ctx"' EXIT

# The Go build stamps the commit into the binary (notify_build_info's version and revision):
# -buildvcs=auto overrides a -buildvcs=false in the machine's GOFLAGS (the later flag wins).
# Go finds the repository only where .git is a directory: a clone, not a git worktree.
echo "== building the static binary and the image's files (version $version)" >&2
GOFLAGS="$(go env GOFLAGS) -buildvcs=auto" "$here/rootfs.sh" "$ctx"

images=("$@")
if [ ${#images[@]} -eq 0 ]; then
  images=(localhost/notify:latest)
  # A tag is at most 128 of [A-Za-z0-9_.-]; git describe's output is.
  [ "$version" = unknown ] || images+=("localhost/notify:$version")
fi
tags=()
for i in "${images[@]}"; do tags+=(-t "$i"); done

# --no-cache: buildah (podman 4.3) reused the LABEL step of an earlier build whose build
# arguments differed, leaving a stale version and revision; the build only copies files, so
# doing it all again costs a second or two.
echo "== podman build ${tags[*]}" >&2
podman build --pull=never --no-cache -f "$repo/deploy/Dockerfile" --iidfile "$ctx/iid" \
  --build-arg ROOTFS=rootfs-context \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg CREATED="$created" \
  --timestamp "$epoch" "${tags[@]}" "$ctx" > "$ctx/build.log" 2>&1 || { cat "$ctx/build.log" >&2; exit 1; }
# The stages' intermediate images ("--> ID" in the log) are of no use without the cache; remove
# them (--layers=false would not make them, but podman 4.3 then fails the build at its end).
final=$(sed 's/^sha256://' "$ctx/iid")
for id in $(sed -n 's/^--> \([0-9a-f]\{11,\}\)$/\1/p' "$ctx/build.log"); do
  [[ "$final" == "$id"* ]] || podman rmi "$id" >/dev/null 2>&1 || true
done
echo "IMAGE=${images[0]}"
