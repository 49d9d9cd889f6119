#!/usr/bin/env bash
# Offline validation of the deployment files (manifests/), failing on any problem:
#   1. Kubernetes: `kubectl kustomize` (or, without kubectl, the files the kustomization
#      lists) against the Kubernetes JSON schemas of kubernetes-validate, strictly:
#      unknown fields are errors (--strict), and so is every warning (an unknown kind or
#      apiVersion is only a warning there). Plus the example Secret and monitoring/.
#   2. manifests/slack-app.yaml: every key and limit of chat-protocols.md §8
#      (manifests/check/check_slack_manifest.py; unknown keys refused at every level).
#   3. The config in the ConfigMap (and the Docker example config) with
#      `usersync-bot check-config`.
#   4. The systemd unit with `systemd-analyze verify`, when systemd-analyze is there.
#   5. A negative self-test: broken copies (an unknown Deployment field, an unknown
#      apiVersion, an unknown Slack manifest key) must be refused, or this script fails.
#
# Usage: .ci/validate-manifests.sh [BINARY]     (default target/debug/usersync-bot)
# Needs python3 (venv) and, on the first run only, PyPI through pip. Idempotent: the venv
# is reused when it holds the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${1:-target/debug/usersync-bot}"
K8S_VERSION="${K8S_VERSION:-1.32}"            # the oldest Kubernetes the manifests target
KV_VERSION="1.37.0"                           # kubernetes-validate, pinned
VENV="${USERSYNC_MANIFESTS_VENV:-/tmp/usersync-bot-manifests-venv}"

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== tools"
if [[ ! -x "$BIN" ]]; then
  echo "usersync-bot binary not found at $BIN (build it with cargo build, or pass its path)" >&2
  exit 1
fi
if [[ "$("$VENV/bin/kubernetes-validate" --version 2>/dev/null || true)" != "$KV_VERSION" ]] \
   || ! "$VENV/bin/python" -c 'import yaml' 2>/dev/null; then
  echo "installing kubernetes-validate $KV_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KV_VERSION" pyyaml
fi
PY="$VENV/bin/python"
HELPER=manifests/check/k8s_helper.py
echo "kubernetes-validate $("$VENV/bin/kubernetes-validate" --version), schemas of Kubernetes $K8S_VERSION"

# kube_validate FILE...: strict; any WARN, ERROR or FATAL line is a failure.
kube_validate() {
  local out rc=0
  out="$("$VENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" "$@" 2>&1)" || rc=$?
  printf '%s\n' "$out" | sed 's/^/  /'
  [[ $rc -eq 0 ]] && ! grep -qE '^(WARN|ERROR|FATAL)' <<<"$out"
}

render() { # render DIR OUT
  if command -v kubectl >/dev/null 2>&1; then
    kubectl kustomize "$1" >"$2"
  else
    "$PY" "$HELPER" render-fallback "$1/kustomization.yaml" >"$2"
  fi
}

echo "== Kubernetes (strict schemas)"
render manifests/kubernetes "$work/rendered.yaml" || fail "kustomize manifests/kubernetes"
kube_validate "$work/rendered.yaml" manifests/kubernetes/secret.example.yaml \
  || fail "Kubernetes manifests do not validate"
render manifests/kubernetes/monitoring "$work/monitoring.yaml" || fail "kustomize monitoring"
kube_validate manifests/kubernetes/monitoring/networkpolicy-metrics.yaml \
  || fail "monitoring/networkpolicy-metrics.yaml does not validate"
# ServiceMonitor/PrometheusRule are CRDs (no schema offline): their shape and the metrics.
"$PY" "$HELPER" check-monitoring "$work/monitoring.yaml" \
  usersync_bot_refused_total usersync_bot_followups_failed_total \
  usersync_bot_notifications_failed_total usersync_bot_audit_backlog \
  || fail "monitoring/ rules"

echo "== Slack app manifest"
"$PY" manifests/check/check_slack_manifest.py manifests/slack-app.yaml || fail "slack-app.yaml"
"$PY" manifests/check/check_slack_manifest.py manifests/slack-app-socket-mode.yaml \
  || fail "slack-app-socket-mode.yaml"

