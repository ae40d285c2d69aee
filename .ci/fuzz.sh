#!/usr/bin/env bash
# Runs every cargo-fuzz target for a short fixed time on stable Rust; fails on any crash.
#
#   bash .ci/fuzz.sh                 # every target, FUZZ_SECS (default 30) seconds each
#   FUZZ_SECS=300 bash .ci/fuzz.sh stripe_wire
#
# The checked-in seeds in fuzz/corpus/<target>/ are read but never written: new inputs go to
# a scratch corpus, and crashes to fuzz/artifacts/<target>/ (see docs/fuzzing.md).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
secs=${FUZZ_SECS:-30}
# libFuzzer's seed: a fixed one (CI) replays the same inputs in the same order each run, so
# a red CI is a change in the code, not luck; 0 lets libFuzzer pick one (longer local runs).
seed=${FUZZ_SEED:-0}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(scenario_file stripe_wire webhook_signature db_model reference_schedule)
fi

start=$(date +%s)
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# `-s none` (no sanitizer) builds on stable Rust: cargo-fuzz 0.13 passes no -Z flag then.
cd "$root/fuzz"
cargo fuzz build -s none
built=$(date +%s)
echo "fuzz.sh: built in $((built - start)) s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target"
  log="$scratch/$target.log"
  echo "fuzz.sh: $target for ${secs} s"
  if ! cargo fuzz run "$target" -s none "$scratch/$target" "corpus/$target" -- \
      -max_total_time="$secs" -max_len=4096 -print_final_stats=1 -seed="$seed" >"$log" 2>&1; then
    status=1
    echo "fuzz.sh: $target FAILED; the crash input is in fuzz/artifacts/$target/:" >&2
    grep -E -A8 "panicked|ERROR: libFuzzer|SUMMARY" "$log" >&2 || tail -40 "$log" >&2
  fi
  grep -m1 -o "INFO: Seed: [0-9]*" "$log" | sed "s/^INFO: /fuzz.sh: $target: libFuzzer /" || true
  grep -E "stat::(number_of_executed_units|average_exec_per_sec)" "$log" | sed "s/^/fuzz.sh: $target: /" || true
done
echo "fuzz.sh: total $(( $(date +%s) - start )) s"
exit "$status"
