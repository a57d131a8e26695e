#!/bin/sh
# Makes an API key for deploy/compose.yaml's notify services and prints it (once: only its
# hash is kept). The hash goes into the key file, one sha256hex:scope a line, which compose
# mounts as the secret /run/secrets/notify_api_keys (NOTIFY_AUTH_API_KEYS_FILE).
#
#   deploy/compose/new-key.sh send               a key for a service that sends notifications
#   deploy/compose/new-key.sh admin              a key for an operator (inboxes, /metrics, replay)
#   deploy/compose/new-key.sh send+admin FILE    another key file (default deploy/compose/api-keys)
#
# The file is made readable by everyone (0644): compose mounts a secret file as it is on the
# host, and the service runs as uid 65532. It holds SHA-256 hashes of 256-bit random keys,
# from which the keys cannot be recovered; keep it out of version control all the same
# (deploy/compose/.gitignore does).
set -eu

scope=${1:?usage: new-key.sh send|admin|send+admin [FILE]}
file=${2:-$(dirname "$0")/api-keys}
case $scope in
  send | admin | send+admin | admin+send) ;;
  *) echo "new-key.sh: scope must be send, admin or send+admin, not '$scope'" >&2; exit 2 ;;
esac

key=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
hash=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
if [ ! -e "$file" ]; then
  printf '# API keys of the notify service: sha256hex:scope[+scope] a line (deploy/compose/new-key.sh)\n' > "$file"
fi
printf '%s:%s\n' "$hash" "$scope" >> "$file"
chmod 0644 "$file"
echo "added key:${hash%"${hash#????????????}"} ($scope) to $file" >&2
echo "$key"
