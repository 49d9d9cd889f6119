#!/usr/bin/env bash
# Runs the shared side-by-side benchmark (../shared/bench) with this bot as the `bot`
# target. Usage: [BENCH_TEXT=whoami] bench/run.sh [TARGETS…]   (default: axum bot)
#
# BENCH_TEXT (default `help`) is the command text every request carries: the harness
# sends `help`; this script swaps the text in its private copy of the harness, so that
# other commands (`whoami`) can be measured side by side with the ceiling in one run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
shared="${BENCH_HARNESS:-$root/../shared/bench}"
text="${BENCH_TEXT:-help}"
case "$text" in *[!a-z-]*|"") echo "BENCH_TEXT must be one word of a-z" >&2; exit 2 ;; esac
(cd "$root" && cargo build --release --locked -q)
bin="/tmp/usersync-bot-bench-bin"
cp "$root/target/release/usersync-bot" "$bin"
# How much of the recorded function layout (build.rs) this binary still has: a low share
# means layout/record.sh should be run again (idle and peak memory grow, nothing breaks).
layout="$root/layout/hot-functions.txt"
if [ -f "$layout" ] && command -v nm >/dev/null; then
  recorded=$(grep -vc '^#' "$layout")
  present=$(nm --defined-only "$bin" | awk '{print $3}' | sort -u | grep -Fxc -f <(grep -v '^#' "$layout") || true)
  echo "function layout: $present of $recorded recorded functions are in the binary"
fi
rm -f /tmp/usersync-bot-bench.db*
work="/tmp/usersync-bot-bench-harness"
rm -rf "$work" && cp -r "$shared" "$work" && chmod -R u+w "$work"
sed -i "s/&text=help\"/\&text=$text\"/" "$work/lib/bench.py"
grep -q "&text=$text\"" "$work/lib/bench.py" || { echo "cannot set the command text in the harness" >&2; exit 2; }
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(axum bot)
BOT_CMD="exec $bin serve --config $here/bot.toml" \
  BENCH_OUT="$work/results/latest.md" "$work/run.sh" "${targets[@]}"
keep="/tmp/usersync-bot-bench-$text.md"
cp "$work/results/latest.md" "$keep"
echo "results ($text): $keep"