# check_config LABEL TOML: check-config on a copy. check-config also opens the store, so
# the storage URL is replaced by a SQLite file in a temp dir (loopback, nothing else is
# reached); ${VAR}s get dummy values.
check_config() {
  local label="$1" src="$2" dir
  dir="$(mktemp -d "$work/config.XXXX")"
  "$PY" "$HELPER" loopback-storage "$src" "$dir/check.db" >"$dir/config.toml"
  local vars=() v
  for v in $(grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*\}' "$dir/config.toml" | tr -d '${}' | sort -u); do
    vars+=("$v=dummy-$v-for-validation")
  done
  echo "$label (dummy: ${vars[*]%%=*})"
  env -i PATH="$PATH" "${vars[@]}" "$BIN" check-config --config "$dir/config.toml" | sed 's/^/  /' \
    || fail "check-config: $label"
}

echo "== config files (usersync-bot check-config)"
if "$PY" "$HELPER" extract-config "$work/rendered.yaml" usersync-bot-config usersync-bot.toml >"$work/k8s.toml"; then
  check_config "ConfigMap usersync-bot-config" "$work/k8s.toml"
else
  fail "no config in the ConfigMap"
fi
check_config "manifests/docker/usersync-bot.toml" manifests/docker/usersync-bot.toml

echo "== systemd unit"
if command -v systemd-analyze >/dev/null 2>&1; then
  # The binary path is pointed at BIN so that verify can check it exists.
  sed "s#/usr/local/bin/usersync-bot#$(realpath "$BIN")#g" manifests/systemd/usersync-bot.service \
    >"$work/usersync-bot.service"
  if out="$(systemd-analyze verify "$work/usersync-bot.service" 2>&1)" && [[ -z "$out" ]]; then
    echo "  ok"
  else
    printf '%s\n' "$out" | sed 's/^/  /'
    fail "systemd-analyze verify"
  fi
else
  echo "  systemd-analyze not available: skipped"
fi

echo "== negative self-test (each broken copy must be refused)"
"$PY" "$HELPER" break-deployment "$work/rendered.yaml" >"$work/bad-field.yaml"
if kube_validate "$work/bad-field.yaml" >"$work/neg.log" 2>&1; then
  fail "an unknown field in the Deployment was NOT caught"
else
  echo "  unknown Deployment field refused: $(grep -E '^ *(ERROR|WARN)' "$work/neg.log" | head -1 | cut -c1-160)"
fi
"$PY" "$HELPER" break-api-version "$work/rendered.yaml" >"$work/bad-api.yaml"
if kube_validate "$work/bad-api.yaml" >"$work/neg.log" 2>&1; then
  fail "an unknown apiVersion was NOT caught"
else
  echo "  unknown apiVersion refused: $(grep -E '^ *(ERROR|WARN)' "$work/neg.log" | head -1 | cut -c1-160)"
fi
sed 's/^settings:$/settings:\n  bogus_setting: true/' manifests/slack-app.yaml >"$work/bad-slack.yaml"
grep -q bogus_setting "$work/bad-slack.yaml" || fail "could not build the broken Slack manifest"
if "$PY" manifests/check/check_slack_manifest.py "$work/bad-slack.yaml" >"$work/neg.log" 2>&1; then
  fail "an unknown key in the Slack manifest was NOT caught"
else
  echo "  unknown Slack manifest key refused: $(head -1 "$work/neg.log" | cut -c1-160)"
fi
sed 's/^  name: usersync-bot$/  name: usersync-bot-with-a-name-longer-than-35-chars/' manifests/slack-app.yaml >"$work/bad-slack-len.yaml"
if "$PY" manifests/check/check_slack_manifest.py "$work/bad-slack-len.yaml" >"$work/neg.log" 2>&1; then
  fail "a Slack app name over 35 characters was NOT caught"
else
  echo "  Slack limit refused: $(head -1 "$work/neg.log" | cut -c1-160)"
fi

if [[ $failures -gt 0 ]]; then
  echo "validate-manifests: $failures problem(s)" >&2
  exit 1
fi
echo "validate-manifests: all good"
