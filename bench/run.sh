#!/usr/bin/env bash
# Runs the shared side-by-side benchmark (../shared/bench) with this bot as the `bot`
# target. Usage: bench/run.sh [TARGETS…]   (default: axum bot)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
shared="${BENCH_HARNESS:-$root/../shared/bench}"
(cd "$root" && cargo build --release --locked -q)
bin="/tmp/usersync-bot-bench-bin"
cp "$root/target/release/usersync-bot" "$bin"
rm -f /tmp/usersync-bot-bench.db*
work="/tmp/usersync-bot-bench-harness"
rm -rf "$work" && cp -r "$shared" "$work" && chmod -R u+w "$work"
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(axum bot)
BOT_CMD="exec $bin serve --config $here/bot.toml" \
  BENCH_OUT="$work/results/latest.md" "$work/run.sh" "${targets[@]}"
echo "results: $work/results/latest.md"
