#!/usr/bin/env bash
# The loom models (tests/loom.rs): every interleaving, up to a preemption bound, of the same
# app logic the turmoil world runs, judged by the same oracle. Own target dir and cfg so the
# normal build is untouched. Prints one LOOM-MODEL line per model and the build + run times.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
export RUSTFLAGS="--cfg racehound_loom"
export CARGO_TARGET_DIR=target/loom
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}"

started=$SECONDS
cargo test --test loom --release --no-run
built=$SECONDS
# One model at a time: each prints its own iteration count and time.
cargo test --test loom --release -- --nocapture --test-threads=1
finished=$SECONDS
echo "loom.sh: build $((built - started)) s, models $((finished - built)) s, total $((finished - started)) s (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
