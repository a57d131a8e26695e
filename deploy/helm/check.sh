#!/usr/bin/env bash
# Validates the Helm chart deploy/helm/notify without a cluster: for every shipped values
# file, Helm's own linter (warnings fail, as with --strict), a render by Helm's engine as
# `helm install` does, every object decoded strictly into its Kubernetes API type, and the
# chart's promises asserted (shapes, security, probes, ports, secrets); then the values the
# chart must refuse. The Go test is a module of its own (deploy/helm/validate), so the
# service's go.mod carries none of Helm's dependencies; it builds deploy/helm/envcheck from the
# service's module to run the service's own configuration parser on each pod's environment.
# Needs Go and the module proxy (the first run downloads and compiles Helm: minutes).
set -euo pipefail
cd "$(dirname "$0")/validate"
start=$(date +%s)
log=$(mktemp)
trap 'rm -f "$log"' EXIT

if ! go test -count=1 -v ./... >"$log" 2>&1; then
  grep -v '^=== ' "$log"
  echo "helm chart check: FAILED ($(( $(date +%s) - start ))s)"
  exit 1
fi

echo "== shipped values files: helm lint (strict), render, strict decoding; then per pod: the mode's shape,"
echo "   non-root 65532, read-only root fs, no privilege escalation, capabilities dropped, seccomp,"
echo "   startup/readiness/liveness probes on /healthz, /readyz, /healthz, Service and probe ports,"
echo "   auth files from the Secret, no secret or connection string as a literal, known NOTIFY_* names;"
echo "   and the service's own configuration parser (deploy/helm/envcheck) accepts the pod's environment"
sed -n 's/^ *chart_test.go:[0-9]*: rendered /  /p; s/^ *chart_test.go:[0-9]*: service accepts /      the service accepts /p' "$log"
echo "== values the chart refuses at render time, and its message"
awk '/^ *chart_test.go:[0-9]+: refused / {
  sub(/^ *chart_test.go:[0-9]+: refused /, ""); name = $0; sub(/: execution error at .*/, "", name)
  msg = $0; sub(/^[^)]*\): /, "", msg); if (length(msg) > 140) msg = substr(msg, 1, 140) "…"
  printf "  %s\n      %s\n", name, msg }' "$log"
echo "== tests"
grep -E '^ *--- (PASS|FAIL|SKIP)' "$log" | sed 's/^/  /'
tail -n 1 "$log"
echo "helm chart check: passed in $(( $(date +%s) - start ))s"
