#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each on its committed seed corpus
# plus what libFuzzer finds meanwhile, in a scratch copy (the committed corpus stays as
# it is). A crash, a hang (-timeout) or a leak stops the run with a non-zero exit; the
# input that did it is kept under fuzz/artifacts/<target>/ to reproduce with
# `cargo fuzz run <target> <file>`.
#
# Usage: fuzz/run.sh [SECONDS] [TARGET…]      (SECONDS default 20)
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); the stable toolchain takes its
# nightly flags with RUSTC_BOOTSTRAP=1.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-20}"; shift || true
[ "$seconds" -le 3600 ] || { echo "keep runs bounded (<= 3600 s a target)" >&2; exit 2; }
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd "$here"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build -O -a
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "artifacts/$t"
  cp -r "corpus/$t/." "$scratch/$t/"
  log="$scratch/$t.log"
  if cargo fuzz run -O -a "$t" "$scratch/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    peak=$(grep -E '^stat::peak_rss_mb' "$log" | awk '{print $2}')
    printf 'fuzz %-20s ok: %s executions in %s s, peak RSS %s MB\n' "$t" "${runs:-?}" "$seconds" "${peak:-?}"
  else
    status=1
    echo "fuzz $t FAILED (input kept in fuzz/artifacts/$t/):"
    grep -E 'ERROR|panicked|SUMMARY|Test unit written' "$log" | head -20
  fi
done
exit $status
