#!/usr/bin/env bash
# Builds the notify image and checks it without running a container: containers cannot run on
# the project's machines (crun cannot set rlimits there), but the image's filesystem and
# configuration can be read. So this script
#
#   1. builds the image (deploy/image/build.sh, podman, FROM scratch);
#   2. reads its configuration (podman image inspect): user 65532, entrypoint /notify, the
#      environment, working dir, port, volume, OCI labels, no credentials baked in;
#   3. exports its filesystem (podman create + podman export, no container is started) and
#      checks it holds exactly the expected files, owners and modes, a static binary built
#      with CGO off and -trimpath, the host's CA bundle, and uid 65532 in /etc/passwd;
#   4. runs the exported entrypoint the way a runtime would start the container: in its own
#      PID, mount and network namespaces (unshare), chrooted into the exported filesystem
#      mounted read-only, as uid/gid 65532 with no capabilities, with exactly the image's
#      environment plus one credential setting, a fresh directory owned by 65532 standing in
#      for the /data volume, the key file at /run/secrets/notify_api_keys, /proc and a few
#      /dev nodes. The image's NOTIFY_HTTP_ADDR (0.0.0.0:8080) is kept: the network namespace
#      has only its own loopback, so port 8080 clashes with nothing on the host. Then:
#        a. keys from the secret file: /healthz and /readyz 200, POST /v1/notifications 401
#           without a key and with a wrong one, 201 with the send key, the notification read
#           back with the admin key; the process's uid, gid, groups, capabilities, root
#           directory and listening address; SIGTERM ends it with 0; the files it made are
#           in /data, owned by 65532;
#        b. keys from an env file (deploy/compose/notify.env.example plus NOTIFY_AUTH_API_KEYS),
#           restarted on the same volume: the first run's notification is still there;
#        c. no credentials: exit 2 with the service's message about authentication;
#        d. the key file setting with no file mounted: exit 2 naming the file.
#
# Needs root (chroot, namespaces, mounts), podman (installed by build.sh if missing), go,
# python3, curl, unshare/mount (util-linux) and ip (iproute2). Exits non-zero on the first
# failed check. KEEP_IMAGE=1 keeps the image localhost/notify:check afterwards.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
image=localhost/notify:check

