#!/usr/bin/env bash
# Records layout/hot-functions.txt: the functions that start-up and the everyday requests
# execute (help, whoami, status and run against the simulator, refusals, /metrics), in
# the order they first ran, as callgrind saw them in a release build. build.rs hands the
# file to the linker (lld's --symbol-ordering-file), which puts those functions first and
# together: a running bot then touches a few megabytes of its code instead of all of it.
#
# Usage: layout/record.sh        (needs valgrind; about two minutes)
# Run it again after a change of dependencies or toolchain: function names carry crate
# hashes, so such a change renames many of them, and a name the binary no longer has is
# skipped by the linker (the layout only gets worse, never wrong). `bench/run.sh` says how
# many of the recorded names the binary still has.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 2; }
(cd "$root" && cargo build --release --locked -q)
bin="$root/target/release/usersync-bot"
work="$(mktemp -d)"
port=18310; sim_port=18311; secret="layout-signing-secret"
"$bin" simulate --listen "127.0.0.1:$sim_port" --sync-duration 2s 2>/dev/null & sim=$!
bot=""
trap 'kill $bot $sim 2>/dev/null || true; rm -rf "$work"' EXIT
STORE_URL="sqlite://$work/bot.db" PORT=$port SIM_PORT=$sim_port SLACK_SIGNING_SECRET=$secret \
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/cg" \
  "$bin" serve --config "$root/bench/e2e.toml" 2>"$work/bot.log" & bot=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "the bot did not start (see $work/bot.log)" >&2; exit 1; }
# U2147483697 is an operator (bench/e2e.toml), UVIEWER only a viewer.
send() { # $1 user, $2 text, $3 "bad" to corrupt the signature
  local ts sig body
  read -r ts sig body < <(python3 - "$secret" "$1" "$2" "${3:-}" <<'PY'
import hashlib, hmac, sys, time, urllib.parse, uuid
secret, user, text, bad = sys.argv[1:5]
ts = str(int(time.time()))
body = urllib.parse.urlencode({"team_id": "T0001", "channel_id": "C2147483705", "user_id": user,
    "user_name": "layout", "command": "/usersync", "text": text,
    "response_url": "http://127.0.0.1:9/commands/T0001/layout", "trigger_id": f"layout.{uuid.uuid4()}"})
sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
if bad:
    sig = sig[:-1] + ("1" if sig[-1] == "0" else "0")
print(ts, sig, body)
PY
)
  curl -s -o /dev/null --max-time 60 -H "X-Slack-Request-Timestamp: $ts" -H "X-Slack-Signature: $sig" \
    -H "Content-Type: application/x-www-form-urlencoded" --data "$body" "http://127.0.0.1:$port/slack/commands"
}
for _ in 1 2; do
  send U2147483697 help; send U2147483697 whoami; send UVIEWER help
  send U2147483697 "status okta"; send U2147483697 "bogus words"; send UVIEWER "run okta"
  send U2147483697 help bad; send U2147483697 "status okta" bad
done
send U2147483697 "run okta"
curl -s -o /dev/null "http://127.0.0.1:$port/metrics"; curl -s -o /dev/null "http://127.0.0.1:$port/healthz"
sleep 15 # the run is followed to its end and its outcome posted (to a closed port)
kill -TERM "$bot"; wait "$bot" || true; bot=""
nm --defined-only "$bin" | awk '{print $3}' | sort -u > "$work/defined"
out="$here/hot-functions.txt"
{
  echo "# Functions first, in this order, in a release build of the binary (build.rs, lld's"
  echo "# --symbol-ordering-file). Recorded by layout/record.sh; do not edit by hand."
  grep -h -o '^c\?fn=([0-9]*) .*' "$work"/cg* | sed -E "s/^c?fn=\([0-9]+\) //; s/'[0-9]+\$//" \
    | awk '!seen[$0]++' | grep -Fx -f "$work/defined"
} > "$out.new"
mv "$out.new" "$out"
echo "$(grep -vc '^#' "$out") functions recorded in $out"
