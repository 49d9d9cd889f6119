#!/usr/bin/env bash
# End-to-end figures: signed `status okta` per second through the bot to the simulator
# (inline replies, real upstream HTTP), the same with 20 % `run okta` mixed in, and the
# simulator's own rate for the two upstream calls a `status` makes (connector list, last
# sync), so the bot's share of the cost is visible. Bot on CPU 0; simulator and wrk on
# CPU 1. Usage: [BENCH_STORES="sqlite postgres"] bench/e2e.sh [SECONDS] [CONNECTIONS]
#
# BENCH_STORES (default `sqlite`) lists the stores to measure side by side in one run:
# `sqlite` (a fresh file) and `postgres` (a fresh database `usersync_bench` on
# BENCH_POSTGRES, default postgres://postgres@127.0.0.1:5432, dropped afterwards).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
seconds="${1:-10}"; conns="${2:-16}"
[ "$seconds" -le 120 ] || { echo "keep runs short (<= 120 s)" >&2; exit 2; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
(cd "$root" && cargo build --release --locked -q)
bin="$root/target/release/usersync-bot"
secret="e2e-signing-secret"
port=18300; sim_port=18301
stores="${BENCH_STORES:-sqlite}"
pg="${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
for store in $stores; do
  case "$store" in sqlite|postgres) ;; *) echo "BENCH_STORES: sqlite or postgres, not $store" >&2; exit 2 ;; esac
done
taskset -c 1 "$bin" simulate --listen "127.0.0.1:$sim_port" --sync-duration 3s 2>/dev/null & sim=$!
bot=""
trap 'kill $bot $sim 2>/dev/null || true' EXIT
start_bot() { # $1: store
  local url
  case "$1" in
    sqlite) rm -f /tmp/usersync-bot-e2e.db*; url="sqlite:///tmp/usersync-bot-e2e.db" ;;
    postgres)
      psql "$pg/postgres" -q -c "DROP DATABASE IF EXISTS usersync_bench WITH (FORCE)" -c "CREATE DATABASE usersync_bench"
      url="$pg/usersync_bench" ;;
  esac
  STORE_URL=$url PORT=$port SIM_PORT=$sim_port SLACK_SIGNING_SECRET=$secret \
    taskset -c 0 "$bin" serve --config "$here/e2e.toml" 2>"/tmp/usersync-bot-e2e-$1.log" & bot=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.05; done
  echo "the bot did not become ready on $1 (see /tmp/usersync-bot-e2e-$1.log)" >&2; exit 1
}
stop_bot() { # $1: store
  kill -TERM "$bot"; wait "$bot" || true; bot=""
  [ "$1" = postgres ] && psql "$pg/postgres" -q -c "DROP DATABASE IF EXISTS usersync_bench WITH (FORCE)"
  return 0
}
okta=0b8a2f64-93c1-4d4e-8f0a-6c1e5d2b7a90
prefix=/rest/samlsso-admin/1.0/usersync

# Bodies: n lines "signature<TAB>body", each with its own trigger_id; every fifth a run.
bodies() { # $1: share of run in percent
  python3 - "$1" "$secret" "$port" <<'PY'
import hashlib, hmac, sys, time, tempfile, urllib.parse
share, secret, port = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ts = str(int(time.time()))
fd, name = tempfile.mkstemp(prefix="e2e-bodies-")
with open(fd, "w") as f:
    for i in range(100000):  # more than a run sends: every command is fresh
        text = "run okta" if share and i % (100 // share) == 0 else "status okta"
        body = urllib.parse.urlencode({
            "team_id": "T0001", "channel_id": "C2147483705", "user_id": "U2147483697",
            "user_name": "Steve", "command": "/usersync", "text": text,
            "response_url": "http://127.0.0.1:9/commands/T0001/e2e",
            "trigger_id": f"e2e.{i}.{ts}"})
        sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
        f.write(f"{sig}\t{body}\n")
print(ts, name)
PY
}
run_wrk() { # $1: label; env as set by the caller
  local out; out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --timeout 5s -s "$here/e2e.lua" "$2" | grep '^E2E')
  local ok; ok=$(sed -E 's/.*ok=([0-9]+).*/\1/' <<<"$out")
  local secs; secs=$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$out")
  printf '%-34s %8.0f /s   %s\n' "$1" "$(echo "$ok / $secs" | bc -l)" "$out"
}
for store in $stores; do
  start_bot "$store"
  read -r ts file < <(bodies 0)
  BENCH_TS=$ts BENCH_BODIES=$file run_wrk "bot ($store): status okta" "http://127.0.0.1:$port/slack/commands"
  rm -f "$file"
  read -r ts file < <(bodies 20)
  BENCH_TS=$ts BENCH_BODIES=$file run_wrk "bot ($store): status + 20 % run" "http://127.0.0.1:$port/slack/commands"
  rm -f "$file"
  stop_bot "$store"
done
BENCH_GETS="$prefix/connector/|$prefix/connector/$okta/syncstatus" \
  run_wrk "simulator alone: its two calls" "http://127.0.0.1:$sim_port"