ok() { echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Part 4 runs in here: PID 1 of its own PID, mount and network namespaces (see the bottom).
if [ "${1:-}" = --in-namespaces ]; then
  work=$2
  rootfs=$work/rootfs
  port=$(cat "$work/port") # the image's, in the check's own network namespace
  user=$(cat "$work/user") # the image's User, 65532:65532
  ip link set lo up

  # The container's mounts: the image's filesystem read-only, the volume, the secret,
  # /proc, and the /dev nodes a runtime provides. Their mount points were made before.
  mount --bind "$rootfs" "$rootfs"
  mount --bind "$work/volume" "$rootfs/data"
  mount --bind "$work/secrets" "$rootfs/run/secrets"
  mount -o remount,bind,ro "$rootfs/run/secrets"
  mount -t proc -o nosuid,nodev,noexec proc "$rootfs/proc"
  for d in null zero random urandom; do mount --bind "/dev/$d" "$rootfs/dev/$d"; done
  mount -o remount,bind,ro "$rootfs"
  touch "$rootfs/probe" 2>/dev/null && fail "the root filesystem is writable" || true

  mapfile -d '' image_env < "$work/image.env"
  base=http://127.0.0.1:$port
  send_key=$(cat "$work/send.key")
  admin_key=$(cat "$work/admin.key")
  body='{"recipientId":"alice","content":"You have a new follower","category":"social"}'

  # start NAME [VAR=value...]: the entrypoint with exactly the image's environment plus the
  # given variables, as the image's user, chrooted (chroot then does chdir("/"), the image's
  # WorkingDir), with no_new_privs as compose.yaml asks. env, setpriv and chroot each exec the
  # next, so $! is the service's own PID.
  start() {
    local name=$1; shift
    env -i "${image_env[@]}" "$@" setpriv --no-new-privs chroot --userspec="$user" "$rootfs" /notify > "$work/$name.log" 2>&1 &
    pid=$!
  }
  # code URL [curl args...]: the HTTP status only.
  code() { curl -s -o "$work/body" -w '%{http_code}' --max-time 5 "$@" || true; }
  # alive: the service has not exited (an exited child stays a zombie until waited for).
  alive() { [ -r "/proc/$pid/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status"; }
  wait_ready() {
    for _ in $(seq 300); do
      [ "$(code "$base/readyz")" = 200 ] && return 0
      alive || { cat "$work/$1.log" >&2; fail "$1: the service exited before it was ready"; }
      sleep 0.1
    done
    cat "$work/$1.log" >&2
    fail "$1: /readyz did not answer 200 within 30 s"
  }
  stop() {
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || { cat "$work/$1.log" >&2; fail "$1: SIGTERM ended the service with $rc, not 0"; }
    ok "$1: SIGTERM: exit 0"
  }
  expect_exit() { # NAME CODE TEXT [VAR=value...]
    local name=$1 want=$2 text=$3; shift 3
    start "$name" "$@"
    local rc=0
    for _ in $(seq 100); do alive || break; sleep 0.1; done
    alive && { kill -KILL "$pid"; fail "$name: still running after 10 s; expected exit $want"; }
    wait "$pid" || rc=$?
    [ "$rc" = "$want" ] || { cat "$work/$name.log" >&2; fail "$name: exit $rc, expected $want"; }
    grep -qF -- "$text" "$work/$name.log" || { cat "$work/$name.log" >&2; fail "$name: the message lacks \"$text\""; }
    ok "$name: exit $want: $(head -c 300 "$work/$name.log")"
  }

  # a. keys from the secret file ----------------------------------------------------------
  start secret-file NOTIFY_AUTH_API_KEYS_FILE=/run/secrets/notify_api_keys
  wait_ready secret-file
  ok "secret-file: /readyz 200 $(cat "$work/body")"
  [ "$(code "$base/healthz")" = 200 ] || fail "secret-file: /healthz not 200"
  ok "secret-file: /healthz 200"

  status=$(awk '/^(Uid|Gid|Groups|CapEff|CapPrm|NoNewPrivs):/ {$1=$1; printf "%s; ", $0}' "/proc/$pid/status")
  grep -q '^Uid:[[:space:]]*65532[[:space:]]*65532[[:space:]]*65532[[:space:]]*65532$' "/proc/$pid/status" || fail "uids: $status"
  grep -q '^Gid:[[:space:]]*65532[[:space:]]*65532[[:space:]]*65532[[:space:]]*65532$' "/proc/$pid/status" || fail "gids: $status"
  grep -Eq '^Groups:[[:space:]]*(65532)?[[:space:]]*$' "/proc/$pid/status" || fail "supplementary groups: $status"
  grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status" || fail "capabilities: $status"
  grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status" || fail "no_new_privs: $status"
  [ "$(readlink "/proc/$pid/root")" = "$rootfs" ] || fail "root directory $(readlink "/proc/$pid/root"), not the image's"
  ok "secret-file: process ${status}root = the exported image"
  # The image's address kept: a listener (state 0A) on the wildcard address at port 8080
  # (hex 1F90). Go listens on "0.0.0.0" with a dual-stack IPv6 socket where it can, so the
  # socket is in /proc/net/tcp6 as [::]:8080, or in /proc/net/tcp as 0.0.0.0:8080.
  hexport=$(printf '%04X' "$port")
  if grep -Eq "^ *[0-9]+: 0{32}:$hexport 0{32}:0000 0A " /proc/net/tcp6; then
    listener="[::]:$port, dual-stack (/proc/net/tcp6)"
  elif grep -Eq "^ *[0-9]+: 0{8}:$hexport 0{8}:0000 0A " /proc/net/tcp; then
    listener="0.0.0.0:$port (/proc/net/tcp)"
  else
    fail "nothing listens on the wildcard address at $port: $(cat /proc/net/tcp /proc/net/tcp6)"
  fi
  ok "secret-file: NOTIFY_HTTP_ADDR=0.0.0.0:$port kept: listening on $listener, reached on 127.0.0.1"

  c=$(code "$base/v1/notifications" -H 'Content-Type: application/json' -d "$body")
  [ "$c" = 401 ] || fail "POST without a key: $c, not 401"
  ok "secret-file: POST /v1/notifications without a key: 401 $(head -c 160 "$work/body")"
  c=$(code "$base/v1/notifications" -H 'Content-Type: application/json' -H "X-Api-Key: $(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" -d "$body")
  [ "$c" = 401 ] || fail "POST with a wrong key: $c, not 401"
  ok "secret-file: POST /v1/notifications with a wrong key: 401"
  c=$(code "$base/v1/notifications" -H 'Content-Type: application/json' -H "X-Api-Key: $send_key" -H 'Idempotency-Key: check-1' -d "$body")
  [ "$c" = 201 ] || fail "POST with the send key: $c, not 201: $(cat "$work/body")"
  id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$work/body")
  ok "secret-file: POST /v1/notifications with the send key: 201 $(cat "$work/body")"
  c=$(code "$base/v1/notifications/$id" -H "X-Api-Key: $admin_key")
  [ "$c" = 200 ] && grep -q '"recipientId":"alice"' "$work/body" || fail "GET the notification with the admin key: $c $(cat "$work/body")"
  ok "secret-file: GET /v1/notifications/$id with the admin key: 200"
  c=$(code "$base/v1/notifications/$id" -H "X-Api-Key: $send_key")
  [ "$c" = 403 ] || fail "GET the notification with the send key: $c, not 403"
  ok "secret-file: the same GET with the send key: 403"
  stop secret-file

  # What the service wrote: only the volume can take writes (the root is read-only).
  listing=$(cd "$work/volume" && find . -mindepth 1 -printf '%p %u:%g %m\n' | sort)
  [ -n "$listing" ] || fail "nothing was written to the volume"
  echo "$listing" | awk '$2 != "65532:65532" {bad=1} END {exit bad}' || fail "files in the volume not owned by 65532: $listing"
  ok "secret-file: the volume holds $(echo "$listing" | tr '\n' ';' | sed 's/;$//')"

  # b. keys from an env file, restarted on the same volume ----------------------------------
  env_file=$work/notify.env
  { cat "$repo/deploy/compose/notify.env.example"; echo "NOTIFY_AUTH_API_KEYS=$(cat "$work/keys.env")"; } > "$env_file"
  # As compose reads an env_file: KEY=VALUE lines, # comments and blank lines skipped.
  mapfile -t env_lines < <(grep -Ev '^[[:space:]]*(#|$)' "$env_file")
  start env-file "${env_lines[@]}"
  wait_ready env-file
  ok "env-file: /readyz 200 with ${#env_lines[@]} settings from the env file (deploy/compose/notify.env.example + NOTIFY_AUTH_API_KEYS)"
  c=$(code "$base/v1/recipients/alice/notifications/count" -H "X-Api-Key: $admin_key")
  [ "$c" = 200 ] && grep -q '"total":1' "$work/body" || fail "count after the restart: $c $(cat "$work/body")"
  ok "env-file: after the restart on the same volume the count is $(cat "$work/body")"
  c=$(code "$base/v1/notifications" -H 'Content-Type: application/json' -d "$body")
  [ "$c" = 401 ] || fail "env-file: POST without a key: $c, not 401"
  c=$(code "$base/v1/notifications" -H 'Content-Type: application/json' -H "X-Api-Key: $send_key" -d "$body")
  [ "$c" = 201 ] || fail "env-file: POST with the send key: $c"
  ok "env-file: POST without a key 401, with the send key 201"
  stop env-file

  # c, d. refusals --------------------------------------------------------------------------
  expect_exit no-keys 2 "is not a loopback address and no authentication is configured"
  expect_exit missing-secret 2 "/run/secrets/absent" NOTIFY_AUTH_API_KEYS_FILE=/run/secrets/absent
  exit 0
fi

# ---------------------------------------------------------------------------------------------
start_time=$(date +%s)
[ "$(id -u)" = 0 ] || fail "needs root: chroot, namespaces and mounts stand in for the container runtime"
for c in go python3 curl unshare mount chroot ip sha256sum; do
  command -v "$c" >/dev/null || fail "needs $c"
done
work=$(mktemp -d "${TMPDIR:-/tmp}/notify-image-check.XXXXXX")
cid=
cleanup() {
  [ -z "$cid" ] || podman rm -f "$cid" >/dev/null 2>&1 || true
  [ "${KEEP_IMAGE:-}" = 1 ] || podman rmi "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. build ------------------------------------------------------------------------------------
"$here/build.sh" "$image" >/dev/null 2>"$work/build.log" || { cat "$work/build.log" >&2; fail "build.sh failed"; }
ok "built $image with deploy/image/build.sh in $(( $(date +%s) - start_time ))s"

# 2. configuration ----------------------------------------------------------------------------
podman image inspect "$image" > "$work/inspect.json"
python3 - "$work/inspect.json" "$work/image.env" "$work/port" "$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)" <<'EOF'
import json, sys
img = json.load(open(sys.argv[1]))[0]
cfg = img["Config"]
errs = []
def want(what, got, expected):
    if got != expected:
        errs.append(f"{what}: {got!r}, want {expected!r}")
want("User", cfg.get("User"), "65532:65532")
want("Entrypoint", cfg.get("Entrypoint"), ["/notify"])
want("Cmd", cfg.get("Cmd") or None, None)
want("WorkingDir", cfg.get("WorkingDir"), "/")
want("ExposedPorts", sorted(cfg.get("ExposedPorts") or {}), ["8080/tcp"])
want("Volumes", sorted(cfg.get("Volumes") or {}), ["/data"])
want("StopSignal", cfg.get("StopSignal"), "SIGTERM")
env = cfg.get("Env") or []
names = [e.split("=", 1)[0] for e in env]
for e in ("NOTIFY_HTTP_ADDR=0.0.0.0:8080", "NOTIFY_DATA_DIR=/data"):
    if e not in env:
        errs.append(f"Env lacks {e}: {env}")
baked = [n for n in names if n.startswith(("NOTIFY_AUTH", "NOTIFY_INSECURE", "NOTIFY_KAFKA_SASL"))]
if baked:
    errs.append(f"credentials or NOTIFY_INSECURE in the image's Env: {baked}")
labels = cfg.get("Labels") or {}
for k in ("title", "description", "source", "version", "revision", "created"):
    if not labels.get("org.opencontainers.image." + k) or labels["org.opencontainers.image." + k] == "unknown":
        errs.append(f"label org.opencontainers.image.{k} missing: {labels}")
want("label revision", labels.get("org.opencontainers.image.revision"), sys.argv[4])
want("Os", img.get("Os"), "linux")
addr = dict(e.split("=", 1) for e in env).get("NOTIFY_HTTP_ADDR", "")
host, _, port = addr.rpartition(":")
if host != "0.0.0.0" or f"{port}/tcp" not in (cfg.get("ExposedPorts") or {}):
    errs.append(f"NOTIFY_HTTP_ADDR {addr!r} is not 0.0.0.0 at the exposed port")
if errs:
    print("FAIL image configuration:\n  " + "\n  ".join(errs), file=sys.stderr)
    sys.exit(1)
open(sys.argv[2], "w").write("".join(e + "\0" for e in env))
open(sys.argv[3], "w").write(port)
open(sys.argv[3].rsplit("/", 1)[0] + "/user", "w").write(cfg["User"])
print("ok   config: User 65532:65532, Entrypoint [/notify], no Cmd, WorkingDir /, ExposedPorts 8080/tcp, Volumes /data, StopSignal SIGTERM")
print("ok   config: Env " + " ".join(env) + " (no credentials)")
print("ok   config: labels " + ", ".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(labels.items()) if k.startswith("org.opencontainers")))
print(f"ok   config: {img.get('Os')}/{img.get('Architecture')}, {img.get('Size', 0) / 1e6:.1f} MB")
EOF

# 3. filesystem -------------------------------------------------------------------------------
cid=$(podman create "$image")
podman export -o "$work/fs.tar" "$cid"
podman rm "$cid" >/dev/null
cid=
mkdir "$work/rootfs"
tar -x --numeric-owner -p -f "$work/fs.tar" -C "$work/rootfs"
python3 - "$work/fs.tar" "$work/rootfs" <<'EOF'
import sys, tarfile, hashlib, struct
expected = {  # path: (type, mode, uid, gid)
    "data": ("dir", "755", 65532, 65532),
    "etc": ("dir", "755", 0, 0),
    "etc/group": ("file", "644", 0, 0),
    "etc/passwd": ("file", "644", 0, 0),
    "etc/ssl": ("dir", "755", 0, 0),
    "etc/ssl/certs": ("dir", "755", 0, 0),
    "etc/ssl/certs/ca-certificates.crt": ("file", "644", 0, 0),
    "notify": ("file", "755", 0, 0),
}
got = {}
for m in tarfile.open(sys.argv[1]):
    name = m.name.lstrip("./").rstrip("/")
    if not name:
        continue
    kind = "dir" if m.isdir() else "file" if m.isfile() else "other"
    got[name] = (kind, f"{m.mode & 0o7777:o}", m.uid, m.gid)
errs = []
for p in sorted(set(got) | set(expected)):
    if got.get(p) != expected.get(p):
        errs.append(f"/{p}: {got.get(p)}, want {expected.get(p)}")
root = sys.argv[2]
passwd = open(f"{root}/etc/passwd").read().splitlines()
if not any(l.split(":")[2:4] == ["65532", "65532"] for l in passwd):
    errs.append(f"/etc/passwd has no uid/gid 65532: {passwd}")
if open(f"{root}/etc/ssl/certs/ca-certificates.crt", "rb").read() != open("/etc/ssl/certs/ca-certificates.crt", "rb").read():
    errs.append("the CA bundle differs from the host's /etc/ssl/certs/ca-certificates.crt")
# A static executable has no PT_INTERP (dynamic loader) program header.
b = open(f"{root}/notify", "rb").read()
if b[:4] != b"\x7fELF" or b[4] != 2:
    errs.append("/notify is not a 64-bit ELF file")
else:
    phoff, = struct.unpack_from("<Q", b, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", b, 0x36)
    types = [struct.unpack_from("<I", b, phoff + i * phentsize)[0] for i in range(phnum)]
    if 3 in types:
        errs.append("/notify has a dynamic loader (PT_INTERP): not static")
if errs:
    print("FAIL image filesystem:\n  " + "\n  ".join(errs), file=sys.stderr)
    sys.exit(1)
print("ok   files: exactly " + ", ".join(f"/{p} ({k} {m} {u}:{g})" for p, (k, m, u, g) in sorted(got.items())))
print("ok   files: /etc/passwd has uid 65532; the CA bundle is the host's; /notify is a static ELF (no PT_INTERP)")
EOF
settings=$(go version -m "$work/rootfs/notify" | awk '$1 == "build" && ($2 ~ /^(CGO_ENABLED|-trimpath|GOOS|GOARCH)=/) {printf "%s ", $2}')
for s in CGO_ENABLED=0 -trimpath=true GOOS=linux; do
  [[ " $settings" == *" $s "* ]] || fail "the binary was not built with $s: $settings"
done
ok "files: /notify built with ${settings% }, $(go version "$work/rootfs/notify" | awk '{print $2}')"

# The runtime's mount points on the container's filesystem: /proc, /run/secrets, /dev nodes.
mkdir -p "$work/rootfs/proc" "$work/rootfs/run/secrets" "$work/rootfs/dev"
for d in null zero random urandom; do touch "$work/rootfs/dev/$d"; done

# 4. run the entrypoint -----------------------------------------------------------------------
mkdir -m 0755 "$work/volume" "$work/secrets"
chown 65532:65532 "$work/volume" # as a fresh named volume, copied from the image's /data
"$repo/deploy/compose/new-key.sh" send "$work/secrets/notify_api_keys" > "$work/send.key" 2>/dev/null
"$repo/deploy/compose/new-key.sh" admin "$work/secrets/notify_api_keys" > "$work/admin.key" 2>/dev/null
grep -v '^#' "$work/secrets/notify_api_keys" | paste -sd, > "$work/keys.env"
unshare --pid --mount --net --fork --mount-proc --propagation private -- "$0" --in-namespaces "$work"
echo "== all checks passed in $(( $(date +%s) - start_time ))s (image $image; the container itself was not run: see deploy/image/README.md)"
